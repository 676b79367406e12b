//! What a run is asked to do: the optimizer, where the image starts, colour handling, the
//! loss weights and layers, sizes and scales, with their defaults (after Gatys et al.) and
//! the checks that refuse out-of-range values.

use image::RgbImage;

use crate::error::{Error, Result};
use crate::image_io::Size;
use crate::layers::Layer;
use crate::losses::LayerWeight;

/// The optimizer of the image's pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    /// Adam with this learning rate, in pixel units on the 0-255 scale (default 10).
    Adam {
        /// Learning rate (pixels per step).
        lr: f64,
    },
    /// L-BFGS with a strong-Wolfe line search, keeping `history` correction pairs (default 100).
    Lbfgs {
        /// Number of correction pairs kept.
        history: usize,
    },
}

/// How to keep the content image's colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OriginalColors {
    /// Luminance-only transfer: the result's luminance with the content's chroma (YIQ).
    Luminance,
    /// Colour histogram matching: each style image is recoloured (mean and covariance of its
    /// RGB pixels) to match the content's before the transfer.
    Histogram,
}

/// Where the generated image starts.
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// From the content image (the default).
    Content,
    /// From uniform random pixels drawn with the run's seed.
    Noise,
    /// From a given image (resized to the output size).
    Image(RgbImage),
}

/// Default style layers: conv1_1, conv2_1, conv3_1, conv4_1, conv5_1, each weighted 1/5.
pub const DEFAULT_STYLE_LAYERS: [LayerWeight; 5] = [
    (Layer::Conv1_1, 0.2),
    (Layer::Conv2_1, 0.2),
    (Layer::Conv3_1, 0.2),
    (Layer::Conv4_1, 0.2),
    (Layer::Conv5_1, 0.2),
];

/// Every setting of a run.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) content_weight: f64,
    pub(crate) style_weight: f64,
    pub(crate) tv_weight: f64,
    pub(crate) content_layers: Vec<LayerWeight>,
    pub(crate) style_layers: Vec<LayerWeight>,
    pub(crate) optimizer: Optimizer,
    pub(crate) iterations: usize,
    pub(crate) init: Init,
    pub(crate) seed: u64,
    pub(crate) size: Size,
    pub(crate) style_size: Option<Size>,
    pub(crate) style_scale: f64,
    pub(crate) scales: usize,
    pub(crate) original_colors: Option<OriginalColors>,
    pub(crate) winograd: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            content_weight: 1.0,
            style_weight: 1e3,
            tv_weight: 0.0,
            content_layers: vec![(Layer::Conv4_2, 1.0)],
            style_layers: DEFAULT_STYLE_LAYERS.to_vec(),
            optimizer: Optimizer::Lbfgs { history: 100 },
            iterations: 500,
            init: Init::Content,
            seed: 0,
            size: Size::Longest(512),
            style_size: None,
            style_scale: 1.0,
            scales: 1,
            original_colors: None,
            winograd: true,
        }
    }
}

impl Settings {
    /// The deepest layer any loss reads.
    pub(crate) fn deepest_layer(&self) -> Option<Layer> {
        self.content_layers
            .iter()
            .chain(&self.style_layers)
            .map(|(l, _)| *l)
            .max()
    }

    /// Refuses out-of-range values and a run without style images.
    pub(crate) fn validate(&self, styles: &[(&RgbImage, f32)]) -> Result<()> {
        let check = |name: &'static str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(Error::InvalidConfig {
                    name,
                    reason: format!("{v} is not a finite number >= 0"),
                })
            }
        };
        check("content weight", self.content_weight)?;
        check("style weight", self.style_weight)?;
        check("tv weight", self.tv_weight)?;
        for (_, w) in self.content_layers.iter().chain(&self.style_layers) {
            check("layer weight", *w as f64)?;
        }
        if !(self.style_scale.is_finite() && self.style_scale > 0.0) {
            return Err(Error::InvalidConfig {
                name: "style scale",
                reason: format!("{} is not > 0", self.style_scale),
            });
        }
        if self.scales == 0 || self.scales > 8 {
            return Err(Error::InvalidConfig {
                name: "scales",
                reason: format!("{} is not in 1..=8", self.scales),
            });
        }
        if self.iterations == 0 {
            return Err(Error::InvalidConfig {
                name: "iterations",
                reason: "must be at least 1".into(),
            });
        }
        match self.optimizer {
            Optimizer::Adam { lr } if !(lr.is_finite() && lr > 0.0) => {
                return Err(Error::InvalidConfig {
                    name: "learning rate",
                    reason: format!("{lr} is not > 0"),
                });
            }
            Optimizer::Lbfgs { history: 0 } => {
                return Err(Error::InvalidConfig {
                    name: "L-BFGS history",
                    reason: "must be at least 1".into(),
                });
            }
            _ => {}
        }
        if self.content_layers.is_empty() && self.style_layers.is_empty() {
            return Err(Error::InvalidConfig {
                name: "layers",
                reason: "no content or style layer given".into(),
            });
        }
        if styles.is_empty() && !self.style_layers.is_empty() {
            return Err(Error::InvalidConfig {
                name: "style images",
                reason: "give at least one style image".into(),
            });
        }
        Ok(())
    }
}
