//! Direct convolution for the layers with few output channels (at most [`MAX_OUT`]: the
//! feed-forward networks' last layers, 9x9 into 3 channels, 3x3 into 4 or 8, at the full
//! size). There a matrix multiply spends its time gathering `cin k k` values per pixel for a
//! handful of multiply-adds each, and Winograd its time in transforms; here each output row
//! keeps sixteen pixels (eight past four channels) of every output channel in registers and
//! walks the kernel's taps, so each input value loaded feeds one multiply-add per output
//! channel.
//!
//! Stride 1, no bias, on a map already padded (a valid convolution).

use rayon::prelude::*;

/// The most output channels [`DirectConv`] handles.
pub(crate) const MAX_OUT: usize = 8;

/// A stride-1 convolution without bias into at most [`MAX_OUT`] channels.
pub(crate) struct DirectConv {
    /// The weights as `[cin][k][k][cout]`: a tap's output channels side by side.
    weight: Vec<f32>,
    cout: usize,
    cin: usize,
    k: usize,
}

impl DirectConv {
    /// The convolution with `weight` (`[cout][cin][k][k]`, `shape` its sizes; `cout` at
    /// most [`MAX_OUT`]).
    pub(crate) fn new(weight: &[f32], shape: [usize; 4]) -> Self {
        let [cout, cin, k, _] = shape;
        assert!(
            (1..=MAX_OUT).contains(&cout),
            "the direct kernel's output channels"
        );
        let taps = k * k;
        let mut by_tap = vec![0.0f32; weight.len()];
        for co in 0..cout {
            for ci in 0..cin {
                for tap in 0..taps {
                    by_tap[(ci * taps + tap) * cout + co] = weight[(co * cin + ci) * taps + tap];
                }
            }
        }
        DirectConv {
            weight: by_tap,
            cout,
            cin,
            k,
        }
    }

    /// The convolution of `padded` (`[cin][h][w]`) without padding: `[cout][h - k + 1][w - k
    /// + 1]`, rows in parallel.
    pub(crate) fn forward(&self, padded: &[f32], h: usize, w: usize) -> Vec<f32> {
        let (cout, k) = (self.cout, self.k);
        assert_eq!(padded.len(), self.cin * h * w, "the padded map's size");
        let (ho, wo) = (h + 1 - k, w + 1 - k);
        // Row by row ([ho][cout][wo]), each row written by one task, then to [cout][ho][wo].
        let mut rows = vec![0.0f32; ho * cout * wo];
        rows.par_chunks_mut(cout * wo)
            .enumerate()
            .for_each(|(y, out)| row(self, padded, (h, w), y, out));
        let mut out = vec![0.0f32; cout * ho * wo];
        out.par_chunks_mut(ho * wo)
            .enumerate()
            .for_each(|(co, plane)| {
                for (y, dst) in plane.chunks_exact_mut(wo).enumerate() {
                    dst.copy_from_slice(&rows[(y * cout + co) * wo..][..wo]);
                }
            });
        out
    }
}

simd_kernel! {
    /// Output row `y` of every channel (`out`: `[cout][wo]`).
    fn row(conv: &DirectConv, padded: &[f32], size: (usize, usize), y: usize, out: &mut [f32]) {
        match conv.cout {
            // Up to four channels, sixteen pixels at a time (two vectors per channel, each
            // weight loaded once for both); more, eight.
            1 => row_of::<1, 16>(conv, padded, size, y, out),
            2 => row_of::<2, 16>(conv, padded, size, y, out),
            3 => row_of::<3, 16>(conv, padded, size, y, out),
            4 => row_of::<4, 16>(conv, padded, size, y, out),
            5 => row_of::<5, 8>(conv, padded, size, y, out),
            6 => row_of::<6, 8>(conv, padded, size, y, out),
            7 => row_of::<7, 8>(conv, padded, size, y, out),
            _ => row_of::<8, 8>(conv, padded, size, y, out),
        }
    }
}

/// [`row`] for `CO` output channels: `PX` pixels of each in registers at a time, over every
/// tap; the row's last `wo % PX` pixels one at a time.
#[inline(always)]
fn row_of<const CO: usize, const PX: usize>(
    conv: &DirectConv,
    padded: &[f32],
    (h, w): (usize, usize),
    y: usize,
    out: &mut [f32],
) {
    let (cin, k) = (conv.cin, conv.k);
    let wo = w + 1 - k;
    let tap_weights = |ci: usize, ky: usize| &conv.weight[(ci * k + ky) * k * CO..][..k * CO];
    let source = |ci: usize, ky: usize| &padded[(ci * h + y + ky) * w..][..w];
    let full = wo / PX * PX;
    for x0 in (0..full).step_by(PX) {
        let mut acc = [[0.0f32; PX]; CO];
        for ci in 0..cin {
            for ky in 0..k {
                let (line, weights) = (&source(ci, ky)[x0..], tap_weights(ci, ky));
                for kx in 0..k {
                    let input: &[f32; PX] = line[kx..][..PX].try_into().expect("PX values");
                    let wk: &[f32; CO] = weights[kx * CO..][..CO].try_into().expect("CO values");
                    for (a, &wv) in acc.iter_mut().zip(wk) {
                        fma(a, wv, input);
                    }
                }
            }
        }
        for (co, a) in acc.iter().enumerate() {
            out[co * wo + x0..][..PX].copy_from_slice(a);
        }
    }
    for x in full..wo {
        let mut acc = [0.0f32; CO];
        for ci in 0..cin {
            for ky in 0..k {
                let (line, weights) = (source(ci, ky), tap_weights(ci, ky));
                for kx in 0..k {
                    for (co, a) in acc.iter_mut().enumerate() {
                        *a += weights[kx * CO + co] * line[x + kx];
                    }
                }
            }
        }
        for (co, a) in acc.into_iter().enumerate() {
            out[co * wo + x] = a;
        }
    }
}

/// `acc += w input`, lane by lane (fused multiply-add instructions where the CPU has them).
#[inline(always)]
fn fma<const PX: usize>(acc: &mut [f32; PX], w: f32, input: &[f32; PX]) {
    for (a, &v) in acc.iter_mut().zip(input) {
        *a = w.mul_add(v, *a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the definition, summed in f64, on every channel count and odd sizes.
    #[test]
    fn equals_the_definition() {
        let mut seed = 7u32;
        let mut random = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        for (cout, cin, k, h, w) in [
            (3, 4, 9, 20, 29),
            (8, 5, 3, 7, 19),
            (1, 2, 3, 3, 3),
            (5, 3, 5, 9, 12),
        ] {
            let weight: Vec<f32> = (0..cout * cin * k * k).map(|_| random()).collect();
            let x: Vec<f32> = (0..cin * h * w).map(|_| random()).collect();
            let got = DirectConv::new(&weight, [cout, cin, k, k]).forward(&x, h, w);
            let (ho, wo) = (h + 1 - k, w + 1 - k);
            for co in 0..cout {
                for y in 0..ho {
                    for xx in 0..wo {
                        let mut want = 0.0f64;
                        for ci in 0..cin {
                            for ky in 0..k {
                                for kx in 0..k {
                                    want += weight[((co * cin + ci) * k + ky) * k + kx] as f64
                                        * x[(ci * h + y + ky) * w + xx + kx] as f64;
                                }
                            }
                        }
                        let g = got[(co * ho + y) * wo + xx] as f64;
                        assert!((g - want).abs() < 1e-5, "{cout} {cin} {k}: {g} vs {want}");
                    }
                }
            }
        }
    }
}
