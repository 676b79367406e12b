//! Temporal consistency between stylized frames: moving a frame by a flow, which pixels a
//! flow can be trusted at (Ruder, Dosovitskiy and Brox, "Artistic style transfer for videos",
//! 2016: the forward-backward check and motion boundaries), blending the previous output,
//! moved by the flow, into the current one where it can, and the measures: warping error
//! (Lai et al., "Learning Blind Video Temporal Consistency", 2018) and sharpness.

use image::{Rgb, Rgb32FImage, RgbImage};
use rayon::prelude::*;

use crate::video::flow::{Flow, Taps};

/// Where a flow can be trusted: 1 where the forward-backward check passes, away from motion
/// boundaries and inside the frame, 0 elsewhere (one value per pixel of the flow's frame).
///
/// `back` is the flow from the current frame to the previous one (for each pixel `x` of the
/// current frame, `x + back(x)` in the previous), `forth` the flow from the previous frame to
/// the current one. After Ruder et al.: unreliable where
/// `|back + forth(x + back)|^2 >= 0.01 (|back|^2 + |forth|^2) + 0.5` (occluded), or where
/// `|grad u|^2 + |grad v|^2 > 0.01 |back|^2 + 0.002` (a motion boundary), or where
/// `x + back(x)` is outside the frame.
pub fn reliable(back: &Flow, forth: &Flow) -> Vec<f32> {
    let (w, h) = (back.width, back.height);
    let mut mask = vec![0.0f32; w * h];
    mask.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        for (x, m) in row.iter_mut().enumerate() {
            let i = y * w + x;
            let (bu, bv) = (back.u[i], back.v[i]);
            let (tx, ty) = (x as f32 + bu, y as f32 + bv);
            if tx < 0.0 || ty < 0.0 || tx > (w - 1) as f32 || ty > (h - 1) as f32 {
                continue;
            }
            let (fu, fv) = forth.sample(tx, ty);
            let (su, sv) = (bu + fu, bv + fv);
            let back2 = bu * bu + bv * bv;
            if su * su + sv * sv >= 0.01 * (back2 + fu * fu + fv * fv) + 0.5 {
                continue;
            }
            let d = |p: &[f32], dx: isize, dy: isize| {
                let xx = (x as isize + dx).clamp(0, w as isize - 1) as usize;
                let yy = (y as isize + dy).clamp(0, h as isize - 1) as usize;
                p[yy * w + xx]
            };
            let grad2 = |p: &[f32]| {
                let gx = (d(p, 1, 0) - d(p, -1, 0)) / 2.0;
                let gy = (d(p, 0, 1) - d(p, 0, -1)) / 2.0;
                gx * gx + gy * gy
            };
            if grad2(&back.u) + grad2(&back.v) > 0.01 * back2 + 0.002 {
                continue;
            }
            *m = 1.0;
        }
    });
    mask
}

/// `previous` moved into the current frame: each pixel `x` takes `previous(x + back(x))`,
/// bilinear (clamped to the border; [`reliable`] says where that is meaningful).
pub fn warp(previous: &Rgb32FImage, back: &Flow) -> Rgb32FImage {
    let (w, h) = (back.width, back.height);
    let source = previous.as_raw();
    let mut out = vec![0.0f32; 3 * w * h];
    out.par_chunks_mut(3 * w).enumerate().for_each(|(y, row)| {
        for (x, p) in row.chunks_exact_mut(3).enumerate() {
            let i = y * w + x;
            let taps = Taps::at(w, h, x as f32 + back.u[i], y as f32 + back.v[i]);
            for (c, value) in p.iter_mut().enumerate() {
                *value = taps.sample(source, 3, c);
            }
        }
    });
    Rgb32FImage::from_raw(w as u32, h as u32, out).expect("3 values a pixel")
}

/// The current output: `stylized` where the flow cannot be trusted, and
/// `(1 - strength) stylized + strength warped` where it can (`mask` from [`reliable`]).
pub fn blend(
    stylized: &Rgb32FImage,
    warped: &Rgb32FImage,
    mask: &[f32],
    strength: f32,
) -> Rgb32FImage {
    let w = stylized.width() as usize;
    Rgb32FImage::from_fn(stylized.width(), stylized.height(), |x, y| {
        let a = strength * mask[y as usize * w + x as usize];
        let (s, p) = (stylized.get_pixel(x, y).0, warped.get_pixel(x, y).0);
        Rgb([0, 1, 2].map(|c| (1.0 - a) * s[c] + a * p[c]))
    })
}

/// `blended` with its local contrast brought back to `reference`'s: averaging two pictures
/// whose brush strokes differ lowers the contrast of both (the result looks smeared), so each
/// value's distance from its neighbourhood's mean (a `2 radius + 1` square, per channel) is
/// scaled by the ratio of the two pictures' local standard deviations (at least 1, at most
/// 2): the blend keeps its colours and the previous frame's strokes, with the sharpness of
/// a single frame.
pub fn restore_contrast(
    blended: &Rgb32FImage,
    reference: &Rgb32FImage,
    radius: usize,
) -> Rgb32FImage {
    let (w, h) = (blended.width() as usize, blended.height() as usize);
    let (b, r) = (blended.as_raw().as_slice(), reference.as_raw().as_slice());
    let row_len = 3 * w;
    let mut out = vec![0.0f32; 3 * w * h];
    // Bands of output rows side by side; each band sums its rows (and `radius` more each
    // way) across their columns once, then down the window of each of its rows.
    out.par_chunks_mut(CONTRAST_BAND * row_len)
        .enumerate()
        .for_each_init(Vec::new, |across: &mut Vec<[f64; 4]>, (band, rows)| {
            let first = band * CONTRAST_BAND;
            let last = first + rows.len() / row_len;
            let (top, bottom) = (first.saturating_sub(radius), (last + radius).min(h));
            across.resize((bottom - top) * row_len, [0.0; 4]);
            for (y, sums) in (top..bottom).zip(across.chunks_exact_mut(row_len)) {
                let (b, r) = (&b[y * row_len..][..row_len], &r[y * row_len..][..row_len]);
                for x in 0..w {
                    for c in 0..3 {
                        let mut s = [0.0f64; 4];
                        for xx in window(x, radius, w) {
                            let (vb, vr) = (b[3 * xx + c] as f64, r[3 * xx + c] as f64);
                            s[0] += vb;
                            s[1] += vb * vb;
                            s[2] += vr;
                            s[3] += vr * vr;
                        }
                        sums[3 * x + c] = s;
                    }
                }
            }
            for (y, row) in (first..last).zip(rows.chunks_exact_mut(row_len)) {
                let down = window(y, radius, h);
                for (i, value) in row.iter_mut().enumerate() {
                    let n = (down.len() * window(i / 3, radius, w).len()) as f64;
                    let mut s = [0.0f64; 4];
                    for yy in down.clone() {
                        let t = across[(yy - top) * row_len + i];
                        for k in 0..4 {
                            s[k] += t[k];
                        }
                    }
                    let (mb, mr) = (s[0] / n, s[2] / n);
                    let vb = (s[1] / n - mb * mb).max(0.0);
                    let vr = (s[3] / n - mr * mr).max(0.0);
                    let gain = ((vr + 1e-8) / (vb + 1e-8)).sqrt().clamp(1.0, 2.0);
                    let v = b[y * row_len + i] as f64;
                    *value = (mb + gain * (v - mb)).clamp(0.0, 1.0) as f32;
                }
            }
        });
    Rgb32FImage::from_raw(w as u32, h as u32, out).expect("3 values a pixel")
}

/// The `2 radius + 1` indices around `at`, clipped to `0..len`.
fn window(at: usize, radius: usize, len: usize) -> std::ops::Range<usize> {
    at.saturating_sub(radius)..(at + radius + 1).min(len)
}

/// Output rows per band of [`restore_contrast`] (its sums across a band's rows stay in a
/// core's cache).
const CONTRAST_BAND: usize = 8;

/// The warping error of Lai et al. 2018 between consecutive outputs: the mean squared
/// difference (0-1 values, averaged over channels) between `current` and `previous` moved by
/// `back` (the true flow from the current frame to the previous), over the pixels `mask`
/// marks (visible in both).
pub fn warping_error(current: &RgbImage, previous: &RgbImage, back: &Flow, mask: &[f32]) -> f64 {
    let warped = warp(&to_float(previous), back);
    let (mut sum, mut n) = (0.0f64, 0.0f64);
    for (i, (p, q)) in current.pixels().zip(warped.pixels()).enumerate() {
        if mask[i] > 0.0 {
            for c in 0..3 {
                let d = p.0[c] as f64 / 255.0 - q.0[c] as f64;
                sum += d * d / 3.0;
            }
            n += 1.0;
        }
    }
    sum / n.max(1.0)
}

/// Sharpness: the mean gradient magnitude (`|dx| + |dy|` of the luminance, 0-1 values).
pub fn sharpness(image: &RgbImage) -> f64 {
    let (w, h) = image.dimensions();
    let lum = |x: u32, y: u32| {
        let p = image.get_pixel(x, y).0;
        (0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64) / 255.0
    };
    let mut sum = 0.0;
    for y in 0..h - 1 {
        for x in 0..w - 1 {
            sum += (lum(x + 1, y) - lum(x, y)).abs() + (lum(x, y + 1) - lum(x, y)).abs();
        }
    }
    sum / ((w - 1) * (h - 1)) as f64
}

/// An 8-bit image as 0-1 floats.
pub fn to_float(image: &RgbImage) -> Rgb32FImage {
    Rgb32FImage::from_fn(image.width(), image.height(), |x, y| {
        Rgb(image.get_pixel(x, y).0.map(|v| v as f32 / 255.0))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`restore_contrast`] pixel by pixel: each neighbourhood's moments summed directly.
    fn restored_directly(blended: &Rgb32FImage, reference: &Rgb32FImage, radius: i64) -> Vec<f32> {
        let (w, h) = (blended.width() as i64, blended.height() as i64);
        let mut out = Vec::new();
        for y in 0..h {
            for x in 0..w {
                for c in 0..3 {
                    let moments = |image: &Rgb32FImage| {
                        let (mut n, mut sum, mut squares) = (0.0, 0.0, 0.0);
                        for yy in (y - radius).max(0)..(y + radius + 1).min(h) {
                            for xx in (x - radius).max(0)..(x + radius + 1).min(w) {
                                let v = image.get_pixel(xx as u32, yy as u32).0[c] as f64;
                                n += 1.0;
                                sum += v;
                                squares += v * v;
                            }
                        }
                        let mean = sum / n;
                        (mean, (squares / n - mean * mean).max(0.0))
                    };
                    let ((mb, vb), (_, vr)) = (moments(blended), moments(reference));
                    let gain = ((vr + 1e-8) / (vb + 1e-8)).sqrt().clamp(1.0, 2.0);
                    let v = blended.get_pixel(x as u32, y as u32).0[c] as f64;
                    out.push((mb + gain * (v - mb)).clamp(0.0, 1.0) as f32);
                }
            }
        }
        out
    }

    #[test]
    fn contrast_is_restored_as_each_neighbourhood_measures_it() {
        // Taller than a band of rows, so that bands meet; a smooth blend against a
        // textured reference, so that gains between 1 and 2 and the clamps all occur.
        let (w, h) = (23u32, 29u32);
        let wave = |x: u32, y: u32, c: usize, f: f32| {
            (0.5 + 0.45 * ((x as f32 * f + y as f32 * 0.7 + c as f32).sin())).clamp(0.0, 1.0)
        };
        let blended = Rgb32FImage::from_fn(w, h, |x, y| Rgb([0, 1, 2].map(|c| wave(x, y, c, 0.3))));
        let reference =
            Rgb32FImage::from_fn(w, h, |x, y| Rgb([0, 1, 2].map(|c| wave(x, y, c, 2.1))));
        for radius in [1, 2] {
            let got = restore_contrast(&blended, &reference, radius);
            let want = restored_directly(&blended, &reference, radius as i64);
            for (i, (a, b)) in got.as_raw().iter().zip(&want).enumerate() {
                assert!(
                    (a - b).abs() < 1e-6,
                    "radius {radius}, value {i}: {a} against {b}"
                );
            }
            let changed = got
                .as_raw()
                .iter()
                .zip(blended.as_raw())
                .filter(|(a, b)| a != b);
            assert!(
                changed.count() > got.as_raw().len() / 2,
                "the contrast is raised"
            );
        }
    }
}
