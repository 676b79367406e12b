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
    /// Strong-Wolfe line search (c1 = 1e-4, c2 = 0.9) from `x` along `d`, first trying `t`:
    /// the accepted point and the number of evaluations.
    pub(super) fn strong_wolfe<E>(
        &self,
        x: &S::Vector,
        d: &S::Vector,
        t: f64,
        start: &Probe<S::Vector>,
        eval: &mut EvalFn<'_, S::Vector, E>,
    ) -> Result<(Probe<S::Vector>, usize), E> {
        let mut search = Search {
            space: &self.space,
            x,
            d,
            start,
            eval,
            evals: 0,
            iterations: 0,
            max_iterations: self.config.max_line_search,
        };
        let found = match search.bracket(t)? {
            Bracketed::Accepted(point) => point,
            Bracketed::Between(bracket) => {
                let d_norm = self.space.norms(d).0;
                search.zoom(bracket, d_norm, self.config.tolerance_change)?
            }
        };
        Ok((found, search.evals))
    }
}

/// Curvature condition constant of the sufficient decrease (Armijo) test.
const C1: f64 = 1e-4;
/// Curvature condition constant of the strong-Wolfe test.
const C2: f64 = 0.9;
/// The relative change of a float32 loss that may be its rounding and evaluation noise alone
/// (about 8 units in the last place).
const LOSS_NOISE: f64 = 1e-6;

/// One line search in progress: where it starts, the direction, and its evaluations.
struct Search<'a, 'e, S: Space, E> {
    space: &'a S,
    x: &'a S::Vector,
    d: &'a S::Vector,
    start: &'a Probe<S::Vector>,
    eval: &'a mut EvalFn<'e, S::Vector, E>,
    evals: usize,
    /// Line-search iterations so far (bracketing and zoom together).
    iterations: usize,
    max_iterations: usize,
}

/// How the bracketing phase ended.
enum Bracketed<V> {
    /// A point satisfying the strong-Wolfe conditions.
    Accepted(Probe<V>),
    /// Two points that bracket one.
    Between([Probe<V>; 2]),
}

impl<S: Space, E> Search<'_, '_, S, E> {
    /// Evaluates the point at step `t`.
    fn probe(&mut self, t: f64) -> Result<Probe<S::Vector>, E> {
        self.evals += 1;
        let (f, g) = (self.eval)(&self.space.axpy(self.x, t, self.d))?;
        let gtd = self.space.dot(&g, self.d);
        Ok(Probe { t, f, g, gtd })
    }

    /// `p` fails the sufficient decrease (Armijo) condition.
    fn armijo_fails(&self, p: &Probe<S::Vector>) -> bool {
        p.f > self.start.f + C1 * p.t * self.start.gtd
    }

    /// `p` satisfies the strong curvature condition.
    fn curvature_ok(&self, p: &Probe<S::Vector>) -> bool {
        p.gtd.abs() <= -C2 * self.start.gtd
    }

    /// The bracketing phase: steps grow (by cubic extrapolation) until a point is accepted
    /// or two points bracket one.
    fn bracket(&mut self, mut t: f64) -> Result<Bracketed<S::Vector>, E> {
        let mut new = self.probe(t)?;
        let mut prev = Probe {
            t: 0.0,
            ..self.start.clone()
        };
        loop {
            if self.iterations >= self.max_iterations {
                return Ok(Bracketed::Between([self.start.clone(), new]));
            }
            // A step too small to change the loss at all, while the slope is still downhill,
            // keeps extrapolating (PyTorch brackets there): with float32 losses in the 1e12s
            // (a 2048 px image) L-BFGS's first step of 1/|g|_1 changes the loss by less than
            // its rounding, and bracketing on that tie ended the run after one iteration.
            // Nor does a loss that moved by no more than its float32 rounding and evaluation
            // noise (sums in a different order per call) while the slope along the direction
            // has not flattened (the curvature condition fails): at 2048 px a one-unit rise
            // from that noise bracketed the first step at ~1e-14 and stopped the run as
            // "converged" after one iteration.
            let within_noise = (new.f - prev.f).abs() <= LOSS_NOISE * prev.f.abs();
            let unresolved =
                new.gtd < 0.0 && (new.f == prev.f || (within_noise && !self.curvature_ok(&new)));
            if !new.f.is_finite()
                || (self.armijo_fails(&new) && !unresolved)
                || (self.iterations > 1 && new.f > prev.f && !unresolved)
            {
                return Ok(Bracketed::Between([prev, new]));
            }
            if self.curvature_ok(&new) && !unresolved {
                return Ok(Bracketed::Accepted(new));
            }
            if new.gtd >= 0.0 {
                return Ok(Bracketed::Between([prev, new]));
            }
            let (min_step, max_step) = (new.t + 0.01 * (new.t - prev.t), new.t * 10.0);
            t = cubic_interpolate(
                (prev.t, prev.f, prev.gtd),
                (new.t, new.f, new.gtd),
                Some((min_step, max_step)),
            );
            prev = new;
            new = self.probe(t)?;
            self.iterations += 1;
        }
    }

    /// The zoom phase: shrinks the bracket until a point is accepted, the bracket is shorter
    /// than `tolerance` (measured along `d`, of norm `d_norm`) or the iterations run out;
    /// returns the bracket's lower point.
    fn zoom(
        &mut self,
        mut bracket: [Probe<S::Vector>; 2],
        d_norm: f64,
        tolerance: f64,
    ) -> Result<Probe<S::Vector>, E> {
        let order = |b: &[Probe<S::Vector>; 2]| if b[0].f <= b[1].f { (0, 1) } else { (1, 0) };
        let (mut low, mut high) = order(&bracket);
        let mut insufficient_progress = false;
        while self.iterations < self.max_iterations {
            let (lo_t, hi_t) = (
                bracket[0].t.min(bracket[1].t),
                bracket[0].t.max(bracket[1].t),
            );
            if (hi_t - lo_t) * d_norm < tolerance {
                break;
            }
            let t = zoom_step(&bracket, &mut insufficient_progress);
            let new = self.probe(t)?;
            self.iterations += 1;
            if !new.f.is_finite() || self.armijo_fails(&new) || new.f >= bracket[low].f {
                bracket[high] = new;
                (low, high) = order(&bracket);
            } else {
                let stop = self.curvature_ok(&new);
                if !stop && new.gtd * (bracket[high].t - bracket[low].t) >= 0.0 {
                    bracket[high] = bracket[low].clone();
                }
                bracket[low] = new;
                if stop {
                    break;
                }
            }
        }
        let [a, b] = bracket;
        Ok(if low == 0 { a } else { b })
    }
}

/// The next step inside a bracket: the cubic interpolation's minimum (the midpoint when a
/// loss is not finite), moved away from an end it comes within 10% of the bracket to when
/// the last step made insufficient progress too.
fn zoom_step<V>(bracket: &[Probe<V>; 2], insufficient_progress: &mut bool) -> f64 {
    let (b0, b1) = (&bracket[0], &bracket[1]);
    let (lo_t, hi_t) = (b0.t.min(b1.t), b0.t.max(b1.t));
    let mut t = if b0.f.is_finite() && b1.f.is_finite() {
        cubic_interpolate((b0.t, b0.f, b0.gtd), (b1.t, b1.f, b1.gtd), None)
    } else {
        (lo_t + hi_t) / 2.0
    };
    let eps = 0.1 * (hi_t - lo_t);
    if (hi_t - t).min(t - lo_t) < eps {
        if *insufficient_progress || t >= hi_t || t <= lo_t {
            t = if (t - hi_t).abs() < (t - lo_t).abs() {
                hi_t - eps
            } else {
                lo_t + eps
            };
            *insufficient_progress = false;
        } else {
            *insufficient_progress = true;
        }
    } else {
        *insufficient_progress = false;
    }
    t
}
