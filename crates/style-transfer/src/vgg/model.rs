//! VGG19's convolutional feature stack in Burn: 16 `Conv2d`s with ReLU and 2x2 pooling,
//! returning the post-ReLU activations of the layers asked for.

use burn::module::{Module, Param};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};

use crate::backend::has_float16;
use crate::error::{Error, Result};
use crate::image_io::convention::InputConvention;
use crate::image_io::tensor_values;
use crate::vgg::convolution::Convolution;
use crate::vgg::layers::Layer;
use crate::vgg::weights::{VggWeights, layer_weight_shape};

/// The smallest height and width VGG19 accepts here: four 2x2 poolings before `conv5_1`
/// leave a 1x1 map at 16 pixels.
pub const MIN_INPUT_SIDE: usize = 16;

/// [`Error::ImageTooSmall`] unless both sides are at least [`MIN_INPUT_SIDE`].
pub(crate) fn check_input_size(width: usize, height: usize) -> Result<()> {
    if height < MIN_INPUT_SIDE || width < MIN_INPUT_SIDE {
        return Err(Error::ImageTooSmall {
            network: "VGG19",
            width,
            height,
            min: MIN_INPUT_SIDE,
        });
    }
    Ok(())
}

/// The pooling between VGG blocks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Pooling {
    /// 2x2 max pooling, stride 2 (VGG19 as trained).
    #[default]
    Max,
    /// 2x2 average pooling, stride 2 (Gatys et al. report smoother results).
    Average,
}

#[derive(Module, Debug)]
enum Pool {
    Max(MaxPool2d),
    Average(AvgPool2d),
}

/// VGG19's feature extractor: the 16 convolutions (each followed by ReLU) and the pooling
/// between blocks, with weights that never require gradients.
///
/// Build it once from [`VggWeights`] on a device; a forward pass runs only as deep as the
/// deepest layer asked for.
#[derive(Module, Debug)]
pub struct Vgg19 {
    convs: Vec<Conv2d>,
    pool: Pool,
    #[module(skip)]
    convention: InputConvention,
    #[module(skip)]
    convolution: Convolution,
}

/// The activations of one forward pass, in network order.
#[derive(Clone, Debug)]
pub struct Features {
    layers: Vec<(Layer, Tensor<4>)>,
}

impl Features {
    /// The post-ReLU activation of `layer`, `[1, channels, h, w]`, if it was asked for.
    pub fn get(&self, layer: Layer) -> Option<&Tensor<4>> {
        self.layers
            .iter()
            .find(|(l, _)| *l == layer)
            .map(|(_, t)| t)
    }

    /// The layers and activations, in network order.
    pub fn iter(&self) -> impl Iterator<Item = (Layer, &Tensor<4>)> {
        self.layers.iter().map(|(l, t)| (*l, t))
    }

    /// Features computed elsewhere (the host path), in network order.
    pub(crate) fn from_layers(layers: Vec<(Layer, Tensor<4>)>) -> Self {
        Features { layers }
    }
}

impl Vgg19 {
    /// Builds the network on `device` from loaded weights, with the given pooling.
    ///
    /// The weights never require gradients, also on an autodiff device: gradients flow
    /// only to the input image.
    pub fn new(weights: &VggWeights, pooling: Pooling, device: &Device) -> Self {
        let convs = Layer::ALL
            .iter()
            .map(|&layer| {
                let shape = layer_weight_shape(layer);
                let w = weights.conv(layer);
                let mut conv = Conv2dConfig::new([shape[1], shape[0]], [3, 3])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init(device);
                let weight = Tensor::from_data(TensorData::new(w.weight.clone(), shape), device);
                let bias = Tensor::from_data(TensorData::new(w.bias.clone(), [shape[0]]), device);
                conv.weight = Param::from_tensor(weight);
                conv.bias = Some(Param::from_tensor(bias));
                conv.no_grad()
            })
            .collect();
        let pool = match pooling {
            Pooling::Max => Pool::Max(MaxPool2dConfig::new([2, 2]).init()),
            Pooling::Average => Pool::Average(AvgPool2dConfig::new([2, 2]).init()),
        };
        Vgg19 {
            convs,
            pool,
            convention: weights.convention(),
            convolution: Convolution::default(),
        }
    }

    /// The same network computing its convolutions the way `convolution` says (default
    /// [`Convolution::Burn`]); the weights are shared, not copied.
    pub fn with_convolution(mut self, convolution: Convolution) -> Self {
        self.convolution = convolution;
        self
    }

    /// How this network computes its convolutions.
    pub fn convolution(&self) -> Convolution {
        self.convolution
    }

    /// The input convention of the weights this network was built from.
    pub fn convention(&self) -> InputConvention {
        self.convention
    }

    /// The filters `[out][in][3][3]` and bias `[out]` of `layer`, copied to the host.
    pub(crate) fn conv_params(&self, layer: Layer) -> (Vec<f32>, Vec<f32>) {
        let conv = &self.convs[layer.index()];
        let weight = tensor_values(&conv.weight.val());
        let bias = conv.bias.as_ref().map(|b| tensor_values(&b.val()));
        (weight, bias.unwrap_or_else(|| vec![0.0; layer.channels()]))
    }

    /// The pooling this network uses.
    pub fn pooling(&self) -> Pooling {
        match self.pool {
            Pool::Max(_) => Pooling::Max,
            Pool::Average(_) => Pooling::Average,
        }
    }

    /// Runs the network on `input` (`[batch, 3, h, w]` in the weights' convention, h and w
    /// at least [`MIN_INPUT_SIDE`]) as deep as the deepest of `layers`, and returns their
    /// post-ReLU activations in network order. Pooling floors odd sizes.
    pub fn forward(&self, input: Tensor<4>, layers: &[Layer]) -> Result<Features> {
        let [_, channels, h, w] = input.dims();
        if channels != 3 {
            return Err(Error::Shape {
                expected: "[batch, 3, height, width]".into(),
                actual: input.dims().to_vec(),
            });
        }
        check_input_size(w, h)?;
        if self.convolution == Convolution::Half && !has_float16(&self.convs[0].weight.device()) {
            return Err(Error::InvalidConfig {
                name: "convolution",
                reason: "f16 needs float16 tensors, which the ndarray backend does not have: use \
                         flex or wgpu, or another convolution"
                    .into(),
            });
        }
        let Some(deepest) = layers.iter().max().copied() else {
            return Ok(Features { layers: Vec::new() });
        };
        let mut out = Vec::with_capacity(layers.len());
        let mut x = input;
        for layer in Layer::ALL.into_iter().take(deepest.index() + 1) {
            // [batch, channels(layer), h / 2^(block-1), w / 2^(block-1)]
            let conv = &self.convs[layer.index()];
            // Every way of computing it through one place (Burn's included: the module's own
            // `forward` is the same `conv2d` with the same padding).
            let bias = conv.bias.as_ref().map(|b| b.val());
            x = relu(self.convolution.apply(x, conv.weight.val(), bias));
            if layers.contains(&layer) {
                out.push((layer, x.clone()));
            }
            if layer.pools_after() && layer < deepest {
                x = match &self.pool {
                    Pool::Max(p) => p.forward(x),
                    Pool::Average(p) => p.forward(x),
                };
            }
        }
        Ok(Features { layers: out })
    }
}
