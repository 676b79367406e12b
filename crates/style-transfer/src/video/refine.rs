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

/// One pixel's linear system: the data terms' off-diagonal entry and right-hand side, the
/// inverses of the diagonal with the smoothness weights' sum (0 where it vanishes), and that
/// sum.
#[derive(Clone, Copy, Debug, Default)]
struct Cell {
    a12: f32,
    b1: f32,
    b2: f32,
    inv11: f32,
    inv22: f32,
    sum: f32,
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
        // The refined flow `(uu, vv) = (u + du, v + dv)`, kept padded by one row and one
        // pixel on each side (pixel `i` at `i + pad`) so that the sweeps read all four
        // neighbours without a branch: the padding and the edges leaving the picture weigh 0.
        let pad = w + 1;
        let padded = |values: &[f32]| {
            let mut out = vec![0.0f32; n + 2 * pad];
            out[pad..pad + n].copy_from_slice(values);
            out
        };
        let (u, v) = (&flow.u, &flow.v);
        let (mut uu, mut vv) = (padded(u), padded(v));
        // Per pixel: the smoothness weights of the edges to the right and down neighbours
        // (0 where they leave the picture), then the system's terms.
        let mut right = vec![0.0f32; n + 2 * pad];
        let mut down = vec![0.0f32; n + 2 * pad];
        let mut system: Vec<Cell> = vec![Cell::default(); n];
        for _ in 0..self.outer {
            // The robust weights at the current flow.
            let (uu_now, vv_now) = (&uu, &vv);
            let weights: Vec<(f32, f32, f32)> = (0..n)
                .into_par_iter()
                .map(|i| {
                    let (p, (x, y)) = (i + pad, (i % w, i / w));
                    let (du, dv) = (uu_now[p] - u[i], vv_now[p] - v[i]);
                    let data = iz[i] + ix[i] * du + iy[i] * dv;
                    let wd = self.delta / (data * data + EPS2).sqrt();
                    let gx = ixz[i] + ixx[i] * du + ixy[i] * dv;
                    let gy = iyz[i] + ixy[i] * du + iyy[i] * dv;
                    let wg = self.gamma / (gx * gx + gy * gy + EPS2).sqrt();
                    let (r, b) = (p + usize::from(x + 1 < w), p + w * usize::from(y + 1 < h));
                    let (ux, uy) = (uu_now[r] - uu_now[p], uu_now[b] - uu_now[p]);
                    let (vx, vy) = (vv_now[r] - vv_now[p], vv_now[b] - vv_now[p]);
                    let smooth = self.alpha / (ux * ux + uy * uy + vx * vx + vy * vy + EPS2).sqrt();
                    (wd, wg, smooth)
                })
                .collect();
            for (i, &(_, _, smooth)) in weights.iter().enumerate() {
                let (x, y) = (i % w, i / w);
                right[i + pad] = if x + 1 < w { smooth } else { 0.0 };
                down[i + pad] = if y + 1 < h { smooth } else { 0.0 };
            }
            // The linear system: per pixel the data terms' 2x2 matrix and right-hand side,
            // with the smoothness weights' sum on the diagonal.
            for (i, (cell, &(wd, wg, _))) in system.iter_mut().zip(&weights).enumerate() {
                let p = i + pad;
                let sum = right[p] + right[p - 1] + down[p] + down[p - w];
                let a11 = wd * ix[i] * ix[i] + wg * (ixx[i] * ixx[i] + ixy[i] * ixy[i]) + sum;
                let a22 = wd * iy[i] * iy[i] + wg * (ixy[i] * ixy[i] + iyy[i] * iyy[i]) + sum;
                *cell = Cell {
                    a12: wd * ix[i] * iy[i] + wg * (ixx[i] * ixy[i] + ixy[i] * iyy[i]),
                    b1: -wd * ix[i] * iz[i] - wg * (ixx[i] * ixz[i] + ixy[i] * iyz[i]),
                    b2: -wd * iy[i] * iz[i] - wg * (ixy[i] * ixz[i] + iyy[i] * iyz[i]),
                    inv11: if a11 > 0.0 { 1.0 / a11 } else { 0.0 },
                    inv22: if a22 > 0.0 { 1.0 / a22 } else { 0.0 },
                    sum,
                };
            }
            // Red-black Gauss-Seidel sweeps with over-relaxation, in place: the pixels of
            // one colour depend only on the other's. (Sequential: the two flows of a frame
            // run in parallel instead.)
            for _ in 0..self.sweeps {
                for colour in 0..2 {
                    for y in 0..h {
                        for x in ((y + colour) % 2..w).step_by(2) {
                            let i = y * w + x;
                            let p = i + pad;
                            let c = &system[i];
                            let (e, west, s, north) =
                                (right[p], right[p - 1], down[p], down[p - w]);
                            let su = e * uu[p + 1]
                                + west * uu[p - 1]
                                + s * uu[p + w]
                                + north * uu[p - w]
                                - c.sum * u[i];
                            let sv = e * vv[p + 1]
                                + west * vv[p - 1]
                                + s * vv[p + w]
                                + north * vv[p - w]
                                - c.sum * v[i];
                            let (mut pu, mut pv) = (uu[p] - u[i], vv[p] - v[i]);
                            if c.inv11 > 0.0 {
                                pu += OMEGA * ((c.b1 + su - c.a12 * pv) * c.inv11 - pu);
                            }
                            if c.inv22 > 0.0 {
                                pv += OMEGA * ((c.b2 + sv - c.a12 * pu) * c.inv22 - pv);
                            }
                            uu[p] = u[i] + pu;
                            vv[p] = v[i] + pv;
                        }
                    }
                }
            }
        }
        let du: Vec<f32> = (0..n).map(|i| uu[i + pad] - u[i]).collect();
        let dv: Vec<f32> = (0..n).map(|i| vv[i + pad] - v[i]).collect();
        for i in 0..n {
            flow.u[i] += du[i];
            flow.v[i] += dv[i];
        }
    }
}
