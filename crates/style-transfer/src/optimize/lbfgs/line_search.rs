//! The strong-Wolfe line search of [`Lbfgs`] (PyTorch's `_strong_wolfe`, with the first step
//! kept extrapolating while the loss does not change).

use super::{EvalFn, Lbfgs, Space};

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
pub(super) struct Probe<V> {
    pub(super) t: f64,
    pub(super) f: f64,
    pub(super) g: V,
    pub(super) gtd: f64,
}

impl<S: Space> Lbfgs<S> {
    /// Strong-Wolfe line search (c1 = 1e-4, c2 = 0.9) from `x` along `d`, first trying `t`.
    pub(super) fn strong_wolfe<E>(
        &self,
        x: &S::Vector,
        d: &S::Vector,
        mut t: f64,
        start: &Probe<S::Vector>,
        eval: &mut EvalFn<'_, S::Vector, E>,
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
