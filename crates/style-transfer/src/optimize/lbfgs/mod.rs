//! L-BFGS with a strong-Wolfe line search, on the host or on a device (crate-internal: the
//! solver loop of [`crate::optimize::solver`] drives it; [`Criterion`] is public, in
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
//! with the host path) or a device ([`DeviceSpace`], tensors, used on GPUs) — and
//! only scalars come back to the host. The two-loop recursion runs on the host in the
//! coefficients of the search direction over the gradient and the stored pairs, from the
//! pairs' inner products (kept as small matrices, updated once per iteration); the direction
//! itself is then one linear combination computed where the vectors live. On a device that
//! is a handful of matrix-vector products per iteration instead of hundreds of small kernels
//! and synchronizations. Inner products on the host accumulate in f64: on the 0-255 pixel
//! scale, losses reach 1e11-1e13 and float32 sums lose the curvature information.

mod device;
mod host;
mod line_search;

use std::collections::VecDeque;

pub(crate) use device::DeviceSpace;
pub(crate) use host::HostSpace;
use line_search::Probe;

/// The function L-BFGS minimizes: the loss and its gradient at a point, or an error that ends
/// the iteration.
pub(crate) type EvalFn<'a, V, E> = dyn FnMut(&V) -> Result<(f64, V), E> + 'a;

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
        eval: &mut EvalFn<'_, S::Vector, E>,
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Tensor};

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
    fn evaluation_noise_at_a_tiny_first_step_does_not_stop_the_run() {
        // Loss 1e15 + sum(1e7 (x - 1)^2) in float32 (its unit in the last place 1.3e8), where
        // the evaluation at the start rounds a unit lower than the later ones (the reductions'
        // order differs per call): the first step (1 / |g|_1) lowers the loss by 2e7, a sixth
        // of a unit, so the first, tiny steps see it rise by a unit; the whole descent is
        // 1e10, about 80 units.
        let n = 1000;
        let mut calls = 0u32;
        let mut eval = |x: &Vec<f32>| {
            calls += 1;
            let sum: f64 = x.iter().map(|v| 1e7 * (*v as f64 - 1.0).powi(2)).sum();
            let g = x.iter().map(|v| (2e7 * (*v as f64 - 1.0)) as f32).collect();
            let loss = (1e15 + sum) as f32;
            // The first evaluation rounds down, every later one a unit up.
            let units = if calls == 1 { 0 } else { 1 };
            let noisy = f32::from_bits((loss.to_bits() as i32 + units) as u32);
            Ok::<_, ()>((noisy as f64, g))
        };
        let mut opt = Lbfgs::new(LbfgsConfig::default(), HostSpace::default());
        let mut x = vec![0.0f32; n];
        let first = opt.step(&mut x, &mut eval).unwrap();
        assert!(
            first.converged.is_none(),
            "noise at a step below the loss's resolution is not convergence: {:?}",
            first.converged
        );
        for _ in 0..20 {
            if opt.step(&mut x, &mut eval).unwrap().converged.is_some() {
                break;
            }
        }
        let worst = x.iter().fold(0.0f32, |m, v| m.max((v - 1.0).abs()));
        assert!(worst < 0.05, "x should approach 1, worst |x - 1| = {worst}");
    }

    /// Settings under which a line search that finds no lower loss uses exactly
    /// `1 + max_line_search` evaluations (a first probe, then the whole zoom budget): with a
    /// change tolerance of 0 the bracket never counts as collapsed.
    fn exhausting(max_line_search: usize) -> LbfgsConfig {
        LbfgsConfig {
            tolerance_change: 0.0,
            max_line_search,
            ..LbfgsConfig::default()
        }
    }

    #[test]
    fn a_direction_that_finds_no_lower_loss_restarts_once_then_reports_no_descent() {
        // f = sum a_i x_i^2 / 2 with an honest gradient, plus an offset that the test raises
        // after the first iteration: from then on every point but the current one costs more
        // than the current loss (as when a float32 loss rounds differently per call), so the
        // quasi-Newton direction of the second iteration finds no lower loss; the stored pair
        // is dropped, the steepest descent is tried once, finds none either, and the run ends.
        const MAX_LS: usize = 4;
        let a = [1.0f64, 3.0, 7.0];
        let offset = std::cell::Cell::new(0.0f64);
        let evals = std::cell::Cell::new(0usize);
        let mut eval = |x: &Vec<f32>| {
            evals.set(evals.get() + 1);
            let f = x
                .iter()
                .zip(a)
                .map(|(v, a)| 0.5 * a * (*v as f64).powi(2))
                .sum::<f64>();
            let g = x
                .iter()
                .zip(a)
                .map(|(v, a)| (a * *v as f64) as f32)
                .collect();
            Ok::<_, ()>((f + offset.get(), g))
        };
        let mut opt = Lbfgs::new(exhausting(MAX_LS), HostSpace::default());
        let mut x = vec![1.0f32, -2.0, 3.0];
        let first = opt.step(&mut x, &mut eval).unwrap();
        assert_eq!(
            first.converged, None,
            "the first iteration descends: {first:?}"
        );
        assert!(first.loss < 0.5 * (1.0 + 3.0 * 4.0 + 7.0 * 9.0));
        assert_eq!(first.evaluations, evals.get());

        offset.set(1e3);
        let x1 = x.clone();
        evals.set(0);
        let second = opt.step(&mut x, &mut eval).unwrap();
        assert_eq!(second.converged, Some(Criterion::NoDescent));
        assert_eq!(
            second.evaluations,
            2 * (1 + MAX_LS),
            "two failed line searches (the stored direction, then the steepest descent after \
             the restart), each with its whole budget"
        );
        assert_eq!(
            second.evaluations,
            evals.get(),
            "every evaluation is counted"
        );
        assert_eq!(x, x1, "the point is kept");
        assert_eq!(
            second.loss, first.loss,
            "the loss reported is the kept point's"
        );
    }

    #[test]
    fn without_stored_pairs_no_lower_loss_reports_no_descent_without_a_restart() {
        // The gradient's sign is wrong: the first direction, the steepest descent already
        // (nothing stored), goes uphill; there is nothing to drop, so no second line search.
        const MAX_LS: usize = 4;
        let mut opt = Lbfgs::new(exhausting(MAX_LS), HostSpace::default());
        let mut x = vec![1.0f32, -2.0, 3.0];
        let f = |x: &[f32]| x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>();
        let mut evals = 0;
        let mut eval = |x: &Vec<f32>| {
            evals += 1;
            Ok::<_, ()>((f(x), x.iter().map(|v| -2.0 * v).collect()))
        };
        let step = opt.step(&mut x, &mut eval).unwrap();
        assert_eq!(step.converged, Some(Criterion::NoDescent));
        assert_eq!(
            step.evaluations,
            1 + (1 + MAX_LS),
            "the starting point, then one line search"
        );
        assert_eq!(x, vec![1.0, -2.0, 3.0], "the point is kept");
        assert_eq!(step.loss, 14.0);
        assert_eq!(evals, step.evaluations);
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
