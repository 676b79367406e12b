//! The variational refinement of a dense flow, as Dense Inverse Search applies it on each
//! pyramid level after the patches are made dense (Kroeger et al. 2016, section 2.3; OpenCV's
//! `VariationalRefinement`, after Brox et al. 2004): an increment `(du, dv)` of the flow that
//! minimizes, over the image,
//!
//! `delta Psi((I_z + I_x du + I_y dv)^2 / (|grad I|^2 + zeta^2)) + gamma Psi(gradient constancy) + alpha Psi(|grad(u + du)|^2 + |grad(v + dv)|^2)`
//!
//! with `Psi(s^2) = sqrt(s^2 + eps^2)` (robust to outliers), linearized around the current
//! flow; solved by fixed-point iterations on the robust weights, each a few sweeps of
//! successive over-relaxation. As OpenCV's: intensities 0-255, derivatives `[-1, 0, 1]` (twice
//! the slope), and the data terms divided by the squared gradient (plus `zeta^2`), so that
//! they measure a misalignment in pixels, not in grey levels, whatever the texture's contrast
//! (with 0-1 intensities and no division, the smoothness outweighed the data about tenfold,
//! more where motion smears the picture).

use super::flow::{Flow, Gray};
use crate::kernels::simd_kernel;

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

/// The pixels' linear systems, one array per entry (so that a row's sweep reads each entry
/// contiguously): the data terms' off-diagonal entry and right-hand side, the inverses of the
/// diagonal with the smoothness weights' sum (0 where it vanishes), and that sum.
#[derive(Clone, Debug, Default)]
struct System {
    a12: Vec<f32>,
    b1: Vec<f32>,
    b2: Vec<f32>,
    inv11: Vec<f32>,
    inv22: Vec<f32>,
    sum: Vec<f32>,
}

/// The over-relaxation factor.
const OMEGA: f32 = 1.6;
/// The robust function's epsilon, squared.
const EPS2: f32 = 1e-6;
/// The data terms' normalization's zeta, squared (also added to the systems' diagonals).
const ZETA2: f32 = 0.01;

/// The difference of the two neighbours along x (the border replicated).
fn dx(p: &[f32], w: usize, x: usize, y: usize) -> f32 {
    let (l, r) = (x.saturating_sub(1), (x + 1).min(w - 1));
    p[y * w + r] - p[y * w + l]
}

/// The difference of the two neighbours along y (the border replicated).
fn dy(p: &[f32], w: usize, h: usize, x: usize, y: usize) -> f32 {
    let (t, b) = (y.saturating_sub(1), (y + 1).min(h - 1));
    p[b * w + x] - p[t * w + x]
}

impl Refinement {
    /// `flow` (from `a` to `b`: `a(x) ~ b(x + flow)`) refined.
    pub(crate) fn refine(&self, a: &Gray, b: &Gray, flow: &mut Flow) {
        let (w, h) = (a.width, a.height);
        if w < 3 || h < 3 || self.outer == 0 {
            return;
        }
        let n = w * h;
        let a0 = &a.data;
        let warped: Vec<f32> = (0..n)
            .map(|i| {
                let (x, y) = ((i % w) as f32, (i / w) as f32);
                b.sample(x + flow.u[i], y + flow.v[i])
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
                ixz[i] = dx(&warped, w, x, y) - dx(a0, w, x, y);
                iyz[i] = dy(&warped, w, h, x, y) - dy(a0, w, h, x, y);
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
        let terms = Terms {
            ix,
            iy,
            iz,
            ixx,
            ixy,
            iyy,
            ixz,
            iyz,
        };
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
        let zeros = || vec![0.0f32; n];
        let mut system = System {
            a12: zeros(),
            b1: zeros(),
            b2: zeros(),
            inv11: zeros(),
            inv22: zeros(),
            sum: zeros(),
        };
        // One row's new flow, computed at every pixel, kept at one colour's.
        let (mut row_u, mut row_v) = (vec![0.0f32; w], vec![0.0f32; w]);
        // OpenCV halves the three weights (the derivative of the robust function).
        let (alpha2, delta2, gamma2) = (self.alpha / 2.0, self.delta / 2.0, self.gamma / 2.0);
        // The pixels of a row of each colour (even, odd) as masks for [`store_colour`].
        let colours: [Vec<u32>; 2] = [0, 1].map(|c| {
            (0..w)
                .map(|x| u32::from(x % 2 == c).wrapping_neg())
                .collect()
        });
        for _ in 0..self.outer {
            // The smoothness weights at the current flow, on the edges to the right and down
            // neighbours (0 where they leave the picture).
            for y in 0..h {
                let p = y * w + pad;
                let below = if y + 1 < h { w } else { 0 };
                let (weights_right, weights_down) = (&mut right[p..p + w], &mut down[p..p + w]);
                smoothness_row(
                    [
                        &uu[p..p + w],
                        &uu[p + 1..p + 1 + w],
                        &uu[p + below..p + below + w],
                    ],
                    [
                        &vv[p..p + w],
                        &vv[p + 1..p + 1 + w],
                        &vv[p + below..p + below + w],
                    ],
                    (alpha2, y + 1 < h),
                    (weights_right, weights_down),
                );
            }
            // The linear system: per pixel the data terms' 2x2 matrix and right-hand side at
            // the current flow (OpenCV's `ComputeDataTerm`), with the smoothness weights' sum
            // on the diagonal.
            data_terms(
                [&uu[pad..pad + n], &vv[pad..pad + n], u, v],
                &terms,
                [
                    &right[pad..pad + n],
                    &right[pad - 1..pad - 1 + n],
                    &down[pad..pad + n],
                    &down[pad - w..pad - w + n],
                ],
                (delta2, gamma2),
                &mut system,
            );
            // Red-black Gauss-Seidel sweeps with over-relaxation, in place: the pixels of
            // one colour depend only on the other's. Each row is computed whole into a buffer
            // (straight loops the compiler vectorizes; the other colour's values are thrown
            // away), then its colour's pixels are stored: the same arithmetic per pixel as
            // visiting that colour alone. (Sequential: the two flows of a frame run in
            // parallel instead.)
            for _ in 0..self.sweeps {
                for colour in 0..2 {
                    for y in 0..h {
                        let (row, p) = (y * w, y * w + pad);
                        sweep_row(
                            Neighbours::at(&uu, &vv, &right, &down, p, w),
                            (&u[row..row + w], &v[row..row + w]),
                            system.row(row, w),
                            (&mut row_u, &mut row_v),
                        );
                        let colour = &colours[(y + colour) % 2];
                        store_colour(&row_u, &mut uu[p..p + w], colour);
                        store_colour(&row_v, &mut vv[p..p + w], colour);
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

simd_kernel! {
    /// `row`'s values at the pixels of one colour (where `colour` has every bit set; 0
    /// elsewhere) stored into `out`, bit for bit (a load, a blend and a store per vector: no
    /// strided stores).
    fn store_colour(row: &[f32], out: &mut [f32], colour: &[u32]) {
        for ((out, new), &colour) in out.iter_mut().zip(row).zip(colour) {
            *out = f32::from_bits((new.to_bits() & colour) | (out.to_bits() & !colour));
        }
    }
}

simd_kernel! {
    /// The smoothness weights of a row's edges to the right and down neighbours (0 where
    /// they leave the picture; `below`: whether a row lies below), from the refined flow `u`
    /// and `v` at each pixel and its right and down neighbours (the row itself in place of
    /// the one below where none is), and the halved smoothness weight.
    fn smoothness_row(
        u: [&[f32]; 3],
        v: [&[f32]; 3],
        weight_below: (f32, bool),
        out: (&mut [f32], &mut [f32]),
    ) {
        let ((alpha2, below), (right, down)) = (weight_below, out);
        let w = right.len();
        let [uc, ur, ub] = u.map(|a| &a[..w]);
        let [vc, vr, vb] = v.map(|a| &a[..w]);
        let down = &mut down[..w];
        for x in 0..w {
            let inside = x + 1 < w;
            let (ux, vx) = match inside {
                true => (ur[x] - uc[x], vr[x] - vc[x]),
                false => (0.0, 0.0),
            };
            let (uy, vy) = (ub[x] - uc[x], vb[x] - vc[x]);
            let weight = alpha2 / (ux * ux + uy * uy + vx * vx + vy * vy + EPS2).sqrt();
            right[x] = if inside { weight } else { 0.0 };
            down[x] = if below { weight } else { 0.0 };
        }
    }
}

/// The linearized terms per pixel: first and second derivatives of the mean of the two
/// images, temporal differences of the image and of its gradient.
struct Terms {
    ix: Vec<f32>,
    iy: Vec<f32>,
    iz: Vec<f32>,
    ixx: Vec<f32>,
    ixy: Vec<f32>,
    iyy: Vec<f32>,
    ixz: Vec<f32>,
    iyz: Vec<f32>,
}

simd_kernel! {
    /// The linear systems at every pixel (`flow`: the refined flow `(uu, vv)` and the flow
    /// before the refinement `(u, v)`, each a value per pixel; `edges`: the smoothness weights
    /// to the east, west, south and north neighbours; `weights`: the halved brightness and
    /// gradient constancy weights) into `out`.
    fn data_terms(
        flow: [&[f32]; 4],
        t: &Terms,
        edges: [&[f32]; 4],
        weights: (f32, f32),
        out: &mut System,
    ) {
        let n = t.ix.len();
        // Every slice cut to `n` where the compiler sees it, so that the loop has no bounds
        // checks and vectorizes.
        let [uu, vv, u, v] = flow.map(|a| &a[..n]);
        let [e, west, s, north] = edges.map(|a| &a[..n]);
        let (ix, iy, iz) = (&t.ix[..n], &t.iy[..n], &t.iz[..n]);
        let (ixx, ixy, iyy) = (&t.ixx[..n], &t.ixy[..n], &t.iyy[..n]);
        let (ixz, iyz) = (&t.ixz[..n], &t.iyz[..n]);
        let (o12, ob1, ob2) = (&mut out.a12[..n], &mut out.b1[..n], &mut out.b2[..n]);
        let (oinv11, oinv22, osum) = (&mut out.inv11[..n], &mut out.inv22[..n], &mut out.sum[..n]);
        let (delta2, gamma2) = weights;
        for i in 0..n {
            let (du, dv) = (uu[i] - u[i], vv[i] - v[i]);
            // Brightness constancy, normalized by the squared gradient.
            let norm = ix[i] * ix[i] + iy[i] * iy[i] + ZETA2;
            let data = iz[i] + ix[i] * du + iy[i] * dv;
            let wd = delta2 / (data * data / norm + EPS2).sqrt() / norm;
            let mut a11 = wd * ix[i] * ix[i] + ZETA2;
            let mut a12 = wd * ix[i] * iy[i];
            let mut a22 = wd * iy[i] * iy[i] + ZETA2;
            let mut b1 = -wd * iz[i] * ix[i];
            let mut b2 = -wd * iz[i] * iy[i];
            // Gradient constancy, each component normalized by its own squared gradient.
            let nx = ixx[i] * ixx[i] + ixy[i] * ixy[i] + ZETA2;
            let ny = iyy[i] * iyy[i] + ixy[i] * ixy[i] + ZETA2;
            let gx = ixz[i] + ixx[i] * du + ixy[i] * dv;
            let gy = iyz[i] + ixy[i] * du + iyy[i] * dv;
            let wg = gamma2 / (gx * gx / nx + gy * gy / ny + EPS2).sqrt();
            a11 += wg * (ixx[i] * ixx[i] / nx + ixy[i] * ixy[i] / ny);
            a12 += wg * (ixx[i] * ixy[i] / nx + ixy[i] * iyy[i] / ny);
            a22 += wg * (ixy[i] * ixy[i] / nx + iyy[i] * iyy[i] / ny);
            b1 -= wg * (ixx[i] * ixz[i] / nx + ixy[i] * iyz[i] / ny);
            b2 -= wg * (ixy[i] * ixz[i] / nx + iyy[i] * iyz[i] / ny);
            let sum = e[i] + west[i] + s[i] + north[i];
            let (a11, a22) = (a11 + sum, a22 + sum);
            o12[i] = a12;
            ob1[i] = b1;
            ob2[i] = b2;
            oinv11[i] = if a11 > 0.0 { 1.0 / a11 } else { 0.0 };
            oinv22[i] = if a22 > 0.0 { 1.0 / a22 } else { 0.0 };
            osum[i] = sum;
        }
    }
}

/// One row's entries of the linear systems, as slices.
struct SystemRow<'a> {
    a12: &'a [f32],
    b1: &'a [f32],
    b2: &'a [f32],
    inv11: &'a [f32],
    inv22: &'a [f32],
    sum: &'a [f32],
}

impl System {
    /// The `w` entries of the row starting at pixel `row`.
    fn row(&self, row: usize, w: usize) -> SystemRow<'_> {
        let r = row..row + w;
        SystemRow {
            a12: &self.a12[r.clone()],
            b1: &self.b1[r.clone()],
            b2: &self.b2[r.clone()],
            inv11: &self.inv11[r.clone()],
            inv22: &self.inv22[r.clone()],
            sum: &self.sum[r],
        }
    }
}

/// A row of the padded flow and edge weights with its four neighbour rows: each slice holds
/// the row's `w` pixels shifted by the neighbour's offset.
struct Neighbours<'a> {
    /// The flow `(u, v)` at the pixel and at its east, west, south and north neighbours.
    u: [&'a [f32]; 5],
    v: [&'a [f32]; 5],
    /// The edge weights to the east, west, south and north neighbours.
    edges: [&'a [f32]; 4],
}

impl<'a> Neighbours<'a> {
    /// The row whose first pixel is at padded index `p`.
    fn at(
        uu: &'a [f32],
        vv: &'a [f32],
        right: &'a [f32],
        down: &'a [f32],
        p: usize,
        w: usize,
    ) -> Self {
        let shifted = |a: &'a [f32]| {
            [
                &a[p..p + w],
                &a[p + 1..p + 1 + w],
                &a[p - 1..p - 1 + w],
                &a[p + w..p + 2 * w],
                &a[p - w..p],
            ]
        };
        Neighbours {
            u: shifted(uu),
            v: shifted(vv),
            edges: [
                &right[p..p + w],
                &right[p - 1..p - 1 + w],
                &down[p..p + w],
                &down[p - w..p],
            ],
        }
    }
}

simd_kernel! {
    /// One over-relaxation step at every pixel of a row (`flow` its flow before the refinement),
    /// into `out`.
    fn sweep_row(
        n: Neighbours<'_>,
        flow: (&[f32], &[f32]),
        c: SystemRow<'_>,
        out: (&mut [f32], &mut [f32]),
    ) {
        let w = flow.0.len();
        // Every slice cut to `w` where the compiler sees it, so that the loop has no bounds
        // checks and vectorizes.
        let [uc, ue, uw, us, un] = n.u.map(|a| &a[..w]);
        let [vc, ve, vw, vs, vn] = n.v.map(|a| &a[..w]);
        let [e, west, s, north] = n.edges.map(|a| &a[..w]);
        let (u, v) = (&flow.0[..w], &flow.1[..w]);
        let (a12, b1, b2) = (&c.a12[..w], &c.b1[..w], &c.b2[..w]);
        let (inv11, inv22, sum) = (&c.inv11[..w], &c.inv22[..w], &c.sum[..w]);
        let (out_u, out_v) = (&mut out.0[..w], &mut out.1[..w]);
        for x in 0..w {
            let su = e[x] * ue[x] + west[x] * uw[x] + s[x] * us[x] + north[x] * un[x] - sum[x] * u[x];
            let sv = e[x] * ve[x] + west[x] * vw[x] + s[x] * vs[x] + north[x] * vn[x] - sum[x] * v[x];
            let (pu0, pv0) = (uc[x] - u[x], vc[x] - v[x]);
            let pu = match inv11[x] > 0.0 {
                true => pu0 + OMEGA * ((b1[x] + su - a12[x] * pv0) * inv11[x] - pu0),
                false => pu0,
            };
            let pv = match inv22[x] > 0.0 {
                true => pv0 + OMEGA * ((b2[x] + sv - a12[x] * pu) * inv22[x] - pv0),
                false => pv0,
            };
            out_u[x] = u[x] + pu;
            out_v[x] = v[x] + pv;
        }
    }
}
