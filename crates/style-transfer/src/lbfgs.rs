//! L-BFGS with a strong-Wolfe line search, on a flat `f32` parameter vector.
//!
//! A port of PyTorch's `torch.optim.LBFGS` (itself after Mark Schmidt's minFunc), kept on the
//! host so that it works the same on every backend and so that the image can be projected
//! into its pixel range before each evaluation, which Burn's `LBFGS` (operating on a module's
//! parameters inside its own closure protocol) gives no place for. Dot products accumulate in
//! f64: on the 0-255 pixel scale, losses reach 1e11-1e13 and float32 sums lose the curvature
//! information.

use std::collections::VecDeque;

/// The function L-BFGS minimizes: the loss and its gradient at a point, or an error that ends
/// the iteration.
pub type Objective<'a, E> = dyn FnMut(&[f32]) -> Result<(f64, Vec<f32>), E> + 'a;

/// Settings of [`Lbfgs`].
#[derive(Clone, Debug, PartialEq)]
pub struct LbfgsConfig {
    /// Learning rate (scales the first trial step of each line search). Default 1.
    pub lr: f64,
    /// Number of (s, y) correction pairs kept. Default 100.
    pub history: usize,
    /// Stop when the largest gradient component is at most this. Default 1e-7.
    pub tolerance_grad: f64,
    /// Stop when the step or the loss change falls below this. Default 1e-9.
    pub tolerance_change: f64,
    /// Most function evaluations of one line search. Default 25.
    pub max_line_search: usize,
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

/// What one L-BFGS iteration did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LbfgsStep {
    /// The loss at the new point.
    pub loss: f64,
    /// Function evaluations used (line search included).
    pub evaluations: usize,
    /// Whether a stopping tolerance was reached (no further progress is possible).
    pub converged: bool,
}

/// L-BFGS state across iterations.
#[derive(Clone, Debug)]
pub struct Lbfgs {
    config: LbfgsConfig,
    s: VecDeque<Vec<f32>>,
    y: VecDeque<Vec<f32>>,
    rho: VecDeque<f64>,
    h_diag: f64,
    /// Loss and gradient at the current point, once evaluated.
    current: Option<(f64, Vec<f32>)>,
    /// Last direction and step length.
    last_step: Option<(Vec<f32>, f64)>,
    prev_grad: Option<Vec<f32>>,
    iterations: usize,
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
}

fn max_abs(a: &[f32]) -> f64 {
    a.iter().fold(0.0f64, |m, v| m.max(v.abs() as f64))
}

/// `x + t d`.
fn offset(x: &[f32], t: f64, d: &[f32]) -> Vec<f32> {
    x.iter()
        .zip(d)
        .map(|(x, d)| (*x as f64 + t * *d as f64) as f32)
        .collect()
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
struct Probe {
    t: f64,
    f: f64,
    g: Vec<f32>,
    gtd: f64,
}

impl Lbfgs {
    /// A fresh optimizer.
    pub fn new(config: LbfgsConfig) -> Self {
        Lbfgs {
            config,
            s: VecDeque::new(),
            y: VecDeque::new(),
            rho: VecDeque::new(),
            h_diag: 1.0,
            current: None,
            last_step: None,
            prev_grad: None,
            iterations: 0,
        }
    }

    /// Iterations done so far.
    pub fn iterations(&self) -> usize {
        self.iterations
    }

    /// One L-BFGS iteration from `x` (updated in place): a quasi-Newton direction, then a
    /// strong-Wolfe line search along it. `eval` returns the loss and gradient at a point; an
    /// error from it ends the iteration and is returned as is.
    pub fn step<E>(
        &mut self,
        x: &mut Vec<f32>,
        eval: &mut Objective<'_, E>,
    ) -> Result<LbfgsStep, E> {
        let mut evaluations = 0;
        let (loss, grad) = match self.current.take() {
            Some(c) => c,
            None => {
                evaluations += 1;
                eval(x)?
            }
        };
        let done = |loss, evaluations| {
            Ok(LbfgsStep {
                loss,
                evaluations,
                converged: true,
            })
        };
        if max_abs(&grad) <= self.config.tolerance_grad {
            self.current = Some((loss, grad));
            return done(loss, evaluations);
        }
        self.iterations += 1;
        let d = self.direction(&grad);
        let t0 = if self.iterations == 1 {
            let l1: f64 = grad.iter().map(|v| v.abs() as f64).sum();
            (1.0f64).min(1.0 / l1) * self.config.lr
        } else {
            self.config.lr
        };
        let gtd = dot(&grad, &d);
        if gtd > -self.config.tolerance_change {
            self.current = Some((loss, grad));
            return done(loss, evaluations);
        }
        let start = Probe {
            t: 0.0,
            f: loss,
            g: grad.clone(),
            gtd,
        };
        let (end, ls_evals) = self.strong_wolfe(x, &d, t0, &start, eval)?;
        evaluations += ls_evals;
        *x = offset(x, end.t, &d);
        self.prev_grad = Some(grad);
        let step_small = max_abs(&d) * end.t.abs() <= self.config.tolerance_change;
        let loss_flat = (end.f - loss).abs() < self.config.tolerance_change;
        let grad_small = max_abs(&end.g) <= self.config.tolerance_grad;
        self.last_step = Some((d, end.t));
        self.current = Some((end.f, end.g));
        Ok(LbfgsStep {
            loss: end.f,
            evaluations,
            converged: step_small || loss_flat || grad_small,
        })
    }

    /// The two-loop recursion: `-H g` with the stored correction pairs.
    fn direction(&mut self, grad: &[f32]) -> Vec<f32> {
        if let (Some((d, t)), Some(prev)) = (self.last_step.take(), self.prev_grad.take()) {
            let y: Vec<f32> = grad.iter().zip(&prev).map(|(a, b)| a - b).collect();
            let s: Vec<f32> = d.iter().map(|v| (*v as f64 * t) as f32).collect();
            let ys = dot(&y, &s);
            if ys > 1e-10 {
                if self.s.len() == self.config.history {
                    self.s.pop_front();
                    self.y.pop_front();
                    self.rho.pop_front();
                }
                self.h_diag = ys / dot(&y, &y);
                self.s.push_back(s);
                self.y.push_back(y);
                self.rho.push_back(1.0 / ys);
            }
        }
        let mut q: Vec<f64> = grad.iter().map(|v| -(*v as f64)).collect();
        let mut alpha = vec![0.0; self.s.len()];
        for i in (0..self.s.len()).rev() {
            let a = self.s[i]
                .iter()
                .zip(&q)
                .map(|(s, q)| *s as f64 * q)
                .sum::<f64>()
                * self.rho[i];
            alpha[i] = a;
            for (q, y) in q.iter_mut().zip(&self.y[i]) {
                *q -= a * *y as f64;
            }
        }
        for v in q.iter_mut() {
            *v *= self.h_diag;
        }
        for (((s, y), rho), a) in self.s.iter().zip(&self.y).zip(&self.rho).zip(&alpha) {
            let b = y.iter().zip(&q).map(|(y, r)| *y as f64 * r).sum::<f64>() * rho;
            for (r, s) in q.iter_mut().zip(s) {
                *r += *s as f64 * (a - b);
            }
        }
        q.into_iter().map(|v| v as f32).collect()
    }

    /// Strong-Wolfe line search (c1 = 1e-4, c2 = 0.9) from `x` along `d`, first trying `t`.
    fn strong_wolfe<E>(
        &self,
        x: &[f32],
        d: &[f32],
        mut t: f64,
        start: &Probe,
        eval: &mut Objective<'_, E>,
    ) -> Result<(Probe, usize), E> {
        const C1: f64 = 1e-4;
        const C2: f64 = 0.9;
        let max_ls = self.config.max_line_search;
        let d_norm = max_abs(d);
        let mut evals = 0;
        let mut probe = |t: f64, evals: &mut usize| -> Result<Probe, E> {
            *evals += 1;
            let (f, g) = eval(&offset(x, t, d))?;
            let gtd = dot(&g, d);
            Ok(Probe { t, f, g, gtd })
        };
        let armijo_fails = |p: &Probe| p.f > start.f + C1 * p.t * start.gtd;
        let curvature_ok = |p: &Probe| p.gtd.abs() <= -C2 * start.gtd;

        let mut new = probe(t, &mut evals)?;
        let mut prev = Probe {
            t: 0.0,
            ..start.clone()
        };
        let mut ls_iter = 0;
        // Bracketing phase.
        let mut bracket: Vec<Probe> = loop {
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
        let order = |b: &[Probe]| if b[0].f <= b[1].f { (0, 1) } else { (1, 0) };
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
        let mut opt = Lbfgs::new(LbfgsConfig::default());
        let mut x = vec![-1.2f32, 1.0, -1.2, 1.0, 0.5, -0.3];
        let mut eval = |x: &[f32]| Ok::<_, ()>(rosenbrock(x));
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
            if step.converged {
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
        let mut opt = Lbfgs::new(LbfgsConfig::default());
        let mut x = vec![255.0f32; 1000];
        let mut eval = |x: &[f32]| {
            let f = x
                .iter()
                .map(|&v| 0.5e10 * (v as f64) * (v as f64))
                .sum::<f64>();
            Ok::<_, ()>((f, x.iter().map(|&v| v * 1e10).collect()))
        };
        for _ in 0..5 {
            let step = opt.step(&mut x, &mut eval).unwrap();
            assert!(step.loss.is_finite());
            if step.converged {
                break;
            }
        }
        assert!(max_abs(&x) < 1e-3, "converges to 0, got {}", max_abs(&x));
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
        let mut opt = Lbfgs::new(LbfgsConfig::default());
        let mut x = vec![0.0f32; n];
        let mut eval = |x: &[f32]| Ok::<_, ()>(f(x));
        let first = opt.step(&mut x, &mut eval).unwrap();
        assert!(
            !first.converged,
            "a step below the loss's resolution is not convergence"
        );
        for _ in 0..20 {
            if opt.step(&mut x, &mut eval).unwrap().converged {
                break;
            }
        }
        let worst = x.iter().fold(0.0f32, |m, v| m.max((v - 1.0).abs()));
        assert!(worst < 0.05, "x should approach 1, worst |x - 1| = {worst}");
    }

    #[test]
    fn errors_from_the_objective_propagate() {
        let mut opt = Lbfgs::new(LbfgsConfig::default());
        let mut x = vec![1.0f32; 3];
        let mut eval = |_: &[f32]| Err::<(f64, Vec<f32>), &str>("boom");
        assert_eq!(opt.step(&mut x, &mut eval).unwrap_err(), "boom");
    }
}
