//! L-BFGS with a strong-Wolfe line search, on the host or on a device (crate-internal: the
//! solver loop of [`crate::solver`] drives it; [`Criterion`] is public, in
//! [`crate::EndReason::Converged`]).
//!
//! A port of PyTorch's `torch.optim.LBFGS` (itself after Mark Schmidt's minFunc). Burn's own
//! `burn::optim::LBFGS` (0.22) is not used because:
//! - its `step` returns only the module and the loss, not whether or why it stopped; here
//!   each iteration reports the accepted line-search point's loss ([`LbfgsStep::loss`]) and
//!   the stopping rule that fired ([`LbfgsStep::converged`]);
//! - it computes its inner products and the two-loop recursion in the tensors' float32;
//!   here the recursion runs on the host in f64, from inner products kept as small matrices;
//! - like PyTorch's, its line search brackets on a first step too small to change a float32
//!   loss (at 2048 px that ended runs after one iteration); this one keeps extrapolating;
//! - it optimizes a `Module`'s parameters from `GradientsParams`; here the point is a host
//!   vector or a flat tensor, projected into pixel range by the caller before each
//!   evaluation.
//!
//! The algorithm is written once over [`Space`]: the point, gradient and the stored correction
//! pairs live wherever the space keeps them — host memory ([`HostSpace`], `Vec<f32>`, used
//! with the Winograd CPU path) or a device ([`DeviceSpace`], tensors, used on GPUs) — and
//! only scalars come back to the host. The two-loop recursion runs on the host in the
//! coefficients of the search direction over the gradient and the stored pairs, from the
//! pairs' inner products (kept as small matrices, updated once per iteration); the direction
//! itself is then one linear combination computed where the vectors live. On a device that
//! is a handful of matrix-vector products per iteration instead of hundreds of small kernels
//! and synchronizations. Inner products on the host accumulate in f64: on the 0-255 pixel
//! scale, losses reach 1e11-1e13 and float32 sums lose the curvature information.

use std::collections::VecDeque;

use burn::tensor::{Device, Tensor};
use rayon::prelude::*;

/// The function L-BFGS minimizes: the loss and its gradient at a point, or an error that ends
/// the iteration.
pub(crate) type Objective<'a, V, E> = dyn FnMut(&V) -> Result<(f64, V), E> + 'a;

/// Where L-BFGS's vectors live and the operations it needs on them.
pub(crate) trait Space {
    /// A point or a direction (the image's pixels, flattened).
    type Vector: Clone;
    /// `a . b`.
    fn dot(&self, a: &Self::Vector, b: &Self::Vector) -> f64;
    /// `max |a_i|` and `sum |a_i|`.
    fn norms(&self, a: &Self::Vector) -> (f64, f64);
    /// `a + t b`.
    fn axpy(&self, a: &Self::Vector, t: f64, b: &Self::Vector) -> Self::Vector;
    /// `t a`.
    fn scale(&self, a: &Self::Vector, t: f64) -> Self::Vector {
        self.combine(t, a, &[], &[])
    }
    /// Stores the correction pair `(s, y)` in `slot`: an existing slot is overwritten, a new
    /// one (equal to the number of slots) is appended.
    fn store(&mut self, slot: usize, s: Self::Vector, y: Self::Vector);
    /// For each vector `v`: `(s_i . v, y_i . v)` for every stored slot `i`.
    fn history_dots(&self, vs: &[&Self::Vector]) -> Vec<(Vec<f64>, Vec<f64>)>;
    /// `c v + sum_i a_i s_i + sum_i b_i y_i` over the stored slots.
    fn combine(&self, c: f64, v: &Self::Vector, a: &[f64], b: &[f64]) -> Self::Vector;
    /// Drops every stored pair.
    fn clear(&mut self);
}

/// Settings of [`Lbfgs`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub(crate) struct LbfgsConfig {
    /// Learning rate (scales the first trial step of each line search). Default 1.
    pub(crate) lr: f64,
    /// Number of (s, y) correction pairs kept. Default 100.
    pub(crate) history: usize,
    /// Stop when the largest gradient component is at most this (absolute, as PyTorch's).
    /// Default 1e-7.
    pub(crate) tolerance_grad: f64,
    /// Stop when an iteration changes the loss by at most this fraction of the loss, or moves
    /// no pixel by more than this. Relative to the loss's scale, unlike PyTorch's absolute
    /// 1e-9: float32 losses of 1e11-1e13 cannot resolve absolute changes that small. Default
    /// 1e-9.
    pub(crate) tolerance_change: f64,
    /// Most function evaluations of one line search. Default 25.
    pub(crate) max_line_search: usize,
}

impl Default for LbfgsConfig {
    fn default() -> Self {
        LbfgsConfig {
            lr: 1.0,
            history: 100,
            tolerance_grad: 1e-7,
            tolerance_change: 1e-9,
            max_line_search: 25,
        }
    }
}

impl LbfgsConfig {
    /// The defaults with `history` correction pairs.
    pub(crate) fn with_history(history: usize) -> Self {
        LbfgsConfig {
            history,
            ..LbfgsConfig::default()
        }
    }
}

/// Which stopping rule ended an L-BFGS run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Criterion {
    /// The largest gradient component fell to the gradient tolerance.
    Gradient,
    /// An iteration changed the loss by no more than the change tolerance (relative).
    LossChange,
    /// An iteration moved no pixel by more than the change tolerance.
    Step,
    /// Even the steepest-descent direction (history dropped) found no lower loss: no
    /// further progress is possible at this precision.
    NoDescent,
}

impl std::fmt::Display for Criterion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Criterion::Gradient => "gradient below tolerance",
            Criterion::LossChange => "loss change below tolerance",
            Criterion::Step => "step below tolerance",
            Criterion::NoDescent => "no descent direction left",
        })
    }
}

/// What one L-BFGS iteration did.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub(crate) struct LbfgsStep {
    /// The loss at the new point.
    pub(crate) loss: f64,
    /// Function evaluations used (line search included).
    pub(crate) evaluations: usize,
    /// The stopping rule that fired, if one did (no further progress is possible).
    pub(crate) converged: Option<Criterion>,
}

/// L-BFGS state across iterations.
#[derive(Debug)]
pub(crate) struct Lbfgs<S: Space> {
    config: LbfgsConfig,
    space: S,
    /// Slots of the stored pairs, oldest first.
    order: VecDeque<usize>,
    /// `sy[i][j] = s_i . y_j` and `yy[i][j] = y_i . y_j`, by slot.
    sy: Vec<Vec<f64>>,
    yy: Vec<Vec<f64>>,
    h_diag: f64,
    /// Loss and gradient at the current point, once evaluated.
    current: Option<(f64, S::Vector)>,
    /// Last direction and step length, and the gradient where that step started.
    last_step: Option<(S::Vector, f64, S::Vector)>,
    iterations: usize,
}

/// Minimum of the cubic interpolating (x1, f1, g1) and (x2, f2, g2), clamped to `bounds`.
fn cubic_interpolate(p1: (f64, f64, f64), p2: (f64, f64, f64), bounds: Option<(f64, f64)>) -> f64 {
    let ((x1, f1, g1), (x2, f2, g2)) = (p1, p2);
    let (lo, hi) = bounds.unwrap_or((x1.min(x2), x1.max(x2)));
    let d1 = g1 + g2 - 3.0 * (f1 - f2) / (x1 - x2);
    let d2_square = d1 * d1 - g1 * g2;
    if d2_square >= 0.0 {
        let d2 = d2_square.sqrt();
        let min_pos = if x1 <= x2 {
            x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2.0 * d2))
        } else {
            x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2.0 * d2))
        };
        if min_pos.is_nan() {
            (lo + hi) / 2.0
        } else {
            min_pos.max(lo).min(hi)
        }
    } else {
        (lo + hi) / 2.0
    }
}

/// A point of the line search: step length, loss, gradient, directional derivative.
#[derive(Clone)]
struct Probe<V> {
    t: f64,
    f: f64,
    g: V,
    gtd: f64,
}

impl<S: Space> Lbfgs<S> {
    /// A fresh optimizer whose vectors live in `space`.
    pub(crate) fn new(config: LbfgsConfig, space: S) -> Self {
        Lbfgs {
            config,
            space,
            order: VecDeque::new(),
            sy: Vec::new(),
            yy: Vec::new(),
            h_diag: 1.0,
            current: None,
            last_step: None,
            iterations: 0,
        }
    }

    /// One L-BFGS iteration from `x` (updated in place): a quasi-Newton direction, then a
    /// strong-Wolfe line search along it. `eval` returns the loss and gradient at a point; an
    /// error from it ends the iteration and is returned as is.
    ///
    /// A line search that finds no lower loss drops the stored pairs and tries once more along
    /// the steepest descent; only when that fails too does the run end
    /// ([`Criterion::NoDescent`]).
    pub(crate) fn step<E>(
        &mut self,
        x: &mut S::Vector,
        eval: &mut Objective<'_, S::Vector, E>,
    ) -> Result<LbfgsStep, E> {
        let mut evaluations = 0;
        let (loss, grad) = match self.current.take() {
            Some(c) => c,
            None => {
                evaluations += 1;
                eval(x)?
            }
        };
        let (grad_max, grad_sum) = self.space.norms(&grad);
        if grad_max <= self.config.tolerance_grad {
            self.current = Some((loss, grad));
            return Ok(LbfgsStep {
                loss,
                evaluations,
                converged: Some(Criterion::Gradient),
            });
        }
        self.iterations += 1;
        self.update_history(&grad);
        let mut restarted = false;
        loop {
            let d = self.direction(&grad);
            let t0 = if self.order.is_empty() {
                // Steepest descent: a first step of at most one unit of |g|_1.
                (1.0f64).min(1.0 / grad_sum) * self.config.lr
            } else {
                self.config.lr
            };
            let gtd = self.space.dot(&grad, &d);
            let start = Probe {
                t: 0.0,
                f: loss,
                g: grad.clone(),
                gtd,
            };
            let descent = gtd < 0.0 && gtd.is_finite();
            let end = if descent {
                let (end, n) = self.strong_wolfe(x, &d, t0, &start, eval)?;
                evaluations += n;
                end
            } else {
                start
            };
            if end.f >= loss || end.t == 0.0 {
                // No lower loss along this direction: the curvature pairs may be stale (the
                // loss is float32, and on a GPU its reductions round differently per call).
                if !restarted && !self.order.is_empty() {
                    restarted = true;
                    self.clear_history();
                    continue;
                }
                self.current = Some((loss, grad));
                return Ok(LbfgsStep {
                    loss,
                    evaluations,
                    converged: Some(Criterion::NoDescent),
                });
            }
            *x = self.space.axpy(x, end.t, &d);
            let (d_max, _) = self.space.norms(&d);
            let (g_max, _) = self.space.norms(&end.g);
            let converged = if g_max <= self.config.tolerance_grad {
                Some(Criterion::Gradient)
            } else if d_max * end.t.abs() <= self.config.tolerance_change {
                Some(Criterion::Step)
            } else if (end.f - loss).abs() <= self.config.tolerance_change * loss.abs() {
                Some(Criterion::LossChange)
            } else {
                None
            };
            self.last_step = Some((d, end.t, grad));
            self.current = Some((end.f, end.g));
            return Ok(LbfgsStep {
                loss: end.f,
                evaluations,
                converged,
            });
        }
    }

    fn clear_history(&mut self) {
        self.order.clear();
        self.sy.clear();
        self.yy.clear();
        self.h_diag = 1.0;
        self.last_step = None;
        self.space.clear();
    }

    /// Adds the pair of the last step (`s = t d`, `y = g - g_prev`) when its curvature is
    /// positive, with its inner products against the pairs kept.
    fn update_history(&mut self, grad: &S::Vector) {
        let Some((d, t, prev)) = self.last_step.take() else {
            return;
        };
        let y = self.space.axpy(grad, -1.0, &prev);
        let s = self.space.scale(&d, t);
        let ys = self.space.dot(&y, &s);
        if ys <= 1e-10 || !ys.is_finite() {
            return;
        }
        let slot = if self.order.len() == self.config.history {
            self.order.pop_front().expect("a full history")
        } else {
            self.sy.len()
        };
        if slot == self.sy.len() {
            self.sy.iter_mut().for_each(|row| row.push(0.0));
            self.yy.iter_mut().for_each(|row| row.push(0.0));
            self.sy.push(vec![0.0; slot + 1]);
            self.yy.push(vec![0.0; slot + 1]);
        }
        self.space.store(slot, s.clone(), y.clone());
        let dots = self.space.history_dots(&[&s, &y]);
        let (s_dots, y_dots) = (&dots[0], &dots[1]);
        for j in 0..self.sy.len() {
            // s_dots = (s_j . s_new, y_j . s_new); y_dots = (s_j . y_new, y_j . y_new).
            self.sy[slot][j] = s_dots.1[j];
            self.sy[j][slot] = y_dots.0[j];
            self.yy[slot][j] = y_dots.1[j];
            self.yy[j][slot] = y_dots.1[j];
        }
        self.h_diag = ys / self.yy[slot][slot];
        self.order.push_back(slot);
    }

    /// The two-loop recursion, `-H g`, in coefficients over `g` and the stored pairs.
    fn direction(&self, grad: &S::Vector) -> S::Vector {
        let slots = self.sy.len();
        if self.order.is_empty() {
            return self.space.combine(-1.0, grad, &[], &[]);
        }
        let dots = self.space.history_dots(&[grad]);
        let (sg, yg) = (&dots[0].0, &dots[0].1);
        let rho = |i: usize| 1.0 / self.sy[i][i];
        // q = -g + sum_j qy_j y_j.
        let mut qy = vec![0.0f64; slots];
        let mut alpha = vec![0.0f64; slots];
        for &i in self.order.iter().rev() {
            let sq = -sg[i]
                + self
                    .order
                    .iter()
                    .map(|&j| qy[j] * self.sy[i][j])
                    .sum::<f64>();
            alpha[i] = rho(i) * sq;
            qy[i] -= alpha[i];
        }
        // r = h q + sum_j rs_j s_j.
        let rg = -self.h_diag;
        let ry: Vec<f64> = qy.iter().map(|v| v * self.h_diag).collect();
        let mut rs = vec![0.0f64; slots];
        for &i in &self.order {
            let yr = rg * yg[i]
                + self
                    .order
                    .iter()
                    .map(|&j| ry[j] * self.yy[i][j] + rs[j] * self.sy[j][i])
                    .sum::<f64>();
            rs[i] += alpha[i] - rho(i) * yr;
        }
        self.space.combine(rg, grad, &rs, &ry)
    }

    /// Strong-Wolfe line search (c1 = 1e-4, c2 = 0.9) from `x` along `d`, first trying `t`.
    fn strong_wolfe<E>(
        &self,
        x: &S::Vector,
        d: &S::Vector,
        mut t: f64,
        start: &Probe<S::Vector>,
        eval: &mut Objective<'_, S::Vector, E>,
    ) -> Result<(Probe<S::Vector>, usize), E> {
        const C1: f64 = 1e-4;
        const C2: f64 = 0.9;
        let max_ls = self.config.max_line_search;
        let d_norm = self.space.norms(d).0;
        let mut evals = 0;
        let space = &self.space;
        let mut probe = |t: f64, evals: &mut usize| -> Result<Probe<S::Vector>, E> {
            *evals += 1;
            let (f, g) = eval(&space.axpy(x, t, d))?;
            let gtd = space.dot(&g, d);
            Ok(Probe { t, f, g, gtd })
        };
        let armijo_fails = |p: &Probe<S::Vector>| p.f > start.f + C1 * p.t * start.gtd;
        let curvature_ok = |p: &Probe<S::Vector>| p.gtd.abs() <= -C2 * start.gtd;

        let mut new = probe(t, &mut evals)?;
        let mut prev = Probe {
            t: 0.0,
            ..start.clone()
        };
        let mut ls_iter = 0;
        // Bracketing phase.
        let mut bracket: Vec<Probe<S::Vector>> = loop {
            if ls_iter >= max_ls {
                break vec![start.clone(), new];
            }
            // A step too small to change the loss at all, while the slope is still downhill,
            // keeps extrapolating (PyTorch brackets there): with float32 losses in the 1e12s
            // (a 2048 px image) L-BFGS's first step of 1/|g|_1 changes the loss by less than
            // its rounding, and bracketing on that tie ended the run after one iteration.
            let unresolved = new.f == prev.f && new.gtd < 0.0;
            if !new.f.is_finite()
                || (armijo_fails(&new) && !unresolved)
                || (ls_iter > 1 && new.f > prev.f)
            {
                break vec![prev, new];
            }
            if curvature_ok(&new) && !unresolved {
                return Ok((new, evals));
            }
            if new.gtd >= 0.0 {
                break vec![prev, new];
            }
            let (min_step, max_step) = (new.t + 0.01 * (new.t - prev.t), new.t * 10.0);
            t = cubic_interpolate(
                (prev.t, prev.f, prev.gtd),
                (new.t, new.f, new.gtd),
                Some((min_step, max_step)),
            );
            prev = new;
            new = probe(t, &mut evals)?;
            ls_iter += 1;
        };
        // Zoom phase.
        let order = |b: &[Probe<S::Vector>]| if b[0].f <= b[1].f { (0, 1) } else { (1, 0) };
        let (mut low, mut high) = order(&bracket);
        let mut insufficient_progress = false;
        while ls_iter < max_ls {
            let (lo_t, hi_t) = (
                bracket[0].t.min(bracket[1].t),
                bracket[0].t.max(bracket[1].t),
            );
            if (hi_t - lo_t) * d_norm < self.config.tolerance_change {
                break;
            }
            let (b0, b1) = (&bracket[0], &bracket[1]);
            t = if b0.f.is_finite() && b1.f.is_finite() {
                cubic_interpolate((b0.t, b0.f, b0.gtd), (b1.t, b1.f, b1.gtd), None)
            } else {
                (lo_t + hi_t) / 2.0
            };
            let eps = 0.1 * (hi_t - lo_t);
            if (hi_t - t).min(t - lo_t) < eps {
                if insufficient_progress || t >= hi_t || t <= lo_t {
                    t = if (t - hi_t).abs() < (t - lo_t).abs() {
                        hi_t - eps
                    } else {
                        lo_t + eps
                    };
                    insufficient_progress = false;
                } else {
                    insufficient_progress = true;
                }
            } else {
                insufficient_progress = false;
            }
            let new = probe(t, &mut evals)?;
            ls_iter += 1;
            if !new.f.is_finite() || armijo_fails(&new) || new.f >= bracket[low].f {
                bracket[high] = new;
                (low, high) = order(&bracket);
            } else {
                let stop = curvature_ok(&new);
                if !stop && new.gtd * (bracket[high].t - bracket[low].t) >= 0.0 {
                    bracket[high] = bracket[low].clone();
                }
                bracket[low] = new;
                if stop {
                    break;
                }
            }
        }
        Ok((bracket.swap_remove(low), evals))
    }
}

/// Chunk of the host's parallel loops: fixed, so that sums come out the same on every run
/// however rayon splits the work.
const CHUNK: usize = 1 << 14;

/// L-BFGS's vectors in host memory (`Vec<f32>`), inner products accumulated in f64 over fixed
/// chunks (the same result on every run).
#[derive(Debug, Default)]
pub(crate) struct HostSpace {
    s: Vec<Vec<f32>>,
    y: Vec<Vec<f32>>,
}

fn host_dot(a: &[f32], b: &[f32]) -> f64 {
    let parts: Vec<f64> = a
        .par_chunks(CHUNK)
        .zip(b.par_chunks(CHUNK))
        .map(|(a, b)| a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum())
        .collect();
    parts.iter().sum()
}

impl Space for HostSpace {
    type Vector = Vec<f32>;

    fn dot(&self, a: &Vec<f32>, b: &Vec<f32>) -> f64 {
        host_dot(a, b)
    }

    fn norms(&self, a: &Vec<f32>) -> (f64, f64) {
        let parts: Vec<(f64, f64)> = a
            .par_chunks(CHUNK)
            .map(|c| {
                c.iter().fold((0.0f64, 0.0f64), |(m, s), v| {
                    let v = v.abs() as f64;
                    (m.max(v), s + v)
                })
            })
            .collect();
        parts
            .iter()
            .fold((0.0, 0.0), |(m, s), (pm, ps)| (m.max(*pm), s + ps))
    }

    fn axpy(&self, a: &Vec<f32>, t: f64, b: &Vec<f32>) -> Vec<f32> {
        a.par_iter()
            .zip(b)
            .map(|(a, b)| (*a as f64 + t * *b as f64) as f32)
            .collect()
    }

    fn store(&mut self, slot: usize, s: Vec<f32>, y: Vec<f32>) {
        if slot == self.s.len() {
            self.s.push(s);
            self.y.push(y);
        } else {
            self.s[slot] = s;
            self.y[slot] = y;
        }
    }

    fn history_dots(&self, vs: &[&Vec<f32>]) -> Vec<(Vec<f64>, Vec<f64>)> {
        vs.iter()
            .map(|v| {
                (
                    self.s.iter().map(|s| host_dot(s, v)).collect(),
                    self.y.iter().map(|y| host_dot(y, v)).collect(),
                )
            })
            .collect()
    }

    fn combine(&self, c: f64, v: &Vec<f32>, a: &[f64], b: &[f64]) -> Vec<f32> {
        let mut out = vec![0.0f32; v.len()];
        out.par_chunks_mut(CHUNK).enumerate().for_each(|(k, out)| {
            let range = k * CHUNK..k * CHUNK + out.len();
            let mut acc: Vec<f64> = v[range.clone()].iter().map(|x| c * *x as f64).collect();
            let rows = self.s.iter().zip(a).chain(self.y.iter().zip(b));
            for (row, coef) in rows {
                for (acc, x) in acc.iter_mut().zip(&row[range.clone()]) {
                    *acc += coef * *x as f64;
                }
            }
            out.iter_mut().zip(acc).for_each(|(o, v)| *o = v as f32);
        });
        out
    }

    fn clear(&mut self) {
        self.s.clear();
        self.y.clear();
    }
}

/// L-BFGS's vectors as tensors on a device (`Tensor<1>`, the flattened image): the stored pairs
/// are two `[pairs, n]` matrices, so the inner products with them and the direction are
/// matrix products; only scalars are read back.
#[derive(Debug)]
pub(crate) struct DeviceSpace {
    device: Device,
    s: Option<Tensor<2>>,
    y: Option<Tensor<2>>,
}

impl DeviceSpace {
    /// An empty history on `device`.
    pub(crate) fn new(device: &Device) -> Self {
        DeviceSpace {
            device: device.clone(),
            s: None,
            y: None,
        }
    }
}

/// The values of a small tensor, read back to the host.
fn read(t: Tensor<1>) -> Vec<f64> {
    crate::image_io::tensor_values(&t)
        .into_iter()
        .map(f64::from)
        .collect()
}

/// Writes `row` into row `slot` of `matrix` (appending when `slot` is one past the end).
fn put_row(matrix: &mut Option<Tensor<2>>, slot: usize, row: Tensor<1>) {
    let row = row.unsqueeze::<2>();
    *matrix = Some(match matrix.take() {
        None => row,
        Some(m) if m.dims()[0] == slot => Tensor::cat(vec![m, row], 0),
        Some(m) => {
            let n = m.dims()[1];
            m.slice_assign([slot..slot + 1, 0..n], row)
        }
    });
}

impl Space for DeviceSpace {
    type Vector = Tensor<1>;

    fn dot(&self, a: &Tensor<1>, b: &Tensor<1>) -> f64 {
        read((a.clone() * b.clone()).sum())[0]
    }

    fn norms(&self, a: &Tensor<1>) -> (f64, f64) {
        let abs = a.clone().abs();
        let v = read(Tensor::cat(vec![abs.clone().max(), abs.sum()], 0));
        (v[0], v[1])
    }

    fn axpy(&self, a: &Tensor<1>, t: f64, b: &Tensor<1>) -> Tensor<1> {
        a.clone() + b.clone().mul_scalar(t)
    }

    fn scale(&self, a: &Tensor<1>, t: f64) -> Tensor<1> {
        a.clone().mul_scalar(t)
    }

    fn store(&mut self, slot: usize, s: Tensor<1>, y: Tensor<1>) {
        put_row(&mut self.s, slot, s);
        put_row(&mut self.y, slot, y);
    }

    fn history_dots(&self, vs: &[&Tensor<1>]) -> Vec<(Vec<f64>, Vec<f64>)> {
        let (Some(s), Some(y)) = (&self.s, &self.y) else {
            return vs.iter().map(|_| (Vec::new(), Vec::new())).collect();
        };
        let m = s.dims()[0];
        let columns = Tensor::stack::<2>(vs.iter().map(|v| (*v).clone()).collect(), 1); // [n, k]
        let both = Tensor::cat(
            vec![s.clone().matmul(columns.clone()), y.clone().matmul(columns)],
            0,
        );
        let k = vs.len();
        let values = read(both.reshape([2 * m * k]));
        (0..k)
            .map(|c| {
                let column = |r0: usize| (r0..r0 + m).map(|r| values[r * k + c]).collect();
                (column(0), column(m))
            })
            .collect()
    }

    fn combine(&self, c: f64, v: &Tensor<1>, a: &[f64], b: &[f64]) -> Tensor<1> {
        let mut out = v.clone().mul_scalar(c);
        let n = v.dims()[0];
        for (matrix, coef) in [(&self.s, a), (&self.y, b)] {
            if let (Some(matrix), false) = (matrix, coef.is_empty()) {
                let coef: Vec<f32> = coef.iter().map(|v| *v as f32).collect();
                let row = Tensor::<2>::from_data(
                    burn::tensor::TensorData::new(coef, [1, a.len()]),
                    &self.device,
                );
                out = out + row.matmul(matrix.clone()).reshape([n]);
            }
        }
        out
    }

    fn clear(&mut self) {
        self.s = None;
        self.y = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rosenbrock's function in `n` dimensions and its gradient.
    fn rosenbrock(x: &[f32]) -> (f64, Vec<f32>) {
        let x: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let mut f = 0.0;
        let mut g = vec![0.0f64; x.len()];
        for i in 0..x.len() - 1 {
            let (a, b) = (1.0 - x[i], x[i + 1] - x[i] * x[i]);
            f += a * a + 100.0 * b * b;
            g[i] += -2.0 * a - 400.0 * x[i] * b;
            g[i + 1] += 200.0 * b;
        }
        (f, g.into_iter().map(|v| v as f32).collect())
    }

    #[test]
    fn minimizes_rosenbrock() {
        let mut opt = Lbfgs::new(LbfgsConfig::default(), HostSpace::default());
        let mut x = vec![-1.2f32, 1.0, -1.2, 1.0, 0.5, -0.3];
        let mut eval = |x: &Vec<f32>| Ok::<_, ()>(rosenbrock(x));
        let start = rosenbrock(&x).0;
        let mut last = start;
        for _ in 0..200 {
            let step = opt.step(&mut x, &mut eval).unwrap();
            assert!(
                step.loss <= last + 1e-9,
                "the line search never accepts an increase: {} > {last}",
                step.loss
            );
            last = step.loss;
            if step.converged.is_some() {
                break;
            }
        }
        assert!(
            last < 1e-8,
            "Rosenbrock minimum is 0, got {last} from {start}"
        );
        for v in &x {
            assert!((v - 1.0).abs() < 1e-3, "minimum at all ones, got {x:?}");
        }
    }

    #[test]
    fn first_step_on_a_steep_quadratic_stays_finite() {
        // f = 1e10 * |x|^2 / 2 from x = 255: the scale of style transfer on 0-255 pixels.
        let mut opt = Lbfgs::new(LbfgsConfig::default(), HostSpace::default());
        let mut x = vec![255.0f32; 1000];
        let mut eval = |x: &Vec<f32>| {
            let f = x
                .iter()
                .map(|&v| 0.5e10 * (v as f64) * (v as f64))
                .sum::<f64>();
            Ok::<_, ()>((f, x.iter().map(|&v| v * 1e10).collect()))
        };
        for _ in 0..5 {
            let step = opt.step(&mut x, &mut eval).unwrap();
            assert!(step.loss.is_finite());
            if step.converged.is_some() {
                break;
            }
        }
        let worst = HostSpace::default().norms(&x).0;
        assert!(worst < 1e-3, "converges to 0, got {worst}");
    }

    #[test]
    fn a_first_step_below_float32_resolution_does_not_stop_the_run() {
        // Loss 1e15 + sum(1e6 (x - 1)^2), rounded to float32 as the engine's losses are: the
        // first step (1 / |g|_1) changes it by less than one float32 unit at 1e15.
        let n = 1000;
        let f = |x: &[f32]| {
            let sum: f64 = x.iter().map(|v| 1e6 * (*v as f64 - 1.0).powi(2)).sum();
            let g = x.iter().map(|v| (2e6 * (*v as f64 - 1.0)) as f32).collect();
            (((1e15 + sum) as f32) as f64, g)
        };
        let mut opt = Lbfgs::new(LbfgsConfig::default(), HostSpace::default());
        let mut x = vec![0.0f32; n];
        let mut eval = |x: &Vec<f32>| Ok::<_, ()>(f(x));
        let first = opt.step(&mut x, &mut eval).unwrap();
        assert!(
            first.converged.is_none(),
            "a step below the loss's resolution is not convergence"
        );
        for _ in 0..20 {
            if opt.step(&mut x, &mut eval).unwrap().converged.is_some() {
                break;
            }
        }
        let worst = x.iter().fold(0.0f32, |m, v| m.max((v - 1.0).abs()));
        assert!(worst < 0.05, "x should approach 1, worst |x - 1| = {worst}");
    }

    #[test]
    fn a_direction_that_finds_no_lower_loss_restarts_once_then_reports_no_descent() {
        // The gradient's sign is wrong: every direction it suggests goes uphill.
        let mut opt = Lbfgs::new(LbfgsConfig::default(), HostSpace::default());
        let mut x = vec![1.0f32, -2.0, 3.0];
        let f = |x: &[f32]| x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>();
        let mut evals = 0;
        let mut eval = |x: &Vec<f32>| {
            evals += 1;
            Ok::<_, ()>((f(x), x.iter().map(|v| -2.0 * v).collect()))
        };
        let step = opt.step(&mut x, &mut eval).unwrap();
        assert_eq!(step.converged, Some(Criterion::NoDescent));
        assert_eq!(x, vec![1.0, -2.0, 3.0], "the point is kept");
        assert_eq!(step.loss, 14.0);
    }

    #[test]
    fn the_loss_change_rule_is_relative_to_the_loss() {
        // f = 1e12 + |x - 1|^2: an absolute tolerance of 1e-9 could never fire on float32
        // losses of this size; the relative one fires once the changes are that small.
        let mut opt = Lbfgs::new(LbfgsConfig::default(), HostSpace::default());
        let mut x = vec![0.0f32; 4];
        let mut eval = |x: &Vec<f32>| {
            let d: Vec<f64> = x.iter().map(|v| *v as f64 - 1.0).collect();
            let f = 1e12 + d.iter().map(|v| v * v).sum::<f64>();
            Ok::<_, ()>((f, d.iter().map(|v| (2.0 * v) as f32).collect()))
        };
        let mut ended = None;
        for _ in 0..50 {
            let step = opt.step(&mut x, &mut eval).unwrap();
            if let Some(c) = step.converged {
                ended = Some(c);
                break;
            }
        }
        assert_eq!(ended, Some(Criterion::LossChange));
    }

    #[cfg(feature = "flex")]
    #[test]
    fn device_and_host_spaces_take_the_same_steps() {
        use burn::tensor::TensorData;
        let device = Device::flex();
        let start = vec![-1.2f32, 1.0, -1.2, 1.0, 0.5, -0.3];
        let mut host = Lbfgs::new(LbfgsConfig::with_history(3), HostSpace::default());
        let mut on_device = Lbfgs::new(LbfgsConfig::with_history(3), DeviceSpace::new(&device));
        let mut x_host = start.clone();
        let mut x_device = Tensor::<1>::from_data(TensorData::new(start.clone(), [6]), &device);
        let mut eval_host = |x: &Vec<f32>| Ok::<_, ()>(rosenbrock(x));
        let mut eval_device = |x: &Tensor<1>| {
            let (f, g) = rosenbrock(&crate::image_io::tensor_values(x));
            Ok::<_, ()>((f, Tensor::from_data(TensorData::new(g, [6]), &device)))
        };
        // More iterations than pairs kept: slots are overwritten in turn.
        for i in 0..12 {
            let a = host.step(&mut x_host, &mut eval_host).unwrap();
            let b = on_device.step(&mut x_device, &mut eval_device).unwrap();
            let xd = crate::image_io::tensor_values(&x_device);
            for (p, q) in x_host.iter().zip(&xd) {
                assert!(
                    (p - q).abs() <= 1e-4 * (1.0 + p.abs()),
                    "iteration {i}: {x_host:?} vs {xd:?}"
                );
            }
            assert!(
                (a.loss - b.loss).abs() <= 1e-4 * (1.0 + a.loss.abs()),
                "iteration {i}"
            );
        }
    }

    #[test]
    fn errors_from_the_objective_propagate() {
        let mut opt = Lbfgs::new(LbfgsConfig::default(), HostSpace::default());
        let mut x = vec![1.0f32; 3];
        let mut eval = |_: &Vec<f32>| Err::<(f64, Vec<f32>), &str>("boom");
        assert_eq!(opt.step(&mut x, &mut eval).unwrap_err(), "boom");
    }
}
