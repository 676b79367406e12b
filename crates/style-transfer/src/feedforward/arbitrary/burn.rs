//! The arbitrary-style networks as Burn operations (every backend): the style predictor
//! ([`PredictorNet`]) and the transformer ([`TransformerNet`]).

use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::module::conv2d;
use burn::tensor::ops::{ConvOptions, PadMode};
use burn::tensor::{Device, Tensor, TensorData};

use super::quant::Fq;
use super::{
    ConvParams, FIRST_EXPAND, FIRST_RESIDUAL, Norm, PredictorParams, STYLE_DIMS, TransformerParams,
};
use crate::feedforward::upsample2;

/// A convolution on a device.
#[derive(Debug)]
struct QConv {
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: usize,
    pads: [usize; 4],
    groups: usize,
}

impl QConv {
    fn new(p: &ConvParams, device: &Device) -> Self {
        QConv {
            weight: Tensor::from_data(TensorData::new(p.weight.clone(), p.shape), device),
            bias: Tensor::from_data(TensorData::new(p.bias.clone(), [p.shape[0]]), device),
            stride: p.stride,
            pads: p.pads,
            groups: p.groups,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [t, l, b, r] = self.pads;
        let (x, padding) = if t == b && l == r {
            (x, [t, l])
        } else {
            (x.pad((l, r, t, b), PadMode::Constant(0.0)), [0, 0])
        };
        let options = ConvOptions::new([self.stride; 2], padding, [1, 1], self.groups);
        conv2d(x, self.weight.clone(), Some(self.bias.clone()), options)
    }
}

/// Relu6 (`Clip(0, 6)`) then fake quantization.
fn relu6(x: Tensor<4>, fq: &Fq) -> Tensor<4> {
    fq.apply(x.clamp(0.0, 6.0))
}

/// The style predictor on a device, as Burn operations.
#[derive(Debug)]
pub(crate) struct PredictorNet {
    /// In [`PredictorParams::steps`]' order.
    convs: Vec<QConv>,
}

impl PredictorNet {
    pub(crate) fn new(params: &PredictorParams, device: &Device) -> Self {
        PredictorNet {
            convs: params
                .steps()
                .into_iter()
                .map(|s| QConv::new(&s.conv, device))
                .collect(),
        }
    }

    /// The style vector of `painting`, `[1, 3, 256, 256]` with values 0-1.
    pub(crate) fn forward(&self, p: &PredictorParams, painting: Tensor<4>) -> Tensor<1> {
        let mut convs = self.convs.iter();
        let mut conv = |x: Tensor<4>| convs.next().expect("one per step").forward(x);
        let x = p.input.apply(painting);
        let mut x = relu6(conv(x), &p.first.out);
        for block in &p.blocks {
            let input = x.clone();
            if let Some(e) = &block.expand {
                x = relu6(conv(x), &e.out);
            }
            x = relu6(conv(x), &block.depthwise.out);
            x = block.project.out.apply(conv(x));
            if let Some(add) = &block.add {
                x = add.apply(x + input);
            }
        }
        let x = relu6(conv(x), &p.last.out);
        let [n, c, h, w] = x.dims();
        let pooled = x.reshape([n, c, h * w]).mean_dim(2).reshape([n, c, 1, 1]);
        let pooled = p.pooled.apply(pooled);
        p.head.out.apply(conv(pooled)).reshape([STYLE_DIMS])
    }
}

/// The transformer on a device, as Burn operations.
#[derive(Debug)]
pub(crate) struct TransformerNet {
    convs: Vec<QConv>,
    device: Device,
}

impl TransformerNet {
    pub(crate) fn new(params: &TransformerParams, device: &Device) -> Self {
        TransformerNet {
            convs: params
                .layers
                .iter()
                .map(|l| QConv::new(&l.conv, device))
                .collect(),
            device: device.clone(),
        }
    }

    /// Stylizes `image` (`[1, 3, h, w]`, values 0-1, `h` and `w` multiples of 4, at least
    /// 16) with the style vector `style` (100 numbers); returns `[1, 3, h, w]` in 0-1.
    pub(crate) fn forward(
        &self,
        params: &TransformerParams,
        image: Tensor<4>,
        style: &[f32],
    ) -> Tensor<4> {
        let affines = self.affines(params, style);
        let layer = |i: usize, x: Tensor<4>| -> Tensor<4> {
            let spec = &params.layers[i];
            let x = if spec.upsample { upsample2(x) } else { x };
            let pad = spec.conv.shape[3] / 2;
            let x = x.pad((pad, pad, pad, pad), PadMode::Reflect);
            let x = self.convs[i].forward(x);
            let y = match (&spec.norm, &affines[i]) {
                (Some(norm), Some((gamma, beta))) => normalize(norm, x, gamma, beta),
                _ => x,
            };
            spec.out.apply(if spec.relu { relu(y) } else { y })
        };
        let mut x = params.input.apply(image);
        for i in 0..FIRST_RESIDUAL {
            x = layer(i, x);
        }
        for (r, add) in params.adds.iter().enumerate() {
            let i = FIRST_RESIDUAL + 2 * r;
            let h = layer(i + 1, layer(i, x.clone()));
            x = add.apply(x + h);
        }
        for i in FIRST_EXPAND..params.layers.len() {
            x = layer(i, x);
        }
        params.output.apply(sigmoid(x))
    }

    /// The style's `(gamma, beta)` of each layer as `[1, C, 1, 1]` tensors.
    fn affines(
        &self,
        params: &TransformerParams,
        style: &[f32],
    ) -> Vec<Option<(Tensor<4>, Tensor<4>)>> {
        let tensor = |v: Vec<f32>| {
            let c = v.len();
            Tensor::<4>::from_data(TensorData::new(v, [1, c, 1, 1]), &self.device)
        };
        params
            .affines(style)
            .into_iter()
            .map(|a| a.map(|(g, b)| (tensor(g), tensor(b))))
            .collect()
    }
}

/// The style normalization of a convolution's output `x` (bias included), as the graph
/// computes it.
fn normalize(f: &Norm, x: Tensor<4>, gamma: &Tensor<4>, beta: &Tensor<4>) -> Tensor<4> {
    let x = f.conv_out.apply(x);
    let [n, c, h, w] = x.dims();
    let per_channel = |t: Tensor<4>| t.reshape([n, c, h * w]).mean_dim(2).reshape([n, c, 1, 1]);
    let mean = f.mean.apply(per_channel(x.clone()));
    let centred = x.clone() - mean.clone();
    let square = f.square.apply(centred.clone() * centred);
    let variance = f.variance.apply(per_channel(square));
    let plus_eps = f.plus_eps.apply(variance.add_scalar(f.epsilon));
    // 1 / sqrt(0) is infinite and saturates, as in onnxruntime.
    let rsqrt = f.rsqrt.apply(plus_eps.sqrt().recip());
    let scale = f.scale.apply(rsqrt * gamma.clone());
    let mean_scaled = f.mean_scaled.apply(mean * scale.clone());
    let shift = f.shift.apply(beta.clone() - mean_scaled);
    f.scaled.apply(x * scale) + shift
}
