//! The variational refinement of a dense flow, as Dense Inverse Search applies it on each
//! pyramid level after the patches are made dense (Kroeger et al. 2016, section 2.3; OpenCV's
//! `VariationalRefinement`, after Brox et al. 2004): an increment `(du, dv)` of the flow that
//! minimizes, over the image,
//!
//! `delta Psi((I_z + I_x du + I_y dv)^2) + gamma Psi(gradient constancy) + alpha Psi(|grad(u + du)|^2 + |grad(v + dv)|^2)`
//!
//! with `Psi(s^2) = sqrt(s^2 + eps^2)` (robust to outliers), linearized around the current
//! flow; solved by fixed-point iterations on the robust weights, each a few sweeps of
//! successive over-relaxation.

use rayon::prelude::*;

use super::flow::{Flow, Gray};

/// The refinement's weights and iterations (OpenCV's defaults).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Refinement {
    /// Smoothness weight.
    pub alpha: f32,
    /// Brightness constancy weight.
    pub delta: f32,
    /// Gradient constancy weight.
    pub gamma: f32,
    /// Fixed-point iterations (each re-weights the robust terms).
    pub outer: usize,
    /// Over-relaxation sweeps per fixed-point iteration.
    pub sweeps: usize,
}

impl Default for Refinement {
    fn default() -> Self {
        Refinement {
            alpha: 20.0,
            delta: 5.0,
            gamma: 10.0,
            outer: 5,
            sweeps: 5,
        }
    }
}

/// The over-relaxation factor.
const OMEGA: f32 = 1.6;
/// The robust function's epsilon, squared.
const EPS2: f32 = 1e-6;

/// Central difference along x (clamped at the border).
fn dx(p: &[f32], w: usize, x: usize, y: usize) -> f32 {
    let (l, r) = (x.saturating_sub(1), (x + 1).min(w - 1));
    (p[y * w + r] - p[y * w + l]) / (r - l).max(1) as f32
}

/// Central difference along y (clamped at the border).
fn dy(p: &[f32], w: usize, h: usize, x: usize, y: usize) -> f32 {
    let (t, b) = (y.saturating_sub(1), (y + 1).min(h - 1));
    (p[b * w + x] - p[t * w + x]) / (b - t).max(1) as f32
}

impl Refinement {
    /// `flow` (from `a` to `b`: `a(x) ~ b(x + flow)`) refined.
    pub(crate) fn refine(&self, a: &Gray, b: &Gray, flow: &mut Flow) {
        let (w, h) = (a.width, a.height);
        if w < 3 || h < 3 || self.outer == 0 {
            return;
        }
        let n = w * h;
        // Intensities in 0-1, as the weights' scale assumes.
        let a0: Vec<f32> = a.data.iter().map(|v| v / 255.0).collect();
        let warped: Vec<f32> = (0..n)
            .map(|i| {
                let (x, y) = ((i % w) as f32, (i / w) as f32);
                b.sample(x + flow.u[i], y + flow.v[i]) / 255.0
            })
            .collect();
        let mean: Vec<f32> = a0.iter().zip(&warped).map(|(p, q)| 0.5 * (p + q)).collect();
        // The linearized terms per pixel: first and second derivatives of the mean image,
        // temporal differences of the image and of its gradient.
        let mut ix = vec![0.0; n];
        let mut iy = vec![0.0; n];
        let mut iz = vec![0.0; n];
        let mut ixz = vec![0.0; n];
        let mut iyz = vec![0.0; n];
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                ix[i] = dx(&mean, w, x, y);
                iy[i] = dy(&mean, w, h, x, y);
                iz[i] = warped[i] - a0[i];
                ixz[i] = dx(&warped, w, x, y) - dx(&a0, w, x, y);
                iyz[i] = dy(&warped, w, h, x, y) - dy(&a0, w, h, x, y);
            }
        }
        let mut ixx = vec![0.0; n];
        let mut ixy = vec![0.0; n];
        let mut iyy = vec![0.0; n];
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                ixx[i] = dx(&ix, w, x, y);
                ixy[i] = dy(&ix, w, h, x, y);
                iyy[i] = dy(&iy, w, h, x, y);
            }
        }
        let mut du = vec![0.0f32; n];
        let mut dv = vec![0.0f32; n];
        let (u, v) = (&flow.u, &flow.v);
        for _ in 0..self.outer {
            // The linear system at the current increment's robust weights: per pixel the
            // data terms' 2x2 matrix and right-hand side, and the smoothness weight.
            let system: Vec<[f32; 6]> = (0..n)
                .into_par_iter()
                .map(|i| {
                    let data = iz[i] + ix[i] * du[i] + iy[i] * dv[i];
                    let wd = self.delta / (data * data + EPS2).sqrt();
                    let gx = ixz[i] + ixx[i] * du[i] + ixy[i] * dv[i];
                    let gy = iyz[i] + ixy[i] * du[i] + iyy[i] * dv[i];
                    let wg = self.gamma / (gx * gx + gy * gy + EPS2).sqrt();
                    let (x, y) = (i % w, i / w);
                    let (r, b) = (y * w + (x + 1).min(w - 1), (y + 1).min(h - 1) * w + x);
                    let (ux, uy) = (u[r] + du[r] - u[i] - du[i], u[b] + du[b] - u[i] - du[i]);
                    let (vx, vy) = (v[r] + dv[r] - v[i] - dv[i], v[b] + dv[b] - v[i] - dv[i]);
                    [
                        wd * ix[i] * ix[i] + wg * (ixx[i] * ixx[i] + ixy[i] * ixy[i]),
                        wd * ix[i] * iy[i] + wg * (ixx[i] * ixy[i] + ixy[i] * iyy[i]),
                        wd * iy[i] * iy[i] + wg * (ixy[i] * ixy[i] + iyy[i] * iyy[i]),
                        -wd * ix[i] * iz[i] - wg * (ixx[i] * ixz[i] + ixy[i] * iyz[i]),
                        -wd * iy[i] * iz[i] - wg * (ixy[i] * ixz[i] + iyy[i] * iyz[i]),
                        self.alpha / (ux * ux + uy * uy + vx * vx + vy * vy + EPS2).sqrt(),
                    ]
                })
                .collect();
            // Red-black Gauss-Seidel sweeps with over-relaxation: the pixels of one colour
            // depend only on the other's, so each half-sweep runs in parallel by rows.
            for _ in 0..self.sweeps {
                for colour in 0..2 {
                    let (old_u, old_v) = (du.clone(), dv.clone());
                    du.par_chunks_mut(w)
                        .zip(dv.par_chunks_mut(w))
                        .enumerate()
                        .for_each(|(y, (row_u, row_v))| {
                            for x in ((y + colour) % 2..w).step_by(2) {
                                let i = y * w + x;
                                let [a11, a12, a22, b1, b2, _] = system[i];
                                let (mut sum_w, mut su, mut sv) = (0.0f32, 0.0f32, 0.0f32);
                                // The edge between pixels i and j weighs the smoothness by
                                // the weight of the first pixel (its forward difference's).
                                let mut edge = |j: usize, weight: f32| {
                                    sum_w += weight;
                                    su += weight * (u[j] + old_u[j] - u[i]);
                                    sv += weight * (v[j] + old_v[j] - v[i]);
                                };
                                if x > 0 {
                                    edge(i - 1, system[i - 1][5]);
                                }
                                if x + 1 < w {
                                    edge(i + 1, system[i][5]);
                                }
                                if y > 0 {
                                    edge(i - w, system[i - w][5]);
                                }
                                if y + 1 < h {
                                    edge(i + w, system[i][5]);
                                }
                                let (mut pu, mut pv) = (row_u[x], row_v[x]);
                                if a11 + sum_w > 0.0 {
                                    pu += OMEGA * ((b1 + su - a12 * pv) / (a11 + sum_w) - pu);
                                }
                                if a22 + sum_w > 0.0 {
                                    pv += OMEGA * ((b2 + sv - a12 * pu) / (a22 + sum_w) - pv);
                                }
                                row_u[x] = pu;
                                row_v[x] = pv;
                            }
                        });
                }
            }
        }
        for i in 0..n {
            flow.u[i] += du[i];
            flow.v[i] += dv[i];
        }
    }
}
