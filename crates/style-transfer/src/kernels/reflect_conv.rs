//! Convolutions over reflect-padded feature maps on host memory, the building block of the
//! feed-forward networks' CPU paths ([`crate::feedforward::multistyle::cpu`], [`crate::feedforward::arbitrary::cpu`]):
//! the 3x3 stride-1 convolutions by Winograd F(4x4, 3x3) ([`crate::kernels::winograd`], on the
//! reflect-padded map, the border cropped); those into at most 8 channels (the networks' last
//! layers) directly ([`crate::kernels::direct_conv`]); the others (9x9, stride 2) as matrix
//! multiplies over bands of output rows (`im2col` of one band at a time, the padding read in
//! place, so the 9x9 layers at full size never build their whole 243-row matrix).

use gemm::{Parallelism, gemm};
use rayon::prelude::*;

use crate::kernels::buffers::{Buffers, Shared};
use crate::kernels::direct_conv::{self, DirectConv};
use crate::kernels::winograd::Conv3x3;

/// Floats of one band's `im2col` matrix at most (1 MiB: stays in a core's cache).
const BAND_FLOATS: usize = 1 << 18;

/// A feature map: `[c][h][w]`.
pub(crate) struct Map {
    pub(crate) data: Vec<f32>,
    pub(crate) c: usize,
    pub(crate) h: usize,
    pub(crate) w: usize,
}

/// A convolution without bias over its input reflect-padded by half its kernel.
pub(crate) struct ReflectConv {
    /// `[cout][cin][k][k]`.
    weight: Vec<f32>,
    cout: usize,
    k: usize,
    stride: usize,
    /// The filters in Winograd form, for 3x3 stride 1 into more than 8 channels.
    winograd: Option<Conv3x3>,
    /// The direct kernel, for stride 1 into at most 8 channels.
    direct: Option<DirectConv>,
}

impl ReflectConv {
    /// The convolution with `weight` of `shape` `[cout, cin, k, k]` at `stride`.
    pub(crate) fn new(weight: &[f32], shape: [usize; 4], stride: usize) -> Self {
        let [cout, cin, k, _] = shape;
        let direct =
            (stride == 1 && cout <= direct_conv::MAX_OUT).then(|| DirectConv::new(weight, shape));
        ReflectConv {
            weight: weight.to_vec(),
            cout,
            k,
            stride,
            winograd: (k == 3 && stride == 1 && direct.is_none())
                .then(|| Conv3x3::new(weight, &vec![0.0; cout], cout, cin)),
            direct,
        }
    }

    /// The convolution of `x` reflect-padded by `k / 2`.
    pub(crate) fn forward(&self, x: &Map, buffers: &mut Buffers) -> Map {
        if self.winograd.is_some() || self.direct.is_some() {
            // Winograd pads with zeros: run it on the reflect-padded map and keep the
            // interior, which only ever reads the reflected values; the direct kernel reads
            // the padding as it is.
            self.forward_valid(&pad_reflect(x, self.k / 2), buffers)
        } else {
            conv(x, self.k / 2, &self.weight, self.cout, self.k, self.stride)
        }
    }

    /// Half the kernel: the padding the convolution reads on each side.
    pub(crate) fn pad(&self) -> usize {
        self.k / 2
    }

    /// The stride.
    pub(crate) fn stride(&self) -> usize {
        self.stride
    }

    /// The convolution of a map already padded by [`ReflectConv::pad`] (a band of rows with
    /// their neighbours, say), without padding it again: `(h - k) / stride + 1` rows out.
    /// [`ReflectConv::forward`] runs its 3x3 stride-1 convolutions through this.
    pub(crate) fn forward_valid(&self, padded: &Map, buffers: &mut Buffers) -> Map {
        if let Some(direct) = &self.direct {
            return Map {
                data: direct.forward(&padded.data, padded.h, padded.w),
                c: self.cout,
                h: padded.h + 1 - self.k,
                w: padded.w + 1 - self.k,
            };
        }
        match &self.winograd {
            Some(conv3) => {
                let full = conv3.forward(&padded.data, padded.h, padded.w, false, buffers);
                let cropped = crop1(&full, self.cout, padded.h, padded.w);
                buffers.give(full);
                Map {
                    data: cropped,
                    c: self.cout,
                    h: padded.h - 2,
                    w: padded.w - 2,
                }
            }
            None => conv(padded, 0, &self.weight, self.cout, self.k, self.stride),
        }
    }
}

/// The interior of a `[c][h][w]` map without its one-pixel border.
fn crop1(full: &[f32], c: usize, h: usize, w: usize) -> Vec<f32> {
    let (hi, wi) = (h - 2, w - 2);
    let mut out = vec![0.0f32; c * hi * wi];
    out.par_chunks_mut(hi * wi)
        .zip(full.par_chunks(h * w))
        .for_each(|(o, f)| {
            for (y, row) in o.chunks_mut(wi).enumerate() {
                row.copy_from_slice(&f[(y + 1) * w + 1..][..wi]);
            }
        });
    out
}

/// Mirror index of `i` in `0..n` (reflection without repeating the edge, as ONNX's
/// `reflect`; `i` at most `n - 1` outside).
pub(crate) fn reflect(i: isize, n: usize) -> usize {
    let n = n as isize;
    (if i < 0 {
        -i
    } else if i >= n {
        2 * (n - 1) - i
    } else {
        i
    }) as usize
}

/// `x` padded by `p` on every side by reflection.
fn pad_reflect(x: &Map, p: usize) -> Map {
    let (hp, wp) = (x.h + 2 * p, x.w + 2 * p);
    let mut data = vec![0.0f32; x.c * hp * wp];
    data.par_chunks_mut(hp * wp)
        .zip(x.data.par_chunks(x.h * x.w))
        .for_each(|(out, src)| {
            for (yy, row) in out.chunks_mut(wp).enumerate() {
                let sy = reflect(yy as isize - p as isize, x.h);
                let line = &src[sy * x.w..(sy + 1) * x.w];
                for (xx, v) in row.iter_mut().enumerate() {
                    *v = line[reflect(xx as isize - p as isize, x.w)];
                }
            }
        });
    Map {
        data,
        c: x.c,
        h: hp,
        w: wp,
    }
}

/// Nearest-neighbour 2x upsampling (every pixel becomes a 2x2 block).
pub(crate) fn upsample2(x: &Map) -> Map {
    let (h2, w2) = (2 * x.h, 2 * x.w);
    let mut data = vec![0.0f32; x.c * h2 * w2];
    data.par_chunks_mut(h2 * w2)
        .zip(x.data.par_chunks(x.h * x.w))
        .for_each(|(out, src)| {
            for (yy, row) in out.chunks_mut(w2).enumerate() {
                let line = &src[(yy / 2) * x.w..(yy / 2 + 1) * x.w];
                for (xx, v) in row.iter_mut().enumerate() {
                    *v = line[xx / 2];
                }
            }
        });
    Map {
        data,
        c: x.c,
        h: h2,
        w: w2,
    }
}

/// `line` reordered by column phase into `out` (as long): columns 0, `stride`, 2 `stride`,
/// ..., then 1, 1 + `stride`, ..., and so on.
fn split_phases(line: &[f32], stride: usize, out: &mut [f32]) {
    if stride == 2 {
        // The networks' only stride, in pairs (which the compiler vectorizes).
        let (even, odd) = out.split_at_mut(line.len().div_ceil(2));
        for ((e, o), pair) in even
            .iter_mut()
            .zip(odd.iter_mut())
            .zip(line.chunks_exact(2))
        {
            *e = pair[0];
            *o = pair[1];
        }
        if line.len() % 2 == 1 {
            even[line.len() / 2] = line[line.len() - 1];
        }
        return;
    }
    let mut at = 0;
    for p in 0..stride {
        for v in line[p..].iter().step_by(stride) {
            out[at] = *v;
            at += 1;
        }
    }
}

/// Where column `column` of a row of `w` values lies in the row split by [`split_phases`].
fn phase_start(column: usize, stride: usize, w: usize) -> usize {
    let p = column % stride;
    (0..p).map(|q| (w - q).div_ceil(stride)).sum::<usize>() + column / stride
}

/// Convolution of `x`, reflect-padded by `pad`, with `weight` (`[cout][cin][k][k]`, no
/// bias) at `stride`: each band of output rows gathers its `[cin k k][pixels]` matrix (the
/// padding read in place, never copied) and multiplies it with the weights, bands in
/// parallel.
fn conv(x: &Map, pad: usize, weight: &[f32], cout: usize, k: usize, stride: usize) -> Map {
    let (ho, wo) = (
        (x.h + 2 * pad - k) / stride + 1,
        (x.w + 2 * pad - k) / stride + 1,
    );
    let inner = x.c * k * k;
    // The source column of each output column, per kernel column (reflection at the edges).
    let columns: Vec<Vec<usize>> = (0..k)
        .map(|kx| {
            (0..wo)
                .map(|c| reflect((c * stride + kx) as isize - pad as isize, x.w))
                .collect()
        })
        .collect();
    // Per kernel column, the output columns lo..hi that read x's columns c stride + kx - pad
    // inside the map (one after the other, in the row's phase when strided), and where the
    // first of them is in the split row; only the edges outside them are reflected.
    let inside: Vec<(usize, usize, usize)> = (0..k)
        .map(|kx| {
            let lo = (pad.saturating_sub(kx)).div_ceil(stride);
            let hi = (x.w + pad)
                .checked_sub(kx + 1)
                .map_or(0, |last| last / stride + 1)
                .min(wo);
            let first = match lo < hi {
                true => phase_start(lo * stride + kx - pad, stride, x.w),
                false => 0,
            };
            (lo, hi, first)
        })
        .collect();
    let rows = (BAND_FLOATS / (inner * wo)).clamp(1, ho);
    let mut data = vec![0.0f32; cout * ho * wo];
    let out = Shared(data.as_mut_ptr());
    (0..ho.div_ceil(rows)).into_par_iter().for_each_init(
        || (Vec::new(), Vec::new()),
        |(col, split): &mut (Vec<f32>, Vec<f32>), band| {
            let (r0, r1) = (band * rows, ((band + 1) * rows).min(ho));
            let n = (r1 - r0) * wo;
            col.resize(inner * n, 0.0);
            for ci in 0..x.c {
                for ky in 0..k {
                    for r in r0..r1 {
                        let sy = reflect((r * stride + ky) as isize - pad as isize, x.h);
                        let line = &x.data[(ci * x.h + sy) * x.w..][..x.w];
                        // Strided, the row split into its phases once for the k kernel
                        // columns, each of which then reads one contiguous run.
                        // (At stride 1 the row is its own single phase.)
                        let source: &[f32] = if stride == 1 {
                            line
                        } else {
                            split.resize(x.w, 0.0);
                            split_phases(line, stride, split);
                            split
                        };
                        for (kx, &(lo, hi, first)) in inside.iter().enumerate() {
                            let dst = &mut col[((ci * k + ky) * k + kx) * n..][..n];
                            let dst = &mut dst[(r - r0) * wo..][..wo];
                            if lo < hi {
                                dst[lo..hi].copy_from_slice(&source[first..first + hi - lo]);
                            }
                            for c in (0..lo).chain(hi.max(lo)..wo) {
                                dst[c] = line[columns[kx][c]];
                            }
                        }
                    }
                }
            }
            // out[co][r0 * wo + i] = sum_kk col[kk][i] * weight[co][kk]: the pixels as the
            // rows of the product (the kernels' long side), the channels as its columns.
            // SAFETY: this band writes only out[co][r0 * wo .. r1 * wo] of every channel,
            // disjoint between bands and inside `data`; `col` holds inner x n values and
            // `weight` cout x inner.
            unsafe {
                gemm(
                    n,
                    cout,
                    inner,
                    out.ptr().add(r0 * wo),
                    (ho * wo) as isize,
                    1,
                    false,
                    col.as_ptr(),
                    n as isize,
                    1,
                    weight.as_ptr(),
                    inner as isize,
                    1,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    Parallelism::None,
                );
            }
        },
    );
    Map {
        data,
        c: cout,
        h: ho,
        w: wo,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The convolution summed pixel by pixel, the padding by [`reflect`].
    fn naive(x: &Map, pad: usize, weight: &[f32], cout: usize, k: usize, stride: usize) -> Map {
        let (ho, wo) = (
            (x.h + 2 * pad - k) / stride + 1,
            (x.w + 2 * pad - k) / stride + 1,
        );
        let mut data = vec![0.0f32; cout * ho * wo];
        for co in 0..cout {
            for r in 0..ho {
                for c in 0..wo {
                    let mut sum = 0.0f64;
                    for ci in 0..x.c {
                        for ky in 0..k {
                            for kx in 0..k {
                                let sy = reflect((r * stride + ky) as isize - pad as isize, x.h);
                                let sx = reflect((c * stride + kx) as isize - pad as isize, x.w);
                                let w = weight[((co * x.c + ci) * k + ky) * k + kx];
                                sum += (w * x.data[(ci * x.h + sy) * x.w + sx]) as f64;
                            }
                        }
                    }
                    data[(co * ho + r) * wo + c] = sum as f32;
                }
            }
        }
        Map {
            data,
            c: cout,
            h: ho,
            w: wo,
        }
    }

    #[test]
    fn strided_convolutions_match_the_sum_pixel_by_pixel() {
        let value = |i: usize| ((i * 7919) % 23) as f32 / 23.0 - 0.4;
        // Odd and even widths, the networks' stride 2 and a stride of 3.
        for (w, h, k, stride) in [(13, 9, 3, 2), (12, 10, 3, 2), (17, 11, 5, 3), (10, 7, 3, 1)] {
            let (cin, cout) = (3, 4);
            let x = Map {
                data: (0..cin * h * w).map(value).collect(),
                c: cin,
                h,
                w,
            };
            let weight: Vec<f32> = (0..cout * cin * k * k).map(|i| value(i + 5)).collect();
            let got = conv(&x, k / 2, &weight, cout, k, stride);
            let want = naive(&x, k / 2, &weight, cout, k, stride);
            assert_eq!((got.h, got.w), (want.h, want.w));
            for (a, b) in got.data.iter().zip(&want.data) {
                assert!(
                    (a - b).abs() < 1e-4,
                    "{w}x{h} k{k} s{stride}: {a} against {b}"
                );
            }
        }
    }
}
