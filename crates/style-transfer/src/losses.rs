//! Loss terms of neural style transfer (Gatys, Ecker and Bethge), each usable on its own.
//!
//! - Content: `L_content = sum_l w_l * 1/2 * sum((F_l - P_l)^2)` (default: `conv4_2`, w = 1).
//! - Style: `E_l = sum((G_l - A_l)^2) / (4 N_l^2 M_l^2)` with Gram `G_l = F_l F_l^T`
//!   (`N_l` channels, `M_l = H*W`); `L_style = sum_l w_l E_l` (default: conv1_1, conv2_1,
//!   conv3_1, conv4_1, conv5_1 with w = 1/5).
//! - Total variation: `L_tv = sum((x[i+1,j] - x[i,j])^2) + sum((x[i,j+1] - x[i,j])^2)` over
//!   the image in the network's input units.
//! - Total: `alpha * L_content + beta * L_style + tv * L_tv`, composed by
//!   [`crate::StyleTransfer`]'s objective.
//!
//! The factors in front of each sum are defined once for these modules and the Winograd CPU
//! path alike. Targets (content features, style Grams) are computed once, without autodiff, when a loss
//! is built; during optimization only the generated image is tracked.

use burn::tensor::Tensor;

use crate::error::{Error, Result};
use crate::layers::Layer;
use crate::model::Features;
use crate::terms::{self, content_factor, style_factor, style_target_at, style_target_factor};

/// Gram matrices of a feature map: `G = F F^T` for each batch item, with `F` the
/// `[channels, height * width]` reshape of `[batch, channels, height, width]` features.
/// Not normalized. Returns `[batch, channels, channels]`.
pub fn gram_matrix(features: Tensor<4>) -> Tensor<3> {
    let [b, c, h, w] = features.dims();
    let f = features.reshape([b, c, h * w]); // [b, N, M]
    f.clone().matmul(f.swap_dims(1, 2)) // [b, N, N]
}

/// A layer and its weight in a loss.
pub type LayerWeight = (Layer, f32);

fn feature(features: &Features, layer: Layer) -> Result<&Tensor<4>> {
    features.get(layer).ok_or_else(|| Error::InvalidConfig {
        name: "features",
        reason: format!("layer {layer} is needed by the loss but was not computed"),
    })
}

/// Content loss: `sum_l w_l * 1/2 * sum((F_l - P_l)^2)` against the content image's features.
#[derive(Clone, Debug)]
pub struct ContentLoss {
    targets: Vec<(Layer, f32, Tensor<4>)>,
}

impl ContentLoss {
    /// Builds the loss from the content image's features (detached from any autodiff graph)
    /// at the given layers and weights.
    pub fn new(content: &Features, layers: &[LayerWeight]) -> Result<Self> {
        let targets = layers
            .iter()
            .map(|&(layer, w)| Ok((layer, w, feature(content, layer)?.clone().inner())))
            .collect::<Result<_>>()?;
        Ok(ContentLoss { targets })
    }

    /// The layers this loss reads.
    pub fn layers(&self) -> impl Iterator<Item = Layer> + '_ {
        self.targets.iter().map(|(l, _, _)| *l)
    }

    /// Each layer, its weight and the content features there.
    pub(crate) fn targets(&self) -> &[(Layer, f32, Tensor<4>)] {
        &self.targets
    }

    /// The weighted per-layer terms `w_l/2 sum((F_l - P_l)^2)` of generated features, in
    /// layer order.
    pub fn forward_layers(&self, generated: &Features) -> Result<Vec<(Layer, Tensor<1>)>> {
        self.targets
            .iter()
            .map(|(layer, weight, target)| {
                let f = feature(generated, *layer)?;
                let squares = (f.clone() - target.clone()).square().sum();
                Ok((*layer, squares.mul_scalar(content_factor(*weight))))
            })
            .collect()
    }

    /// The loss of generated features, a one-element tensor (tracked if they are).
    pub fn forward(&self, generated: &Features) -> Result<Tensor<1>> {
        let terms = self.forward_layers(generated)?;
        terms::sum(terms.into_iter().map(|(_, t)| t)).ok_or_else(|| Error::InvalidConfig {
            name: "content layers",
            reason: "no layer given; give at least one content layer".into(),
        })
    }
}

/// Style loss: `sum_l w_l * sum((G_l - A_l)^2) / (4 N_l^2 M_l^2)` against target Grams.
#[derive(Clone, Debug)]
pub struct StyleLoss {
    targets: Vec<(Layer, f32, Tensor<3>)>,
}

impl StyleLoss {
    /// Builds the loss from one style image's features at the given layers and weights.
    pub fn new(style: &Features, layers: &[LayerWeight]) -> Result<Self> {
        Self::blended(&[(style, 1.0)], layers)
    }

    /// Builds the loss from several style images: each layer's target Gram is the
    /// blend-weighted mean of the images' Grams, each normalized by its own `M_l` and scaled
    /// to the generated image's `M_l` when the loss is evaluated (so style images of any size
    /// can be mixed). Blend weights are normalized to sum to 1.
    pub fn blended(styles: &[(&Features, f32)], layers: &[LayerWeight]) -> Result<Self> {
        let total: f32 = styles.iter().map(|(_, w)| *w).sum();
        let negative = styles.iter().any(|(_, w)| w.is_nan() || *w < 0.0);
        if styles.is_empty() || total.is_nan() || total <= 0.0 || negative {
            return Err(Error::InvalidConfig {
                name: "style blend weights",
                reason: "give at least one style image, with non-negative weights that sum to more than 0".into(),
            });
        }
        let mut targets = Vec::with_capacity(layers.len());
        for &(layer, w) in layers {
            let mut blend: Option<Tensor<3>> = None;
            for (features, share) in styles {
                let f = feature(features, layer)?.clone().inner();
                let [_, _, h, wd] = f.dims();
                // Gram per position, so that images of different sizes can be mixed.
                let g = gram_matrix(f).mul_scalar(style_target_factor(*share, total, h * wd));
                blend = Some(match blend {
                    Some(b) => b + g,
                    None => g,
                });
            }
            targets.push((layer, w, blend.expect("at least one style")));
        }
        Ok(StyleLoss { targets })
    }

    /// The layers this loss reads.
    pub fn layers(&self) -> impl Iterator<Item = Layer> + '_ {
        self.targets.iter().map(|(l, _, _)| *l)
    }

    /// Each layer, its weight and the target Gram per position (`[1, N, N]`).
    pub(crate) fn targets(&self) -> &[(Layer, f32, Tensor<3>)] {
        &self.targets
    }

    /// The weighted per-layer terms `w_l E_l` of generated features, in layer order.
    pub fn forward_layers(&self, generated: &Features) -> Result<Vec<(Layer, Tensor<1>)>> {
        self.targets
            .iter()
            .map(|(layer, weight, target)| {
                let f = feature(generated, *layer)?;
                let [_, n, h, w] = f.dims();
                let m = h * w;
                let diff = gram_matrix(f.clone()) - target.clone().mul_scalar(style_target_at(m));
                let scale = style_factor(*weight, n, m);
                Ok((*layer, diff.square().sum().mul_scalar(scale)))
            })
            .collect()
    }

    /// The loss of generated features, a one-element tensor.
    pub fn forward(&self, generated: &Features) -> Result<Tensor<1>> {
        let terms = self.forward_layers(generated)?;
        terms::sum(terms.into_iter().map(|(_, t)| t)).ok_or_else(|| Error::InvalidConfig {
            name: "style layers",
            reason: "no layer given; give at least one style layer".into(),
        })
    }
}

/// Total variation of an image `[batch, channels, h, w]`: the sum of squared differences
/// between vertically and horizontally neighbouring pixels.
pub fn total_variation(image: &Tensor<4>) -> Tensor<1> {
    let [b, c, h, w] = image.dims();
    let down = image.clone().slice([0..b, 0..c, 1..h, 0..w])
        - image.clone().slice([0..b, 0..c, 0..h - 1, 0..w]);
    let right = image.clone().slice([0..b, 0..c, 0..h, 1..w])
        - image.clone().slice([0..b, 0..c, 0..h, 0..w - 1]);
    down.square().sum() + right.square().sum()
}
