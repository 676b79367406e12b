//! Loss terms of neural style transfer (Gatys, Ecker and Bethge), each usable on its own.
//!
//! - Content: `L_content = sum_l w_l * 1/2 * sum((F_l - P_l)^2)` (default: `conv4_2`, w = 1).
//! - Style: `E_l = sum((G_l - A_l)^2) / (4 N_l^2 M_l^2)` with Gram `G_l = F_l F_l^T`
//!   (`N_l` channels, `M_l = H*W`); `L_style = sum_l w_l E_l` (default: conv1_1, conv2_1,
//!   conv3_1, conv4_1, conv5_1 with w = 1/5).
//! - Total variation: `L_tv = sum((x[i+1,j] - x[i,j])^2) + sum((x[i,j+1] - x[i,j])^2)` over
//!   the image in the network's input units.
//! - Temporal (a video frame's, Ruder, Dosovitskiy and Brox 2016):
//!   `L_temporal = 1/D sum_k c_k (x_k - w_k)^2` over the `D = 3 h w` values of the image
//!   in 0-255 RGB units, `w` the previous output moved by the optical flow, `c` where the
//!   flow can be trusted ([`TemporalLoss`]).
//! - Total: `alpha * L_content + beta * L_style + tv * L_tv (+ temporal * L_temporal)`, composed by
//!   [`crate::StyleTransfer`]'s objective.
//!
//! The factors in front of each sum are defined once for these modules and the host
//! path alike. Targets (content features, style Grams) are computed once, without autodiff, when a loss
//! is built; during optimization only the generated image is tracked.

use burn::tensor::{Device, Tensor, TensorData};

use crate::blend::blend_total;
use crate::error::{Error, Result};
use crate::image_io::convention::InputConvention;
use crate::image_io::image_to_tensor;
use crate::optimize::masks::Mask;
use crate::optimize::terms::{
    self, content_factor, region_size, style_factor, style_target_at, style_target_factor,
    temporal_factor,
};
use crate::vgg::layers::Layer;
use crate::vgg::model::Features;

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

/// The features of `layer`, or an error naming the layer a loss needs but was not computed.
pub(crate) fn feature(features: &Features, layer: Layer) -> Result<&Tensor<4>> {
    features.get(layer).ok_or_else(|| Error::InvalidConfig {
        name: "features",
        reason: format!("layer {layer} is needed by the loss but was not computed"),
    })
}

/// Content loss: `sum_l w_l * 1/2 * sum((F_l - P_l)^2)` against the content image's features.
#[derive(Clone, Debug)]
pub struct ContentLoss {
    targets: Vec<(Layer, f32, Tensor<4>)>,
    /// Per layer, the content-weight map at its resolution (`[1, 1, h, w]` and on the host),
    /// multiplying each position's squares.
    maps: Vec<Option<(Tensor<4>, Vec<f32>)>>,
}

impl ContentLoss {
    /// Builds the loss from the content image's features (detached from any autodiff graph)
    /// at the given layers and weights.
    pub fn new(content: &Features, layers: &[LayerWeight]) -> Result<Self> {
        let targets = layers
            .iter()
            .map(|&(layer, w)| Ok((layer, w, feature(content, layer)?.clone().inner())))
            .collect::<Result<Vec<_>>>()?;
        let maps = vec![None; targets.len()];
        Ok(ContentLoss { targets, maps })
    }

    /// The loss from targets computed elsewhere (tile by tile): each layer, its weight and the
    /// content features there, with each layer's content-weight map at its resolution
    /// (`[1, 1, h, w]` and on the host) where there is one.
    pub(crate) fn from_parts(
        targets: Vec<(Layer, f32, Tensor<4>)>,
        maps: Vec<Option<(Tensor<4>, Vec<f32>)>>,
    ) -> Self {
        ContentLoss { targets, maps }
    }

    /// Weights each position's squares by a content-weight map: `map` holds `h x w` values
    /// (0-1) over the generated image, brought to each layer's resolution.
    pub(crate) fn with_weight_map(mut self, map: &Mask) -> Self {
        self.maps = self
            .targets
            .iter()
            .map(|(layer, _, target)| {
                let values = map.at_layer(*layer);
                let [_, _, lh, lw] = target.dims();
                let data = TensorData::new(values.clone(), [1, 1, lh, lw]);
                Some((Tensor::from_data(data, &target.device()), values))
            })
            .collect();
        self
    }

    /// Each layer's content-weight map on the host, if any.
    pub(crate) fn host_maps(&self) -> Vec<Option<Vec<f32>>> {
        self.maps
            .iter()
            .map(|m| m.as_ref().map(|(_, v)| v.clone()))
            .collect()
    }

    /// The layers this loss reads.
    pub fn layers(&self) -> impl Iterator<Item = Layer> + '_ {
        self.targets.iter().map(|(l, _, _)| *l)
    }

    /// Each layer's content-weight map at its resolution (`[1, 1, h, w]`), if any.
    pub(crate) fn maps(&self) -> impl Iterator<Item = Option<&Tensor<4>>> + '_ {
        self.maps.iter().map(|m| m.as_ref().map(|(t, _)| t))
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
            .zip(&self.maps)
            .map(|((layer, weight, target), map)| {
                let f = feature(generated, *layer)?;
                let squares = (f.clone() - target.clone()).square();
                let squares = match map {
                    Some((map, _)) => (squares * map.clone()).sum(),
                    None => squares.sum(),
                };
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
    targets: Vec<StyleTarget>,
}

/// One term of a style loss: a layer, its weight, the target Gram per position (`[1, N, N]`)
/// and, with spatial control, the region of the output it applies to.
#[derive(Clone, Debug)]
pub(crate) struct StyleTarget {
    pub(crate) layer: Layer,
    pub(crate) weight: f32,
    pub(crate) gram: Tensor<3>,
    pub(crate) region: Option<Region>,
}

/// A region mask at one layer's resolution: `[1, 1, h, w]`, the same values on the host, and
/// its size `sum(r^2)`.
#[derive(Clone, Debug)]
pub(crate) struct Region {
    pub(crate) mask: Tensor<4>,
    pub(crate) values: Vec<f32>,
    pub(crate) size: f64,
}

/// One style image for a guided style loss: its features, its blend weight, the mask of the
/// part of it that supplies the style and the region of the output it applies to (each as
/// full size, `None` for all of it).
pub(crate) struct GuidedStyle<'a> {
    pub(crate) features: &'a Features,
    pub(crate) weight: f32,
    pub(crate) source: Option<&'a Mask>,
    pub(crate) region: Option<&'a Mask>,
}

/// A mask at `layer`'s resolution, checked against the features' `[h, w]` there.
fn layer_region(
    mask: &Mask,
    layer: Layer,
    [lh, lw]: [usize; 2],
    device: &Device,
) -> Result<Region> {
    let values = mask.at_layer(layer);
    if values.len() != lh * lw {
        return Err(Error::Shape {
            expected: format!("a mask of {lh}x{lw} at {layer}"),
            actual: vec![values.len()],
        });
    }
    let size = region_size(&values);
    let mask = Tensor::from_data(TensorData::new(values.clone(), [1, 1, lh, lw]), device);
    Ok(Region { mask, values, size })
}

impl StyleLoss {
    /// The loss from target Grams computed elsewhere (tile by tile), in layer order.
    pub(crate) fn from_targets(targets: Vec<StyleTarget>) -> Self {
        StyleLoss { targets }
    }

    /// Builds the loss from one style image's features at the given layers and weights.
    pub fn new(style: &Features, layers: &[LayerWeight]) -> Result<Self> {
        Self::blended(&[(style, 1.0)], layers)
    }

    /// Builds the loss from several style images: each layer's target Gram is the
    /// blend-weighted mean of the images' Grams, each normalized by its own `M_l` and scaled
    /// to the generated image's `M_l` when the loss is evaluated (so style images of any size
    /// can be mixed). Blend weights are normalized to sum to 1.
    pub fn blended(styles: &[(&Features, f32)], layers: &[LayerWeight]) -> Result<Self> {
        let total = blend_total("style blend weights", styles.iter().map(|(_, w)| *w))?;
        let mut targets = Vec::with_capacity(layers.len());
        for &(layer, w) in layers {
            let mut blend: Option<Tensor<3>> = None;
            for (features, share) in styles {
                let f = feature(features, layer)?.clone().inner();
                let [_, _, h, wd] = f.dims();
                // Gram per position, so that images of different sizes can be mixed.
                let m = (h * wd) as f64;
                let g = gram_matrix(f).mul_scalar(style_target_factor(*share, total, m));
                blend = Some(match blend {
                    Some(b) => b + g,
                    None => g,
                });
            }
            targets.push(StyleTarget {
                layer,
                weight: w,
                gram: blend.expect("at least one style"),
                region: None,
            });
        }
        Ok(StyleLoss { targets })
    }

    /// Spatial control (Gatys et al. 2017): one term per style image and layer, the Gram of
    /// the generated features inside the style's region (`F * r`) against the style image's
    /// Gram inside its own mask, each normalized by its region's size, weighted by the style's
    /// blend weight over the mean blend weight. `generated` is the generated image's
    /// `(height, width)`. A region that vanishes at a deep layer (a few pixels wide) has no
    /// term there.
    pub(crate) fn guided(
        styles: &[GuidedStyle<'_>],
        layers: &[LayerWeight],
        generated: (usize, usize),
    ) -> Result<Self> {
        let total = blend_total("style blend weights", styles.iter().map(|s| s.weight))?;
        let mean = total / styles.len() as f32;
        let mut targets = Vec::new();
        let (gh, gw) = generated;
        for &(layer, w) in layers {
            let (oh, ow) = layer.map_size(gh, gw);
            let out = [oh, ow];
            for style in styles {
                let f = feature(style.features, layer)?.clone().inner();
                let [_, _, h, wd] = f.dims();
                let device = f.device();
                let (f, m) = match style.source {
                    Some(mask) => {
                        let r = layer_region(mask, layer, [h, wd], &device)?;
                        (f * r.mask, r.size)
                    }
                    None => (f, (h * wd) as f64),
                };
                let region = match style.region {
                    Some(mask) => Some(layer_region(mask, layer, out, &device)?),
                    None => None,
                };
                let empty = |size: f64| size < 1e-9;
                if empty(m) || region.as_ref().is_some_and(|r| empty(r.size)) {
                    continue;
                }
                targets.push(StyleTarget {
                    layer,
                    weight: w * style.weight / mean,
                    gram: gram_matrix(f).mul_scalar(style_target_factor(1.0, 1.0, m)),
                    region,
                });
            }
        }
        Ok(StyleLoss { targets })
    }

    /// The layers this loss reads.
    pub fn layers(&self) -> impl Iterator<Item = Layer> + '_ {
        self.targets.iter().map(|t| t.layer)
    }

    /// Each term: layer, weight, target Gram per position and region.
    pub(crate) fn targets(&self) -> &[StyleTarget] {
        &self.targets
    }

    /// The weighted per-layer terms `w_l E_l` of generated features, in layer order (the
    /// terms of several styles at one layer summed).
    pub fn forward_layers(&self, generated: &Features) -> Result<Vec<(Layer, Tensor<1>)>> {
        let mut layers: Vec<(Layer, Tensor<1>)> = Vec::new();
        for t in &self.targets {
            let f = feature(generated, t.layer)?;
            let [_, n, h, w] = f.dims();
            let (f, m) = match &t.region {
                Some(r) => (f.clone() * r.mask.clone(), r.size),
                None => (f.clone(), (h * w) as f64),
            };
            let diff = gram_matrix(f) - t.gram.clone().mul_scalar(style_target_at(m));
            let value = diff.square().sum().mul_scalar(style_factor(t.weight, n, m));
            match layers.last_mut() {
                Some((layer, sum)) if *layer == t.layer => *sum = sum.clone() + value,
                _ => layers.push((t.layer, value)),
            }
        }
        Ok(layers)
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

/// Temporal loss of a video frame (Ruder, Dosovitskiy and Brox, "Artistic style transfer for
/// videos", 2016): `L_temporal = 1/D sum_k c_k (x_k - w_k)^2`, the squared difference between
/// the image `x` and the previous stylized frame `w` moved into this one by the optical flow,
/// in 0-255 RGB units (whatever the network's input convention), over the `D = 3 h w` values,
/// weighted by `c` (0-1 per pixel: 1 where the flow can be trusted, 0 at disocclusions, motion
/// boundaries and the frame's edge; [`crate::video::temporal::reliable`]).
#[derive(Clone, Debug)]
pub struct TemporalLoss {
    /// `w` in the network's input units, `[1, 3, h, w]`.
    target: Tensor<4>,
    /// `c_k / (D s_k^2)` per value (`s` the channel's network units per 0-255 step),
    /// `[1, 3, h, w]`.
    factors: Tensor<4>,
}

impl TemporalLoss {
    /// The loss towards `warped` (the previous output moved by the flow) with reliability
    /// `reliable` (one 0-1 value per pixel, row-major), for images in `convention` on
    /// `device`. [`Error::Shape`] when `reliable` does not have one value per pixel.
    pub fn new(
        warped: &image::RgbImage,
        reliable: &[f32],
        convention: InputConvention,
        device: &Device,
    ) -> Result<Self> {
        let (w, h) = (warped.width() as usize, warped.height() as usize);
        if reliable.len() != w * h {
            return Err(Error::Shape {
                expected: format!("{} reliability values ({w}x{h})", w * h),
                actual: vec![reliable.len()],
            });
        }
        let factor = temporal_factor(3 * w * h);
        let scales = convention.planar_scales();
        let factors: Vec<f32> = (scales.iter())
            .flat_map(|s| {
                let f = factor / (*s as f64 * *s as f64);
                reliable.iter().map(move |c| (*c as f64 * f) as f32)
            })
            .collect();
        Ok(TemporalLoss {
            target: image_to_tensor(warped, convention, device),
            factors: Tensor::from_data(TensorData::new(factors, [1, 3, h, w]), device),
        })
    }

    /// `L_temporal` at `x` (`[1, 3, h, w]` in the network's input units).
    pub fn forward(&self, x: &Tensor<4>) -> Tensor<1> {
        let d = x.clone() - self.target.clone();
        (d.square() * self.factors.clone()).sum()
    }

    /// The gradient of `L_temporal` with respect to `x`: `2 c_k / D (x_k - w_k)` (in the
    /// network's units).
    pub fn gradient(&self, x: &Tensor<4>) -> Tensor<4> {
        self.value_and_gradient(x).1
    }

    /// `L_temporal` at `x` and its gradient, from one difference `x - w` (what an
    /// optimization step needs).
    pub fn value_and_gradient(&self, x: &Tensor<4>) -> (Tensor<1>, Tensor<4>) {
        let d = x.clone() - self.target.clone();
        let scaled = d.clone() * self.factors.clone();
        ((d * scaled.clone()).sum(), scaled.mul_scalar(2.0))
    }
}
