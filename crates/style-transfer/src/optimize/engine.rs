//! The engine: [`StyleTransfer`] holds VGG19 on a device and the run's settings, and
//! [`StyleTransfer::run`] stylizes an image: the output size, colour handling, the starting
//! image and the multi-scale levels, each optimized by [`crate::optimize::solver`] against the losses of
//! [`crate::optimize::objective`].

use std::sync::{Arc, Mutex};
use std::time::Instant;

use burn::tensor::Device;
use image::RgbImage;

use crate::backend::is_host_device;
use crate::error::{Error, Result};
use crate::image_io::color;
use crate::image_io::{self, Size};
use crate::optimize::host_path::HostVgg;
use crate::optimize::memory::Machine;
use crate::optimize::objective::Objective;
use crate::optimize::progress::{EndReason, Observer, RunError, Stylized};
use crate::optimize::settings::{Init, OriginalColors, Settings};
use crate::optimize::solver::{self, Level, Problem};
use crate::vgg::model::Vgg19;
use crate::vgg::weights::VggWeights;

/// Neural style transfer: VGG19 on a device plus every setting, with defaults after Gatys et
/// al. Configure a run with [`Settings`] (each setting is a `with_*` method there, with its
/// default), build the engine with [`StyleTransfer::from_settings`], then
/// [`StyleTransfer::run`].
#[derive(Debug)]
pub struct StyleTransfer {
    vgg: Vgg19,
    device: Device,
    settings: Settings,
    /// The network in Winograd form, built on first use as deep as the losses need.
    host: Mutex<Option<Arc<HostVgg>>>,
}

impl StyleTransfer {
    /// VGG19 from `weights` on `device` with the default [`Settings`].
    pub fn new(weights: &VggWeights, device: &Device) -> Self {
        Self::from_settings(weights, Settings::default(), device)
    }

    /// VGG19 from `weights` on `device` (with the settings' pooling) and `settings`, checked
    /// beforehand with [`Settings::validate`] if the caller wants to refuse them before
    /// reading the weights; [`StyleTransfer::run`] checks them again.
    pub fn from_settings(weights: &VggWeights, settings: Settings, device: &Device) -> Self {
        StyleTransfer {
            vgg: Vgg19::new(weights, settings.pooling, device)
                .with_convolution(settings.convolution),
            device: device.clone(),
            settings,
            host: Mutex::new(None),
        }
    }

    /// The same engine starting its next runs from `init` (as [`Settings::with_init`]): the
    /// network and its Winograd form are kept, so a batch whose starting image changes from
    /// picture to picture builds them once.
    pub fn with_init(mut self, init: Init) -> Self {
        self.settings = self.settings.with_init(init);
        self
    }

    /// The same engine with other settings for its next runs (a picture's plan, another
    /// starting image): the network and its Winograd form are kept.
    /// [`Error::InvalidConfig`] for settings with another pooling, which needs another
    /// network ([`StyleTransfer::from_settings`]).
    pub fn with_settings(mut self, settings: Settings) -> Result<Self> {
        if settings.pooling != self.settings.pooling {
            return Err(Error::InvalidConfig {
                name: "pooling",
                reason: "the network was built with another pooling; build a new engine with \
                         StyleTransfer::from_settings"
                    .into(),
            });
        }
        self.vgg = self.vgg.with_convolution(settings.convolution);
        self.settings = settings;
        Ok(self)
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The network, for computing features directly.
    pub fn vgg(&self) -> &Vgg19 {
        &self.vgg
    }

    /// The Winograd network when it applies (switched on, CPU device), as deep as the losses.
    fn host_vgg(&self) -> Option<Arc<HostVgg>> {
        if !self.settings.winograd || !is_host_device(&self.device) {
            return None;
        }
        let deepest = self.settings.deepest_layer()?;
        let mut cached = self.host.lock().unwrap_or_else(|e| e.into_inner());
        match cached.as_ref() {
            Some(host) if host.deepest() >= deepest => Some(host.clone()),
            _ => {
                let host = Arc::new(HostVgg::new(&self.vgg, deepest));
                *cached = Some(host.clone());
                Some(host)
            }
        }
    }

    /// The former name of [`StyleTransfer::objective`].
    #[deprecated(note = "renamed `objective`")]
    pub fn losses(&self, content: &RgbImage, styles: &[(&RgbImage, f32)]) -> Result<Objective> {
        self.objective(content, styles)
    }

    /// Builds the objective for a content image (already at the output size) and style images
    /// (at their original size; resized here) with blend weights: the loss terms and their
    /// gradient at any image, as a run evaluates them.
    ///
    /// With [`Settings::with_tiling`], the objective of a picture past memory (on the host
    /// path), or larger than the tiles asked for (on any path), is evaluated in tiles: the
    /// same objective, tile by tile.
    pub fn objective(&self, content: &RgbImage, styles: &[(&RgbImage, f32)]) -> Result<Objective> {
        self.settings.validate_values()?;
        self.settings.check_styles(styles, None)?;
        let host = self.host_vgg();
        let machine = Machine::of(&self.settings, &self.device);
        let grid = self.settings.tile_grid(&machine, content.dimensions());
        if let Some(grid) = grid {
            return Objective::tiled(
                &self.settings,
                &self.vgg,
                &self.device,
                host,
                grid,
                content,
                styles,
            );
        }
        Objective::new(
            &self.settings,
            &self.vgg,
            &self.device,
            host,
            content,
            styles,
        )
    }

    /// Stylizes `content` with `styles` (image and blend weight each), calling `observer` after
    /// every iteration. Returns the image with the lowest total loss seen at the scale the run
    /// ended in (the last, unless the observer stopped it), at the output size, and why the
    /// run ended. A run that its plan ([`Settings::plan_on`]) finds cannot fit in the device's
    /// memory is refused before any work with [`Error::DoesNotFit`], one whose largest tensor
    /// no buffer of the GPU holds with [`Error::GpuBufferTooSmall`].
    pub fn run(
        &self,
        content: &RgbImage,
        styles: &[(&RgbImage, f32)],
        observer: &mut dyn Observer,
    ) -> Result<Stylized, RunError> {
        let settings = &self.settings;
        settings.validate(content.width(), content.height())?;
        // What does not fit (memory, or a GPU buffer) is refused now, not part way through.
        settings.plan_on(&self.device, content.width(), content.height())?;
        let levels = settings.level_sizes(content.width(), content.height());
        settings.check_styles(styles, levels.first().copied())?;
        let start = Instant::now();
        let (width, height) = settings.output_size(content.width(), content.height());
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
        let mut result: Option<Stylized> = None;
        for (scale, (w, h)) in (1..).zip(levels) {
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
            let objective = self.objective(&level_content, &styles)?;
            let solved = solver::solve(
                settings.solver,
                settings.iterations,
                Problem {
                    objective: &objective,
                    vgg: &self.vgg,
                    device: &self.device,
                },
                &init,
                Level {
                    scale,
                    scales: settings.scales,
                    start,
                    tiles: objective.tile_count(h as usize, w as usize),
                },
                observer,
            );
            let level = match (solved, result.take()) {
                (Ok(level), _) => level,
                // Stopped during this scale's first evaluation: the coarser scale's result.
                (Err(e), Some(mut coarser)) if matches!(*e.error, Error::Stopped) => {
                    coarser.ended = EndReason::Stopped;
                    result = Some(coarser);
                    break;
                }
                (Err(e), _) => return Err(e),
            };
            let stopped = level.ended == EndReason::Stopped;
            previous = Some(level.image.clone());
            result = Some(level);
            if stopped {
                break;
            }
        }
        let mut result = result.expect("at least one scale");
        // Stopped at a coarser scale: its best image, upsampled as the next scale would start.
        if result.image.dimensions() != (width, height) {
            result.image = image_io::resize(&result.image, Size::Exact { width, height });
            result.pixels = color::unit_pixels(&result.image);
        }
        if settings.original_colors == Some(OriginalColors::Luminance) {
            result.pixels = color::keep_luminance_pixels(&result.pixels, &final_content);
            result.image = color::rgb8(&result.pixels);
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
