//! The engine: [`StyleTransfer`] holds VGG19 on a device and the run's settings, and
//! [`StyleTransfer::run`] stylizes an image: the output size, colour handling, the starting
//! image and the multi-scale levels, each optimized by [`crate::solver`] against the losses of
//! [`crate::objective`].

use std::sync::{Arc, Mutex};
use std::time::Instant;

use burn::tensor::Device;
use image::RgbImage;

use crate::backend::is_host_device;
use crate::color;
use crate::error::{Error, Result};
use crate::fast_path::FastVgg;
use crate::image_io::{self, Size};
use crate::losses::LayerWeight;
use crate::model::{Pooling, Vgg19};
use crate::objective::Losses;
use crate::progress::{EndReason, Observer, RunError, Stylized};
use crate::settings::{Init, Optimizer, OriginalColors, Settings};
use crate::solver::{self, Level};
use crate::weights::VggWeights;

/// Neural style transfer: VGG19 on a device plus every setting, with defaults after Gatys et
/// al. Configure with the `with_*` methods, then [`StyleTransfer::run`].
#[derive(Debug)]
pub struct StyleTransfer {
    vgg: Vgg19,
    device: Device,
    settings: Settings,
    /// The network in Winograd form, built on first use as deep as the losses need.
    fast: Mutex<Option<Arc<FastVgg>>>,
}

impl StyleTransfer {
    /// VGG19 from `weights` on `device` with max pooling and the defaults: alpha 1, beta 1e3,
    /// no TV, content conv4_2, [`crate::DEFAULT_STYLE_LAYERS`], L-BFGS (history 100), 500
    /// iterations, init from content, seed 0, output 512 px on the longest side, style at the
    /// same scale.
    pub fn new(weights: &VggWeights, device: &Device) -> Self {
        Self::with_pooling(weights, Pooling::Max, device)
    }

    /// As [`StyleTransfer::new`] with the given pooling.
    pub fn with_pooling(weights: &VggWeights, pooling: Pooling, device: &Device) -> Self {
        StyleTransfer {
            vgg: Vgg19::new(weights, pooling, device),
            device: device.clone(),
            settings: Settings::default(),
            fast: Mutex::new(None),
        }
    }

    /// Content weight alpha (default 1).
    pub fn with_content_weight(mut self, alpha: f64) -> Self {
        self.settings.content_weight = alpha;
        self
    }
    /// Style weight beta (default 1e3).
    pub fn with_style_weight(mut self, beta: f64) -> Self {
        self.settings.style_weight = beta;
        self
    }
    /// Total variation weight (default 0).
    pub fn with_tv_weight(mut self, weight: f64) -> Self {
        self.settings.tv_weight = weight;
        self
    }
    /// Content layers and their weights (default conv4_2 with weight 1).
    pub fn with_content_layers(mut self, layers: &[LayerWeight]) -> Self {
        self.settings.content_layers = layers.to_vec();
        self
    }
    /// Style layers and their weights (default [`crate::DEFAULT_STYLE_LAYERS`]).
    pub fn with_style_layers(mut self, layers: &[LayerWeight]) -> Self {
        self.settings.style_layers = layers.to_vec();
        self
    }
    /// The optimizer (default L-BFGS with history 100).
    pub fn with_optimizer(mut self, optimizer: Optimizer) -> Self {
        self.settings.optimizer = optimizer;
        self
    }
    /// Number of iterations (default 500). With L-BFGS an iteration is one direction and its
    /// line search (one or more loss evaluations).
    pub fn with_iterations(mut self, iterations: usize) -> Self {
        self.settings.iterations = iterations;
        self
    }
    /// Where the image starts (default from the content).
    pub fn with_init(mut self, init: Init) -> Self {
        self.settings.init = init;
        self
    }
    /// Seed of the noise initialization (default 0). Same inputs and seed give the same image
    /// on a CPU backend.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.settings.seed = seed;
        self
    }
    /// Output size (default 512 px on the longest side); the content image is resized to it.
    pub fn with_size(mut self, size: Size) -> Self {
        self.settings.size = size;
        self
    }
    /// Style image size relative to the output's longest side (default 1).
    pub fn with_style_scale(mut self, scale: f64) -> Self {
        self.settings.style_scale = scale;
        self
    }
    /// An exact size for the style images, overriding the style scale.
    pub fn with_style_size(mut self, size: Size) -> Self {
        self.settings.style_size = Some(size);
        self
    }
    /// Multi-scale, coarse to fine (default 1): `scales` levels, each half the size of the
    /// next, each level's result upsampled to start the next; iterations are per level.
    pub fn with_scales(mut self, scales: usize) -> Self {
        self.settings.scales = scales;
        self
    }
    /// Keep the content's original colours (default: no, take the style's).
    pub fn with_original_colors(mut self, mode: Option<OriginalColors>) -> Self {
        self.settings.original_colors = mode;
        self
    }
    /// The network, for computing features directly.
    pub fn vgg(&self) -> &Vgg19 {
        &self.vgg
    }

    /// Whether to run the network with the Winograd CPU path on CPU devices (flex, ndarray):
    /// F(4x4, 3x3) convolutions and a hand-written backward pass instead of Burn's im2col
    /// convolutions and autodiff, with a quarter of the arithmetic and less memory. On by
    /// default; it has no effect on wgpu. Results agree with the Burn path to float32
    /// rounding (relative differences around 1e-5).
    pub fn with_winograd(mut self, on: bool) -> Self {
        self.settings.winograd = on;
        self
    }

    /// The Winograd network when it applies (switched on, CPU device), as deep as the losses.
    fn fast_vgg(&self) -> Option<Arc<FastVgg>> {
        if !self.settings.winograd || !is_host_device(&self.device) {
            return None;
        }
        let deepest = self.settings.deepest_layer()?;
        let mut cached = self.fast.lock().unwrap_or_else(|e| e.into_inner());
        match cached.as_ref() {
            Some(fast) if fast.deepest() >= deepest => Some(fast.clone()),
            _ => {
                let fast = Arc::new(FastVgg::new(&self.vgg, deepest));
                *cached = Some(fast.clone());
                Some(fast)
            }
        }
    }

    /// Builds the losses for a content image (already at the output size) and style images
    /// (at their original size; resized here) with blend weights.
    pub fn losses(&self, content: &RgbImage, styles: &[(&RgbImage, f32)]) -> Result<Losses> {
        self.settings.validate(styles)?;
        Losses::new(
            &self.settings,
            &self.vgg,
            &self.device,
            self.fast_vgg(),
            content,
            styles,
        )
    }

    /// Stylizes `content` with `styles` (image and blend weight each), calling `observer` after
    /// every iteration. Returns the image with the lowest total loss seen at the scale the run
    /// ended in (the last, unless the observer stopped it), at the output size, and why the
    /// run ended.
    pub fn run(
        &self,
        content: &RgbImage,
        styles: &[(&RgbImage, f32)],
        observer: &mut dyn Observer,
    ) -> Result<Stylized, RunError> {
        let settings = &self.settings;
        settings.validate(styles)?;
        let start = Instant::now();
        let (width, height) = settings.size.dimensions(content.width(), content.height());
        let final_content = image_io::resize(content, Size::Exact { width, height });
        // Colour histogram matching recolours the styles to the content's palette first.
        let matched: Vec<RgbImage> = match settings.original_colors {
            Some(OriginalColors::Histogram) => styles
                .iter()
                .map(|(s, _)| color::match_histogram(s, &final_content))
                .collect(),
            _ => styles.iter().map(|(s, _)| (*s).clone()).collect(),
        };
        let styles: Vec<(&RgbImage, f32)> = matched
            .iter()
            .zip(styles)
            .map(|(s, (_, w))| (s, *w))
            .collect();
        let mut previous: Option<RgbImage> = None;
        let mut result = None;
        for scale in 1..=settings.scales {
            let factor = 1u32 << (settings.scales - scale);
            let (w, h) = ((width / factor).max(1), (height / factor).max(1));
            if (w.min(h) as usize) < crate::model::MIN_INPUT_SIDE {
                return Err(Error::InvalidConfig {
                    name: "scales",
                    reason: format!(
                        "{} scales make the coarsest level {w}x{h}, below VGG19's {min}x{min}; use fewer scales or a larger size",
                        settings.scales,
                        min = crate::model::MIN_INPUT_SIDE
                    ),
                }
                .into());
            }
            let level_content = image_io::resize(
                &final_content,
                Size::Exact {
                    width: w,
                    height: h,
                },
            );
            let init = match (&previous, &settings.init) {
                (Some(prev), _) | (None, Init::Image(prev)) => image_io::resize(
                    prev,
                    Size::Exact {
                        width: w,
                        height: h,
                    },
                ),
                (None, Init::Content) => level_content.clone(),
                (None, Init::Noise) => noise_image(w, h, settings.seed),
            };
            let losses = self.losses(&level_content, &styles)?;
            let level = solver::solve(
                settings.optimizer,
                settings.iterations,
                (&losses, &self.vgg, &self.device),
                &init,
                Level {
                    scale,
                    scales: settings.scales,
                    start,
                },
                observer,
            )?;
            let stopped = level.ended == EndReason::Stopped;
            previous = Some(level.image.clone());
            result = Some(level);
            if stopped {
                break;
            }
        }
        let mut result = result.expect("at least one scale");
        // Stopped at a coarser scale: its best image, upsampled as the next scale would start.
        result.image = image_io::resize(&result.image, Size::Exact { width, height });
        if settings.original_colors == Some(OriginalColors::Luminance) {
            result.image = color::keep_luminance(&result.image, &final_content);
        }
        Ok(result)
    }
}

/// Uniform random pixels from a seed (SplitMix64), the same on every platform and backend.
fn noise_image(w: u32, h: u32, seed: u64) -> RgbImage {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let bytes = (0..w as usize * h as usize * 3)
        .map(|_| (next() >> 56) as u8)
        .collect();
    RgbImage::from_raw(w, h, bytes).expect("w*h*3 bytes")
}
