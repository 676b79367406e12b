//! The 26-style network on host memory, for the CPU backends (flex, ndarray): the same
//! layers as [`super::burn::MultiStyleNet`], the convolutions by
//! [`crate::kernels::reflect_conv`]; each normalization, activation and residual sum in one pass over
//! its channel. Tests hold it to onnxruntime's outputs and to Burn's operations; docs/fast.md
//! has the timings.

use rayon::prelude::*;

use super::{EPSILON, FIRST_EXPAND, FIRST_RESIDUAL, Finish, LayerParams, MultiStyleParams};
use crate::kernels::buffers::Buffers;
use crate::kernels::reflect_conv::{Map, ReflectConv, upsample2};

/// The network's CPU form: each layer's convolution ([`ReflectConv`]: the 3x3 stride-1
/// filters in Winograd form, transformed once).
pub(crate) struct MultiStyleCpu {
    convs: Vec<ReflectConv>,
}

impl std::fmt::Debug for MultiStyleCpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultiStyleCpu").finish_non_exhaustive()
    }
}

impl MultiStyleCpu {
    /// The convolutions of `weights`' layers.
    pub(crate) fn new(weights: &MultiStyleParams) -> Self {
        let convs = weights
            .layers
            .iter()
            .map(|p| ReflectConv::new(&p.weight, p.shape, p.stride))
            .collect();
        MultiStyleCpu { convs }
    }

    /// Runs the network on `image` (`[3][h][w]`, values 0-1, `h` and `w` multiples of 4, at
    /// least 16) with the 26 style weights `styles`; returns `[3][h][w]` in 0-1.
    pub(crate) fn forward(
        &self,
        weights: &MultiStyleParams,
        image: &[f32],
        h: usize,
        w: usize,
        styles: &[f32],
    ) -> Vec<f32> {
        let layers = &weights.layers;
        let mut buffers = Buffers::default();
        let mut apply = |i: usize, x: &Map| -> Map {
            apply(&layers[i], &self.convs[i], x, styles, &mut buffers)
        };
        let mut x = Map {
            data: image.to_vec(),
            c: 3,
            h,
            w,
        };
        for i in 0..FIRST_RESIDUAL {
            x = apply(i, &x);
        }
        for i in (FIRST_RESIDUAL..FIRST_EXPAND).step_by(2) {
            let inner = apply(i, &x);
            let y = apply(i + 1, &inner);
            x.data
                .par_iter_mut()
                .zip(&y.data)
                .for_each(|(a, b)| *a += b);
        }
        for i in FIRST_EXPAND..layers.len() {
            x = apply(i, &x);
        }
        x.data
    }
}

impl MultiStyleCpu {
    /// [`MultiStyleCpu::forward`] in bands of rows ([`super::banded`]) on the 8-bit `photo`
    /// (its bytes and size), reflect-padded to `padded` (rows, columns); bands of about
    /// `band_floats` input values. Returns `[3][rows][columns]` in 0-1.
    pub(crate) fn forward_banded(
        &self,
        weights: &MultiStyleParams,
        photo: (&[u8], (usize, usize)),
        padded: (usize, usize),
        styles: &[f32],
        band_floats: usize,
    ) -> Vec<f32> {
        super::banded::forward(&self.convs, weights, photo, padded, styles, band_floats)
    }
}

/// One layer: upsampling if asked, the convolution (reflect padding of half the kernel), the
/// conditional instance normalization and the activation.
fn apply(
    layer: &LayerParams,
    conv: &ReflectConv,
    x: &Map,
    styles: &[f32],
    buffers: &mut Buffers,
) -> Map {
    let upsampled;
    let x = if layer.upsample {
        upsampled = upsample2(x);
        &upsampled
    } else {
        x
    };
    assert_eq!(layer.shape[1], x.c, "layer input channels");
    let mut y = conv.forward(x, buffers);
    let (gamma, beta) = layer.affine(styles);
    normalize(&mut y, &gamma, &beta, layer.finish);
    y
}

/// Conditional instance normalization and the activation, in place: each channel to zero
/// mean and unit (biased) variance, then `* gamma + beta`, then `finish`.
pub(crate) fn normalize(y: &mut Map, gamma: &[f32], beta: &[f32], finish: Finish) {
    let hw = y.h * y.w;
    y.data
        .par_chunks_mut(hw)
        .enumerate()
        .for_each(|(ch, plane)| {
            let (mean, var) = moments(plane);
            finish_plane(plane, mean, var, gamma[ch], beta[ch], finish);
        });
}

/// The mean and (biased) variance of one channel: two passes (the variance about the mean,
/// without the cancellation of `E[x^2] - E[x]^2`), each summing blocks of 64 values in eight
/// f32 lanes (which the compiler vectorizes) and the blocks' sums in f64.
pub(crate) fn moments(plane: &[f32]) -> (f32, f32) {
    fn blocked(plane: &[f32], f: impl Fn(f32) -> f32) -> f64 {
        plane
            .chunks(64)
            .map(|block| {
                let mut lanes = [0.0f32; 8];
                let mut eights = block.chunks_exact(8);
                for c in &mut eights {
                    for (lane, &v) in lanes.iter_mut().zip(c) {
                        *lane += f(v);
                    }
                }
                let rest: f32 = eights.remainder().iter().map(|&v| f(v)).sum();
                (lanes.iter().sum::<f32>() + rest) as f64
            })
            .sum()
    }
    let n = plane.len() as f64;
    let mean = (blocked(plane, |v| v) / n) as f32;
    let var = (blocked(plane, |v| (v - mean) * (v - mean)) / n) as f32;
    (mean, var)
}

/// One channel's normalization with its `mean` and (biased) `var`, then `* gamma + beta`,
/// then `finish`, in place: the formula every path of the network applies.
pub(crate) fn finish_plane(
    plane: &mut [f32],
    mean: f32,
    var: f32,
    gamma: f32,
    beta: f32,
    finish: Finish,
) {
    let scale = (var + EPSILON).sqrt().recip() * gamma;
    for v in plane.iter_mut() {
        let z = (*v - mean) * scale + beta;
        *v = match finish {
            Finish::Relu => z.max(0.0),
            Finish::Linear => z,
            Finish::Sigmoid => 1.0 / (1.0 + (-z).exp()),
        };
    }
}
