//! The arbitrary-style networks on host memory, for the CPU backends (flex, ndarray): the
//! same layers and quantizations as [`crate::feedforward::arbitrary::TransformerNet`] and
//! [`crate::feedforward::arbitrary::PredictorNet`]. The transformer's convolutions run by
//! [`crate::kernels::reflect_conv`] (Winograd for the 3x3 stride-1 layers), each layer's bias, style
//! normalization, activation and quantizations in one pass over its channel; the predictor's
//! 1x1 convolutions as matrix multiplies, its depthwise ones directly.

use gemm::{Parallelism, gemm};
use rayon::prelude::*;

use super::quant::Fq;
use super::{
    ConvParams, FIRST_EXPAND, FIRST_RESIDUAL, Norm, PredictorParams, TransformerLayer,
    TransformerParams,
};
use crate::kernels::buffers::Buffers;
use crate::kernels::reflect_conv::{Map, ReflectConv, upsample2};

/// The transformer's CPU form: each layer's convolution.
pub(crate) struct TransformerCpu {
    convs: Vec<ReflectConv>,
}

impl std::fmt::Debug for TransformerCpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransformerCpu").finish_non_exhaustive()
    }
}

impl TransformerCpu {
    pub(crate) fn new(params: &TransformerParams) -> Self {
        let convs = params
            .layers
            .iter()
            .map(|l| ReflectConv::new(&l.conv.weight, l.conv.shape, l.conv.stride))
            .collect();
        TransformerCpu { convs }
    }

    /// Stylizes `image` (`[3][h][w]`, values 0-1, `h` and `w` multiples of 4, at least 16)
    /// with the style vector `style`; returns `[3][h][w]` in 0-1.
    pub(crate) fn forward(
        &self,
        params: &TransformerParams,
        image: &[f32],
        h: usize,
        w: usize,
        style: &[f32],
    ) -> Vec<f32> {
        let affines = params.affines(style);
        let mut buffers = Buffers::default();
        let mut layer = |i: usize, x: &Map| -> Map {
            let spec = &params.layers[i];
            let upsampled;
            let x = if spec.upsample {
                upsampled = upsample2(x);
                &upsampled
            } else {
                x
            };
            let mut y = self.convs[i].forward(x, &mut buffers);
            finish(spec, affines[i].as_ref(), &mut y);
            y
        };
        let input = image.iter().map(|&v| params.input.host(v)).collect();
        let mut x = Map {
            data: input,
            c: 3,
            h,
            w,
        };
        for i in 0..FIRST_RESIDUAL {
            x = layer(i, &x);
        }
        for (r, add) in params.adds.iter().enumerate() {
            let i = FIRST_RESIDUAL + 2 * r;
            let inner = layer(i, &x);
            let y = layer(i + 1, &inner);
            x.data
                .par_iter_mut()
                .zip(&y.data)
                .for_each(|(a, b)| *a = add.host(*a + b));
        }
        for i in FIRST_EXPAND..params.layers.len() {
            x = layer(i, &x);
        }
        let out = params.output;
        x.data
            .par_iter_mut()
            .for_each(|v| *v = out.host(1.0 / (1.0 + (-*v).exp())));
        x.data
    }
}

/// A layer's work after its convolution, in place, channel by channel: the bias, the style
/// normalization (when the layer has one), ReLU (when asked) and the output quantization.
fn finish(spec: &TransformerLayer, affine: Option<&(Vec<f32>, Vec<f32>)>, y: &mut Map) {
    let hw = y.h * y.w;
    let bias = &spec.conv.bias;
    y.data
        .par_chunks_mut(hw)
        .enumerate()
        .for_each(|(ch, plane)| {
            for v in plane.iter_mut() {
                *v += bias[ch];
            }
            if let (Some(norm), Some((gamma, beta))) = (&spec.norm, affine) {
                normalize(norm, plane, gamma[ch], beta[ch]);
            }
            let out: &Fq = &spec.out;
            for v in plane.iter_mut() {
                *v = out.host(if spec.relu { v.max(0.0) } else { *v });
            }
        });
}

/// The style normalization of one channel, as the graph computes it (each step quantized).
fn normalize(f: &Norm, plane: &mut [f32], gamma: f32, beta: f32) {
    let n = plane.len() as f64;
    for v in plane.iter_mut() {
        *v = f.conv_out.host(*v);
    }
    let mean = f
        .mean
        .host((plane.iter().map(|&v| v as f64).sum::<f64>() / n) as f32);
    let square: f64 = plane
        .iter()
        .map(|&v| {
            let d = v - mean;
            f.square.host(d * d) as f64
        })
        .sum();
    let variance = f.variance.host((square / n) as f32);
    let plus_eps = f.plus_eps.host(variance + f.epsilon);
    // 1 / sqrt(0) is infinite and saturates, as in onnxruntime.
    let rsqrt = f.rsqrt.host(1.0 / plus_eps.sqrt());
    let scale = f.scale.host(rsqrt * gamma);
    let shift = f.shift.host(beta - f.mean_scaled.host(mean * scale));
    for v in plane.iter_mut() {
        *v = f.scaled.host(*v * scale) + shift;
    }
}

/// The style predictor on host memory: the style vector of `painting` (`[3][256][256]`,
/// values 0-1), as [`crate::feedforward::arbitrary::PredictorNet`] computes it.
pub(crate) fn predict(p: &PredictorParams, painting: &[f32], side: usize) -> Vec<f32> {
    let relu6 = |fq: Fq| move |v: f32| fq.host(v.clamp(0.0, 6.0));
    let plain = |fq: Fq| move |v: f32| fq.host(v);
    let mut x = Map {
        data: painting.iter().map(|&v| p.input.host(v)).collect(),
        c: 3,
        h: side,
        w: side,
    };
    x = zero_padded(&x, &p.first.conv, relu6(p.first.out));
    for block in &p.blocks {
        let input = match block.add {
            Some(_) => Some(x.data.clone()),
            None => None,
        };
        if let Some(e) = &block.expand {
            x = zero_padded(&x, &e.conv, relu6(e.out));
        }
        x = zero_padded(&x, &block.depthwise.conv, relu6(block.depthwise.out));
        x = zero_padded(&x, &block.project.conv, plain(block.project.out));
        if let (Some(add), Some(input)) = (block.add, input) {
            x.data
                .par_iter_mut()
                .zip(&input)
                .for_each(|(a, b)| *a = add.host(*a + b));
        }
    }
    x = zero_padded(&x, &p.last.conv, relu6(p.last.out));
    let hw = (x.h * x.w) as f64;
    let pooled: Vec<f32> = x
        .data
        .chunks_exact(x.h * x.w)
        .map(|plane| {
            p.pooled
                .host((plane.iter().map(|&v| v as f64).sum::<f64>() / hw) as f32)
        })
        .collect();
    let pooled = Map {
        c: pooled.len(),
        data: pooled,
        h: 1,
        w: 1,
    };
    zero_padded(&pooled, &p.head.conv, plain(p.head.out)).data
}

/// A convolution of the predictor with its zero padding and bias, then `finish` on every
/// value: 1x1 convolutions as one matrix multiply, depthwise ones and the first (3 input
/// channels) directly.
fn zero_padded(x: &Map, conv: &ConvParams, finish: impl Fn(f32) -> f32 + Sync) -> Map {
    let [cout, cin_group, k, _] = conv.shape;
    let [top, left, bottom, right] = conv.pads;
    let s = conv.stride;
    let ho = (x.h + top + bottom - k) / s + 1;
    let wo = (x.w + left + right - k) / s + 1;
    let mut data = vec![0.0f32; cout * ho * wo];
    if k == 1 && s == 1 && conv.groups == 1 {
        let hw = x.h * x.w;
        // SAFETY: `data` holds cout x hw values, `x.data` cin x hw, `weight` cout x cin;
        // out[o][i] = sum_j x[j][i] * weight[o][j].
        unsafe {
            gemm(
                hw,
                cout,
                x.c,
                data.as_mut_ptr(),
                hw as isize,
                1,
                false,
                x.data.as_ptr(),
                hw as isize,
                1,
                conv.weight.as_ptr(),
                x.c as isize,
                1,
                0.0,
                1.0,
                false,
                false,
                false,
                Parallelism::Rayon(0),
            );
        }
    } else {
        let depthwise = conv.groups > 1;
        data.par_chunks_mut(ho * wo)
            .enumerate()
            .for_each(|(o, plane)| {
                let inputs: Vec<usize> = match depthwise {
                    true => vec![o],
                    false => (0..cin_group).collect(),
                };
                for (j, &ci) in inputs.iter().enumerate() {
                    let weights = &conv.weight[(o * cin_group + j) * k * k..][..k * k];
                    let src = &x.data[ci * x.h * x.w..][..x.h * x.w];
                    for (ky, row_w) in weights.chunks_exact(k).enumerate() {
                        for (oy, out_row) in plane.chunks_exact_mut(wo).enumerate() {
                            let sy = (oy * s + ky) as isize - top as isize;
                            if sy < 0 || sy >= x.h as isize {
                                continue;
                            }
                            let line = &src[sy as usize * x.w..][..x.w];
                            for (kx, &wv) in row_w.iter().enumerate() {
                                for (ox, out) in out_row.iter_mut().enumerate() {
                                    let sx = (ox * s + kx) as isize - left as isize;
                                    if sx >= 0 && sx < x.w as isize {
                                        *out += wv * line[sx as usize];
                                    }
                                }
                            }
                        }
                    }
                }
            });
    }
    data.par_chunks_mut(ho * wo)
        .zip(&conv.bias)
        .for_each(|(plane, &b)| plane.iter_mut().for_each(|v| *v = finish(*v + b)));
    Map {
        data,
        c: cout,
        h: ho,
        w: wo,
    }
}
