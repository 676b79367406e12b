//! The arbitrary-style transformer on host memory, for the CPU backends (flex, ndarray): the
//! same layers and quantizations as [`crate::arbitrary::TransformerNet`], the convolutions
//! by [`crate::reflect_conv`] (Winograd for the 3x3 stride-1 layers), and each layer's bias,
//! style normalization, activation and quantizations in one pass over its channel.

use rayon::prelude::*;

use crate::arbitrary::{
    FIRST_EXPAND, FIRST_RESIDUAL, Fq, Norm, TransformerLayer, TransformerParams,
};
use crate::reflect_conv::{Map, ReflectConv, upsample2};
use crate::winograd::Buffers;

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
