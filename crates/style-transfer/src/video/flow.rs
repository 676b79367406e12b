//! Dense optical flow by Dense Inverse Search (Kroeger, Timofte, Dai and Van Gool, "Fast
//! Optical Flow using Dense Inverse Search", ECCV 2016), the method OpenCV's `DISOpticalFlow`
//! implements: coarse to fine over an image pyramid, each level's flow found for a grid of
//! overlapping patches by inverse-compositional Lucas-Kanade (the template's gradient and
//! Hessian computed once per patch, with OpenCV's unnormalized Sobel gradients and its
//! stopping rule; patches compared with their mean difference taken out, and each starting
//! from the best of its own and its neighbours' displacements, as OpenCV does), then made dense by averaging the patches that cover each pixel, weighted
//! by how well each explains it, and refined variationally (`video/refine.rs`). Written here
//! rather than taken from a crate: no maintained Rust crate
//! computes dense flow without binding OpenCV (docs/video.md says what was looked at);
//! measured against OpenCV's DIS in `benches/flow_opencv.py`.
//!
//! On host memory, for every backend: a 640x360 frame pair takes about 40 ms on two cores,
//! the two ways side by side about as long (docs/video.md).

use rayon::prelude::*;

use super::refine::Refinement;

/// A grayscale image, intensities 0-255, row by row.
#[derive(Clone, Debug, PartialEq)]
pub struct Gray {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height` intensities.
    pub data: Vec<f32>,
}

impl Gray {
    /// The luminance (Rec. 601) of an RGB image.
    pub fn from_rgb(image: &image::RgbImage) -> Self {
        let data = image
            .pixels()
            .map(|p| 0.299 * p.0[0] as f32 + 0.587 * p.0[1] as f32 + 0.114 * p.0[2] as f32)
            .collect();
        Gray {
            width: image.width() as usize,
            height: image.height() as usize,
            data,
        }
    }

    fn at(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.width + x]
    }

    /// The value at a real position, bilinear, clamped to the border.
    pub fn sample(&self, x: f32, y: f32) -> f32 {
        bilinear(&self.data, self.width, self.height, x, y)
    }

    /// Half the size, each pixel the mean of a 2x2 cell.
    fn halved(&self) -> Gray {
        let (w, h) = (self.width / 2, self.height / 2);
        let mut data = Vec::with_capacity(w * h);
        for y in 0..h {
            for x in 0..w {
                let s = self.at(2 * x, 2 * y)
                    + self.at(2 * x + 1, 2 * y)
                    + self.at(2 * x, 2 * y + 1)
                    + self.at(2 * x + 1, 2 * y + 1);
                data.push(s / 4.0);
            }
        }
        Gray {
            width: w,
            height: h,
            data,
        }
    }
}

/// The value of a `w x h` plane at a real position, bilinear, clamped to the border.
pub fn bilinear(plane: &[f32], w: usize, h: usize, x: f32, y: f32) -> f32 {
    Taps::at(w, h, x, y).sample(plane, 1, 0)
}

/// Where [`bilinear`] reads a `w x h` grid at one position, and with which weights: worked
/// out once for several planes read at the same place (the channels of a picture, a flow's
/// two components).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Taps {
    /// The top-left and top-right cells' indices, row by row.
    top: (usize, usize),
    /// The bottom-left and bottom-right cells' indices.
    bottom: (usize, usize),
    fx: f32,
    fy: f32,
}

/// One axis of [`Taps`]: the two cells either side of `at` (clamped to `0..len`) and the
/// second one's weight.
fn axis(at: f32, len: usize) -> (usize, usize, f32) {
    let at = at.clamp(0.0, (len - 1) as f32);
    // Not negative after the clamp: truncation is the floor, without a call to `floorf`
    // (x86-64's baseline has no rounding instruction).
    let i0 = at as usize;
    (i0, (i0 + 1).min(len - 1), at - i0 as f32)
}

impl Taps {
    /// The taps at `(x, y)`, clamped to the border.
    pub(crate) fn at(w: usize, h: usize, x: f32, y: f32) -> Self {
        Taps::of(axis(x, w), axis(y, h), w)
    }

    /// The taps of a column's and a row's [`axis`] in a grid `w` wide.
    fn of((x0, x1, fx): (usize, usize, f32), (y0, y1, fy): (usize, usize, f32), w: usize) -> Self {
        Taps {
            top: (y0 * w + x0, y0 * w + x1),
            bottom: (y1 * w + x0, y1 * w + x1),
            fx,
            fy,
        }
    }

    /// The bilinear value of the plane whose cell `i` is `values[i * stride + offset]` (an
    /// interleaved picture's channel: `stride` 3, `offset` the channel).
    pub(crate) fn sample(&self, values: &[f32], stride: usize, offset: usize) -> f32 {
        let v = |i: usize| values[i * stride + offset];
        let Taps { fx, fy, .. } = *self;
        let top = v(self.top.0) * (1.0 - fx) + v(self.top.1) * fx;
        let bottom = v(self.bottom.0) * (1.0 - fx) + v(self.bottom.1) * fx;
        top * (1.0 - fy) + bottom * fy
    }
}

/// A dense flow field: pixel `(x, y)` of the first image is at `(x + u, y + v)` in the
/// second.
#[derive(Clone, Debug, PartialEq)]
pub struct Flow {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Horizontal displacement per pixel, row by row.
    pub u: Vec<f32>,
    /// Vertical displacement per pixel, row by row.
    pub v: Vec<f32>,
}

impl Flow {
    /// No motion.
    pub fn zero(width: usize, height: usize) -> Self {
        Flow {
            width,
            height,
            u: vec![0.0; width * height],
            v: vec![0.0; width * height],
        }
    }

    /// The displacement at a real position, bilinear, clamped to the border.
    pub fn sample(&self, x: f32, y: f32) -> (f32, f32) {
        let taps = Taps::at(self.width, self.height, x, y);
        (taps.sample(&self.u, 1, 0), taps.sample(&self.v, 1, 0))
    }

    /// The mean endpoint error against `truth` (the mean distance between the two
    /// displacements), over the pixels where `valid` holds.
    pub fn endpoint_error(&self, truth: &Flow, valid: impl Fn(usize, usize) -> bool) -> f64 {
        let (mut sum, mut n) = (0.0f64, 0usize);
        for y in 0..self.height {
            for x in 0..self.width {
                if valid(x, y) {
                    let i = y * self.width + x;
                    let du = (self.u[i] - truth.u[i]) as f64;
                    let dv = (self.v[i] - truth.v[i]) as f64;
                    sum += (du * du + dv * dv).sqrt();
                    n += 1;
                }
            }
        }
        sum / n.max(1) as f64
    }

    /// This flow at twice the size (a coarser level's flow as the next level's start).
    fn doubled(&self, width: usize, height: usize) -> Flow {
        // [`bilinear`] at ((x - 0.5) / 2, (y - 0.5) / 2), each column's and row's clamp and
        // weight worked out once rather than at every pixel.
        let axes = |n: usize, len: usize| -> Vec<(usize, usize, f32)> {
            (0..n).map(|i| axis((i as f32 - 0.5) / 2.0, len)).collect()
        };
        let (columns, rows) = (axes(width, self.width), axes(height, self.height));
        let mut out = Flow::zero(width, height);
        for (plane, doubled) in [(&self.u, &mut out.u), (&self.v, &mut out.v)] {
            for (&row, line) in rows.iter().zip(doubled.chunks_exact_mut(width)) {
                for (&column, value) in columns.iter().zip(line) {
                    *value = 2.0 * Taps::of(column, row, self.width).sample(plane, 1, 0);
                }
            }
        }
        out
    }
}

/// Dense Inverse Search's settings (the defaults: OpenCV's `PRESET_MEDIUM` but for 16
/// Gauss-Newton iterations, `PRESET_FAST`'s, where MEDIUM has 25).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dis {
    /// Patch side in pixels (default 8).
    pub patch: usize,
    /// Distance between patches (default 3, as OpenCV's `PRESET_MEDIUM`: on a real shot with
    /// fast, smeared motion the warping error of docs/video.md fell from 0.24x to 0.19x the
    /// per-frame one going from 4 to 3).
    pub stride: usize,
    /// Gauss-Newton iterations per patch (default 16).
    pub iterations: usize,
    /// The finest pyramid level searched (0: full size; default 1, then doubled).
    pub finest: usize,
    /// Fixed-point iterations of the variational refinement on each level (default 5; 0:
    /// none).
    pub refinement: usize,
    /// Spatial propagation (default on, as in OpenCV's DIS): two sweeps over the patches, each
    /// patch starting from the best of its own and its swept neighbours' displacements.
    pub propagation: bool,
    /// Patches compared with their mean difference taken out (default on, as in OpenCV's
    /// DIS): a change of brightness between the frames (exposure, flicker) is not motion.
    pub mean_normalization: bool,
}

impl Default for Dis {
    fn default() -> Self {
        Dis {
            patch: 8,
            stride: 3,
            iterations: 16,
            finest: 1,
            refinement: 5,
            propagation: true,
            mean_normalization: true,
        }
    }
}

impl Dis {
    /// The flow from `from` to `to` (same size, at least 16 pixels a side).
    pub fn flow(&self, from: &Gray, to: &Gray) -> Flow {
        assert_eq!((from.width, from.height), (to.width, to.height));
        let mut pyramid = vec![(from.clone(), to.clone())];
        while pyramid
            .last()
            .is_some_and(|(a, _)| a.width.min(a.height) / 2 >= 2 * self.patch)
        {
            let (a, b) = pyramid.last().expect("one level");
            let next = (a.halved(), b.halved());
            pyramid.push(next);
        }
        let finest = self.finest.min(pyramid.len() - 1);
        let mut flow: Option<Flow> = None;
        for level in (finest..pyramid.len()).rev() {
            let (a, b) = &pyramid[level];
            let start = match flow.take() {
                Some(f) => f.doubled(a.width, a.height),
                None => Flow::zero(a.width, a.height),
            };
            let mut found = self.level(a, b, &start);
            let refinement = Refinement {
                outer: self.refinement,
                ..Refinement::default()
            };
            refinement.refine(a, b, &mut found);
            flow = Some(found);
        }
        let mut flow = flow.expect("at least one level");
        for level in (0..finest).rev() {
            let (a, _) = &pyramid[level];
            flow = flow.doubled(a.width, a.height);
        }
        flow
    }

    /// The flows from `from` to `to` and back, computed side by side (each refinement runs
    /// on one thread).
    pub fn both_ways(&self, from: &Gray, to: &Gray) -> (Flow, Flow) {
        rayon::join(|| self.flow(from, to), || self.flow(to, from))
    }

    /// One level: every patch's displacement from `start`, then the dense flow.
    fn level(&self, a: &Gray, b: &Gray, start: &Flow) -> Flow {
        let (w, h, ps) = (a.width, a.height, self.patch.min(a.width).min(a.height));
        let starts = |len: usize| {
            let mut s: Vec<usize> = (0..=len - ps).step_by(self.stride.max(1)).collect();
            if s.last() != Some(&(len - ps)) {
                s.push(len - ps);
            }
            s
        };
        let (xs, ys) = (starts(w), starts(h));
        let grad = sobel(a);
        let grad = &grad;
        let found = self.patches(a, b, (&xs, &ys, ps), start, grad);
        let patches: Vec<(usize, usize, f32, f32)> = ys
            .iter()
            .flat_map(|&py| xs.iter().map(move |&px| (px, py)))
            .zip(found)
            .map(|((px, py), (u, v))| (px, py, u, v))
            .collect();
        // Densification: each pixel the average of the patches over it, weighted by
        // 1 / max(1, |photometric error|).
        // (Sums kept apart and added row by row, so that the compiler runs each patch row in
        // vector lanes.)
        let (mut weights, mut us, mut vs) = (
            vec![0.0f32; w * h],
            vec![0.0f32; w * h],
            vec![0.0f32; w * h],
        );
        let mut row_values = vec![0.0f32; ps];
        for &(px, py, u, v) in &patches {
            Patch { b, px, py, ps }.moved((u, v), &mut row_values, |row, moved| {
                let i = (py + row) * w + px;
                let pixels = moved.iter().zip(&a.data[i..i + ps]);
                let sums = weights[i..i + ps]
                    .iter_mut()
                    .zip(&mut us[i..i + ps])
                    .zip(&mut vs[i..i + ps]);
                for ((moved, a), ((weight_sum, u_sum), v_sum)) in pixels.zip(sums) {
                    let weight = 1.0 / (moved - a).abs().max(1.0);
                    *weight_sum += weight;
                    *u_sum += weight * u;
                    *v_sum += weight * v;
                }
            });
        }
        let mut flow = Flow::zero(w, h);
        for (i, wt) in weights.into_iter().enumerate() {
            if wt > 0.0 {
                flow.u[i] = us[i] / wt;
                flow.v[i] = vs[i] / wt;
            }
        }
        flow
    }

    /// Every patch's displacement (row by row over the grid `xs` x `ys` of patch corners,
    /// patches `ps` square), searched from `start` (the coarser level's flow at the patch's
    /// centre). With [`Dis::propagation`] (as OpenCV's DIS does) the grid is swept twice,
    /// forwards then backwards, each sweep with half the iterations, and each patch first
    /// takes whichever of its own displacement and its two neighbours' already swept (left
    /// and above, then right and below) explains it best: a patch whose own start is wrong
    /// (a moving object's edge, a textureless area) takes its neighbour's. The sweeps run in
    /// horizontal stripes side by side (propagating within a stripe), a fixed number of rows
    /// each, so the result does not depend on the number of threads.
    fn patches(
        &self,
        a: &Gray,
        b: &Gray,
        (xs, ys, ps): (&[usize], &[usize], usize),
        start: &Flow,
        grad: &[(f32, f32)],
    ) -> Vec<(f32, f32)> {
        let (w, nx) = (a.width, xs.len());
        let mut found: Vec<(f32, f32)> = ys
            .iter()
            .flat_map(|&py| {
                xs.iter().map(move |&px| {
                    let c = (py + ps / 2) * w + px + ps / 2;
                    (start.u[c], start.v[c])
                })
            })
            .collect();
        // Each patch's template, prepared once for both sweeps.
        let templates: Vec<Template> = (0..ys.len() * nx)
            .into_par_iter()
            .map(|k| {
                Template::new(
                    a,
                    grad,
                    (xs[k % nx], ys[k / nx], ps),
                    self.mean_normalization,
                )
            })
            .collect();
        let sweeps = if self.propagation { 2 } else { 1 };
        let iterations = self.iterations.div_ceil(sweeps);
        for sweep in 0..sweeps {
            found
                .par_chunks_mut(STRIPE_ROWS * nx)
                .enumerate()
                .for_each(|(stripe, cells)| {
                    let rows = cells.len() / nx;
                    let forwards = sweep % 2 == 0;
                    for k in 0..rows * nx {
                        let k = if forwards { k } else { rows * nx - 1 - k };
                        let (row, col) = (k / nx, k % nx);
                        let (px, py) = (xs[col], ys[stripe * STRIPE_ROWS + row]);
                        let template = &templates[stripe * STRIPE_ROWS * nx + k];
                        let patch = Patch { b, px, py, ps };
                        let mut from = cells[k];
                        if self.propagation {
                            let mut best = template.measure(&patch, from).0;
                            let neighbours = if forwards {
                                [(col > 0).then(|| k - 1), (row > 0).then(|| k - nx)]
                            } else {
                                [
                                    (col + 1 < nx).then(|| k + 1),
                                    (row + 1 < rows).then(|| k + nx),
                                ]
                            };
                            for n in neighbours.into_iter().flatten() {
                                let ssd = template.measure(&patch, cells[n]).0;
                                if ssd < best {
                                    best = ssd;
                                    from = cells[n];
                                }
                            }
                        }
                        cells[k] = template.descend(&patch, from, iterations);
                    }
                });
        }
        found
    }
}

/// The template's gradients as OpenCV's DIS takes them: 3x3 Sobel, not normalized (8 times
/// the slope, so each Gauss-Newton step goes an eighth of the way: small steps that a
/// smeared or flat patch cannot throw far), the border reflected (`dcb|abcd|cba`, gradient 0
/// on the edge).
fn sobel(a: &Gray) -> Vec<(f32, f32)> {
    let (w, h) = (a.width, a.height);
    let reflect = |v: isize, n: usize| -> usize {
        if v < 0 {
            1
        } else if v >= n as isize {
            n - 2
        } else {
            v as usize
        }
    };
    let mut out = Vec::with_capacity(w * h);
    for y in 0..h as isize {
        // The rows above, at and below (reflected at the top and bottom); the columns
        // reflected at the first and last pixel only.
        let line = |dy: isize| &a.data[reflect(y + dy, h) * w..][..w];
        let (above, row, below) = (line(-1), line(0), line(1));
        let pixel = |x: usize, left: usize, right: usize| {
            let gx = (above[right] + 2.0 * row[right] + below[right])
                - (above[left] + 2.0 * row[left] + below[left]);
            let gy = (below[left] + 2.0 * below[x] + below[right])
                - (above[left] + 2.0 * above[x] + above[right]);
            (gx, gy)
        };
        out.push(pixel(0, 1, 1));
        out.extend((1..w - 1).map(|x| pixel(x, x - 1, x + 1)));
        out.push(pixel(w - 1, w - 2, w - 2));
    }
    out
}

/// The side of the patches [`patch_sums`] handles.
const LANES: usize = 8;

/// [`Template::lanes`]' sums over an 8x8 patch of the second image whose top-left pixel
/// starts `b` (rows `w` apart), moved by the fraction `(fx, fy)` of a pixel, against the
/// template `(gx, gy, t)`: the differences' sum and sum of squares and the gradients times
/// the differences. Eight lanes, one per column, summed down the rows and then across; with
/// AVX2 in one vector register each (the compiler leaves an 8-long loop unvectorized), the
/// same arithmetic lane by lane, so the same sums.
fn patch_sums(
    b: &[f32],
    w: usize,
    (fx, fy): (f32, f32),
    (gx, gy, t): (&[f32], &[f32], &[f32]),
) -> [f32; 4] {
    // Every row read below, checked once.
    assert!(b.len() > LANES * w + LANES && gx.len() >= LANES * LANES);
    assert!(gy.len() >= LANES * LANES && t.len() >= LANES * LANES);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, and the lengths were checked above.
        return unsafe { patch_sums_avx2(b, w, (fx, fy), (gx, gy, t)) };
    }
    patch_sums_plain(b, w, (fx, fy), (gx, gy, t))
}

/// [`patch_sums`] without vector instructions (slices as [`patch_sums`] checks them).
fn patch_sums_plain(
    b: &[f32],
    w: usize,
    (fx, fy): (f32, f32),
    (gx, gy, t): (&[f32], &[f32], &[f32]),
) -> [f32; 4] {
    let (mut sd, mut sdd, mut bx, mut by) = (
        [0.0f32; LANES],
        [0.0f32; LANES],
        [0.0f32; LANES],
        [0.0f32; LANES],
    );
    for row in 0..LANES {
        let top = &b[row * w..][..LANES + 1];
        let bottom = &b[(row + 1) * w..][..LANES + 1];
        let at = row * LANES;
        for k in 0..LANES {
            let upper = top[k] * (1.0 - fx) + top[k + 1] * fx;
            let lower = bottom[k] * (1.0 - fx) + bottom[k + 1] * fx;
            let d = upper * (1.0 - fy) + lower * fy - t[at + k];
            sd[k] += d;
            sdd[k] += d * d;
            bx[k] += gx[at + k] * d;
            by[k] += gy[at + k] * d;
        }
    }
    [sd, sdd, bx, by].map(across)
}

/// The sum of eight lanes, first to last.
fn across(lanes: [f32; LANES]) -> f32 {
    lanes.iter().sum()
}

/// [`patch_sums`] in AVX2 registers (no fused multiply-add: the same rounding as the plain
/// version).
///
/// # Safety
/// The CPU must have AVX2, and the slices the lengths [`patch_sums`] checks.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn patch_sums_avx2(
    b: &[f32],
    w: usize,
    (fx, fy): (f32, f32),
    (gx, gy, t): (&[f32], &[f32], &[f32]),
) -> [f32; 4] {
    use std::arch::x86_64::*;
    let (fx0, fx1) = (_mm256_set1_ps(1.0 - fx), _mm256_set1_ps(fx));
    let (fy0, fy1) = (_mm256_set1_ps(1.0 - fy), _mm256_set1_ps(fy));
    let (mut sd, mut sdd) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let (mut bx, mut by) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    for row in 0..LANES {
        let top = &b[row * w..][..LANES + 1];
        let bottom = &b[(row + 1) * w..][..LANES + 1];
        let at = row * LANES;
        let (gx, gy, t) = (&gx[at..][..LANES], &gy[at..][..LANES], &t[at..][..LANES]);
        // SAFETY: each load reads 8 values inside the slices cut to 9 or 8 above.
        let (top0, top1, bottom0, bottom1, gx, gy, t) = unsafe {
            (
                _mm256_loadu_ps(top.as_ptr()),
                _mm256_loadu_ps(top.as_ptr().add(1)),
                _mm256_loadu_ps(bottom.as_ptr()),
                _mm256_loadu_ps(bottom.as_ptr().add(1)),
                _mm256_loadu_ps(gx.as_ptr()),
                _mm256_loadu_ps(gy.as_ptr()),
                _mm256_loadu_ps(t.as_ptr()),
            )
        };
        let upper = _mm256_add_ps(_mm256_mul_ps(top0, fx0), _mm256_mul_ps(top1, fx1));
        let lower = _mm256_add_ps(_mm256_mul_ps(bottom0, fx0), _mm256_mul_ps(bottom1, fx1));
        let moved = _mm256_add_ps(_mm256_mul_ps(upper, fy0), _mm256_mul_ps(lower, fy1));
        let d = _mm256_sub_ps(moved, t);
        sd = _mm256_add_ps(sd, d);
        sdd = _mm256_add_ps(sdd, _mm256_mul_ps(d, d));
        bx = _mm256_add_ps(bx, _mm256_mul_ps(gx, d));
        by = _mm256_add_ps(by, _mm256_mul_ps(gy, d));
    }
    let lanes = |v: __m256| {
        let mut out = [0.0f32; LANES];
        // SAFETY: `out` holds 8 values.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), v) };
        out
    };
    [sd, sdd, bx, by].map(|v| across(lanes(v)))
}

/// How many rows of patches one stripe of [`Dis::patches`]'s sweeps holds.
const STRIPE_ROWS: usize = 12;

/// One patch of the first image, prepared for inverse-compositional Gauss-Newton: its
/// intensities and gradients ([`sobel`]), and its Hessian (of the gradients as they are, the
/// mean normalization applied to the right-hand side only, as OpenCV's DIS does).
struct Template {
    /// Per pixel, row by row: gradient x, gradient y and intensity, each in its own array.
    gx: Vec<f32>,
    gy: Vec<f32>,
    t: Vec<f32>,
    /// The sums of the gradients over the patch (for the mean normalization).
    sum: (f32, f32),
    /// The Hessian's entries `xx, xy, yy` and its determinant (0: too flat to search).
    h: (f32, f32, f32, f32),
    mean_normalization: bool,
}

impl Template {
    fn new(
        a: &Gray,
        grad: &[(f32, f32)],
        (px, py, ps): (usize, usize, usize),
        mean_normalization: bool,
    ) -> Template {
        let w = a.width;
        let (mut gxs, mut gys, mut ts) = (
            Vec::with_capacity(ps * ps),
            Vec::with_capacity(ps * ps),
            Vec::with_capacity(ps * ps),
        );
        let (mut hxx, mut hxy, mut hyy, mut sx, mut sy) = (0.0f32, 0.0f32, 0.0f32, 0.0f32, 0.0f32);
        for y in py..py + ps {
            for x in px..px + ps {
                let (gx, gy) = grad[y * w + x];
                hxx += gx * gx;
                hxy += gx * gy;
                hyy += gy * gy;
                sx += gx;
                sy += gy;
                gxs.push(gx);
                gys.push(gy);
                ts.push(a.at(x, y));
            }
        }
        let det = hxx * hyy - hxy * hxy;
        Template {
            gx: gxs,
            gy: gys,
            t: ts,
            sum: (sx, sy),
            h: (hxx, hxy, hyy, if det.abs() < 1e-3 { 0.0 } else { det }),
            mean_normalization,
        }
    }

    /// The patch's sum of squared differences against `patch` moved by `at` (less the
    /// mean difference's share with the mean normalization), and the Gauss-Newton right-hand
    /// side (the gradients times the differences).
    fn measure(&self, patch: &Patch, at: (f32, f32)) -> (f32, f32, f32) {
        let (sd, sdd, bx, by) = match self.lanes(patch, at) {
            Some(sums) => sums,
            None => {
                let (mut sd, mut sdd, mut bx, mut by) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
                patch.moved(at, &mut vec![0.0; patch.ps], |row, moved| {
                    for (c, moved) in moved.iter().enumerate() {
                        let k = row * patch.ps + c;
                        let d = moved - self.t[k];
                        sd += d;
                        sdd += d * d;
                        bx += self.gx[k] * d;
                        by += self.gy[k] * d;
                    }
                });
                (sd, sdd, bx, by)
            }
        };
        if self.mean_normalization {
            let n = self.t.len() as f32;
            let mean = sd / n;
            (
                sdd - sd * mean,
                bx - self.sum.0 * mean,
                by - self.sum.1 * mean,
            )
        } else {
            (sdd, bx, by)
        }
    }

    /// [`Template::measure`]'s sums for the common case, an 8x8 patch moved to lie inside the
    /// second image: the same bilinear values, summed in eight lanes (one per column, so that
    /// the compiler keeps them in vector registers) and then across; `None` otherwise.
    fn lanes(&self, patch: &Patch, at: (f32, f32)) -> Option<(f32, f32, f32, f32)> {
        if patch.ps != LANES {
            return None;
        }
        let ((x0, y0), fraction) = patch.placed(at)?;
        let w = patch.b.width;
        let [sd, sdd, bx, by] = patch_sums(
            &patch.b.data[y0 * w + x0..],
            w,
            fraction,
            (&self.gx, &self.gy, &self.t),
        );
        Some((sd, sdd, bx, by))
    }

    /// The displacement from `from` by at most `iterations` Gauss-Newton steps, as OpenCV's
    /// DIS takes them: each measured step is taken, and the search stops after the step whose
    /// starting point did not lower the error; `from` when the patch is too flat to search or
    /// the search goes further than the patch's side (a jump that far is more likely a wrong
    /// match than a motion).
    fn descend(&self, patch: &Patch, from: (f32, f32), iterations: usize) -> (f32, f32) {
        let (hxx, hxy, hyy, det) = self.h;
        if det == 0.0 {
            return from;
        }
        let (mut at, mut previous) = (from, f32::INFINITY);
        for _ in 0..iterations {
            let (ssd, bx, by) = self.measure(patch, at);
            let du = (hyy * bx - hxy * by) / det;
            let dv = (hxx * by - hxy * bx) / det;
            at = (at.0 - du, at.1 - dv);
            if ssd >= previous {
                break;
            }
            previous = ssd;
        }
        let (mu, mv) = (at.0 - from.0, at.1 - from.1);
        if mu * mu + mv * mv > (patch.ps * patch.ps) as f32 {
            from
        } else {
            at
        }
    }
}

struct Patch<'a> {
    b: &'a Gray,
    px: usize,
    py: usize,
    ps: usize,
}

impl Patch<'_> {
    /// Where the patch moved by `(u, v)` lies, when it lies inside `b` with the pixel to its
    /// right and below (what its bilinear samples read): its top-left pixel and the fraction
    /// of a pixel beyond it.
    fn placed(&self, (u, v): (f32, f32)) -> Option<((usize, usize), (f32, f32))> {
        let Patch { b, px, py, ps } = *self;
        let (x, y) = (px as f32 + u, py as f32 + v);
        let inside = x >= 0.0
            && y >= 0.0
            && x + ((ps - 1) as f32) < (b.width - 1) as f32
            && y + ((ps - 1) as f32) < (b.height - 1) as f32;
        // Not negative inside: truncation is the floor.
        let (x0, y0) = (x as usize, y as usize);
        inside.then_some(((x0, y0), (x - x0 as f32, y - y0 as f32)))
    }

    /// Calls `each` with every row of the patch (its number from the top, and its pixels'
    /// `b(x + u, y + v)` left to right). The whole patch moves by one `(u, v)`, so its
    /// bilinear weights are the same at every pixel: computed once when the moved patch lies
    /// inside `b` (the values equal [`bilinear`]'s), else pixel by pixel, clamped to the
    /// border. `values`: room for a row (at least the patch's side), reused between calls.
    fn moved(&self, (u, v): (f32, f32), values: &mut [f32], mut each: impl FnMut(usize, &[f32])) {
        let Patch { b, px, py, ps } = *self;
        let w = b.width;
        let values = &mut values[..ps];
        let Some(((x0, y0), (fx, fy))) = self.placed((u, v)) else {
            for row in 0..ps {
                for (k, value) in values.iter_mut().enumerate() {
                    let (x, y) = ((px + k) as f32, (py + row) as f32);
                    *value = b.sample(x + u, y + v);
                }
                each(row, values);
            }
            return;
        };
        for row in 0..ps {
            let rows = (y0 + row, y0 + row + 1, fy);
            for (k, value) in values.iter_mut().enumerate() {
                *value = Taps::of((x0 + k, x0 + k + 1, fx), rows, w).sample(&b.data, 1, 0);
            }
            each(row, values);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smooth texture with detail at several scales, moved by `(dx, dy)`.
    fn texture(w: usize, h: usize, (dx, dy): (f32, f32)) -> Gray {
        let f = |x: f32, y: f32| {
            128.0
                + 50.0 * (x * 0.11 + y * 0.07).sin()
                + 30.0 * (x * 0.031 - y * 0.05).cos()
                + 20.0 * (x * 0.23).sin() * (y * 0.19).cos()
        };
        let data = (0..h)
            .flat_map(|y| (0..w).map(move |x| f(x as f32 - dx, y as f32 - dy)))
            .collect();
        Gray {
            width: w,
            height: h,
            data,
        }
    }

    #[test]
    fn a_patchs_sums_in_vector_registers_are_the_plain_ones_and_the_bilinear_ones() {
        let (w, h) = (23usize, 17usize);
        let image = texture(w, h, (0.3, 0.7));
        let template = |k: usize, salt: f32| (k as f32 * 0.37 + salt).sin() * 40.0;
        let gx: Vec<f32> = (0..64).map(|k| template(k, 0.1)).collect();
        let gy: Vec<f32> = (0..64).map(|k| template(k, 1.3)).collect();
        let t: Vec<f32> = (0..64).map(|k| 128.0 + template(k, 2.9)).collect();
        for (x0, y0, fx, fy) in [(0, 0, 0.0, 0.0), (3, 5, 0.25, 0.75), (14, 8, 0.9, 0.1)] {
            let b = &image.data[y0 * w + x0..];
            let plain = patch_sums_plain(b, w, (fx, fy), (&gx, &gy, &t));
            assert_eq!(patch_sums(b, w, (fx, fy), (&gx, &gy, &t)), plain);
            // Against the bilinear samples summed one pixel at a time.
            let mut expected = [0.0f64; 4];
            for k in 0..64 {
                let (x, y) = ((x0 + k % 8) as f32 + fx, (y0 + k / 8) as f32 + fy);
                let d = (image.sample(x, y) - t[k]) as f64;
                expected[0] += d;
                expected[1] += d * d;
                expected[2] += gx[k] as f64 * d;
                expected[3] += gy[k] as f64 * d;
            }
            for (got, want) in plain.iter().zip(expected) {
                let scale = want.abs().max(1.0);
                assert!(
                    ((*got as f64 - want) / scale).abs() < 1e-4,
                    "{plain:?} against {expected:?}"
                );
            }
        }
    }

    #[test]
    fn shifts_are_found_to_a_fraction_of_a_pixel() {
        for shift in [(3.0, 0.0), (-2.5, 1.5), (7.0, -4.0)] {
            let (a, b) = (texture(96, 64, (0.0, 0.0)), texture(96, 64, shift));
            let flow = Dis::default().flow(&a, &b);
            let truth = Flow {
                width: 96,
                height: 64,
                u: vec![shift.0; 96 * 64],
                v: vec![shift.1; 96 * 64],
            };
            // Away from the borders the shift uncovers.
            let epe = flow.endpoint_error(&truth, |x, y| {
                (10..86).contains(&x) && (10..54).contains(&y)
            });
            assert!(epe < 0.25, "{shift:?}: endpoint error {epe}");
        }
    }

    #[test]
    fn the_refinement_lowers_the_error_of_a_zoom() {
        // b is a zoomed 4% about the centre: a(x) ~ b(c + 1.04 (x - c)).
        let (w, h) = (128usize, 96usize);
        let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
        let a = texture(w, h, (0.0, 0.0));
        let zoomed = |x: f32, y: f32| {
            let (sx, sy) = (cx + (x - cx) / 1.04, cy + (y - cy) / 1.04);
            a.sample(sx, sy)
        };
        let b = Gray {
            width: w,
            height: h,
            data: (0..h)
                .flat_map(|y| (0..w).map(move |x| (x as f32, y as f32)))
                .map(|(x, y)| zoomed(x, y))
                .collect(),
        };
        let truth = Flow {
            width: w,
            height: h,
            u: (0..w * h).map(|i| 0.04 * ((i % w) as f32 - cx)).collect(),
            v: (0..w * h).map(|i| 0.04 * ((i / w) as f32 - cy)).collect(),
        };
        let inside = |x: usize, y: usize| (12..w - 12).contains(&x) && (12..h - 12).contains(&y);
        let plain = Dis {
            refinement: 0,
            ..Dis::default()
        }
        .flow(&a, &b)
        .endpoint_error(&truth, inside);
        let refined = Dis::default().flow(&a, &b).endpoint_error(&truth, inside);
        assert!(
            refined < 0.8 * plain,
            "refined {refined} against {plain} without the refinement"
        );
    }
}
