//! The 26-style network as Burn operations (every backend): reflect pad, `conv2d`,
//! conditional instance normalization, nearest upsampling.

use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::module::conv2d;
use burn::tensor::ops::{ConvOptions, PadMode};
use burn::tensor::{Device, Tensor, TensorData};

use super::{EPSILON, FIRST_EXPAND, FIRST_RESIDUAL, Finish, MultiStyleParams, STYLES};
use crate::feedforward::upsample2;

/// One layer on a device.
#[derive(Debug)]
struct DeviceLayer {
    weight: Tensor<4>,
    /// `[26, C]`.
    gamma: Tensor<2>,
    /// `[26, C]`.
    beta: Tensor<2>,
    stride: usize,
    upsample: bool,
    finish: Finish,
}

/// The 26-style network on a device, as Burn operations.
#[derive(Debug)]
pub(crate) struct MultiStyleNet {
    layers: Vec<DeviceLayer>,
}

impl MultiStyleNet {
    /// The network on `device`.
    pub(crate) fn new(weights: &MultiStyleParams, device: &Device) -> Self {
        let layers = weights
            .layers
            .iter()
            .map(|p| {
                let c = p.shape[0];
                DeviceLayer {
                    weight: Tensor::from_data(TensorData::new(p.weight.clone(), p.shape), device),
                    gamma: Tensor::from_data(TensorData::new(p.gamma.clone(), [STYLES, c]), device),
                    beta: Tensor::from_data(TensorData::new(p.beta.clone(), [STYLES, c]), device),
                    stride: p.stride,
                    upsample: p.upsample,
                    finish: p.finish,
                }
            })
            .collect();
        MultiStyleNet { layers }
    }

    /// Stylizes `image` (`[1, 3, h, w]`, values 0-1, `h` and `w` multiples of
    /// [`MULTIPLE`], at least [`MIN_SIDE`]) with the style weights `styles` (`[1, 26]`,
    /// summing to 1); returns `[1, 3, h, w]` in 0-1.
    pub(crate) fn forward(&self, image: Tensor<4>, styles: &Tensor<2>) -> Tensor<4> {
        let mut x = image;
        for layer in &self.layers[..FIRST_RESIDUAL] {
            x = layer.forward(x, styles);
        }
        for pair in self.layers[FIRST_RESIDUAL..FIRST_EXPAND].chunks(2) {
            let y = pair[1].forward(pair[0].forward(x.clone(), styles), styles);
            x = x + y;
        }
        for layer in &self.layers[FIRST_EXPAND..] {
            x = layer.forward(x, styles);
        }
        x
    }
}

impl DeviceLayer {
    fn forward(&self, x: Tensor<4>, styles: &Tensor<2>) -> Tensor<4> {
        let x = if self.upsample { upsample2(x) } else { x };
        let [_, _, k, _] = self.weight.dims();
        let pad = k / 2;
        let x = x.pad((pad, pad, pad, pad), PadMode::Reflect);
        let options = ConvOptions::new([self.stride; 2], [0, 0], [1, 1], 1);
        let x = conv2d(x, self.weight.clone(), None, options);
        let x = self.normalize(x, styles);
        match self.finish {
            Finish::Relu => relu(x),
            Finish::Linear => x,
            Finish::Sigmoid => sigmoid(x),
        }
    }

    /// Conditional instance normalization: each channel to zero mean and unit (biased)
    /// variance over the image, then scaled and shifted by the style-weighted `gamma`, `beta`.
    fn normalize(&self, x: Tensor<4>, styles: &Tensor<2>) -> Tensor<4> {
        let [n, c, _, _] = x.dims();
        let mean = x.clone().mean_dim(3).mean_dim(2);
        let centred = x - mean;
        let variance = centred.clone().powi_scalar(2).mean_dim(3).mean_dim(2);
        let gamma = styles
            .clone()
            .matmul(self.gamma.clone())
            .reshape([n, c, 1, 1]);
        let beta = styles
            .clone()
            .matmul(self.beta.clone())
            .reshape([n, c, 1, 1]);
        centred * (variance.add_scalar(EPSILON as f64).sqrt().recip() * gamma) + beta
    }
}
