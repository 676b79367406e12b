//! The style transfer engine: [`StyleTransfer`] holds VGG19 on a device and its settings,
//! and [`StyleTransfer::run`] optimizes the pixels of a generated image with Adam or L-BFGS.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use burn::optim::{AdamConfig, Optimizer as _};
use burn::tensor::{Device, Tensor, TensorData};
use image::RgbImage;

use crate::backend::is_host_device;
use crate::color;
use crate::convention::InputConvention;
use crate::error::{Error, Result};
use crate::fast_path::{FastTargets, FastVgg, StepTime, block_size};
use crate::image_io::{self, Size, image_to_tensor, tensor_to_image, tensor_values};
use crate::layers::Layer;
use crate::lbfgs::{Lbfgs, LbfgsConfig};
use crate::losses::{ContentLoss, LayerWeight, StyleLoss, total_variation};
use crate::model::{Features, Pooling, Vgg19, check_input_size};
use crate::weights::VggWeights;

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

/// The loss terms at one point, in f64.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LossTerms {
    /// `L_content` (unweighted by alpha).
    pub content: f64,
    /// `L_style` (the sum of the weighted per-layer terms, unweighted by beta).
    pub style: f64,
    /// Weighted per-layer style terms `w_l E_l`.
    pub style_layers: Vec<(Layer, f64)>,
    /// `L_tv` (unweighted).
    pub tv: f64,
    /// `alpha * content + beta * style + tv_weight * tv`.
    pub total: f64,
}

/// What an observer sees after each iteration.
#[derive(Debug)]
pub struct Progress<'a> {
    /// The iteration just finished, from 1.
    pub iteration: usize,
    /// The number of iterations asked for (per scale).
    pub iterations: usize,
    /// The current scale, from 1 (coarsest) to `scales` (the output size).
    pub scale: usize,
    /// The number of scales of a multi-scale run (1 otherwise).
    pub scales: usize,
    /// The loss terms at the current image.
    pub losses: &'a LossTerms,
    /// Time since the run started (targets included).
    pub elapsed: Duration,
    /// The current image, when the observer asked for it through [`Observer::wants_image`].
    pub image: Option<&'a RgbImage>,
}

/// Whether to go on after an iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Go on.
    Continue,
    /// Stop now and return the best image so far.
    Stop,
}

/// Receives progress after each iteration and may stop the run.
pub trait Observer {
    /// Whether [`Progress::image`] should hold the current image at `iteration` (converting it
    /// costs a copy from the device). Default: never.
    fn wants_image(&mut self, iteration: usize) -> bool {
        let _ = iteration;
        false
    }
    /// Called after each iteration.
    fn observe(&mut self, progress: &Progress<'_>) -> Control;
}

impl<F: FnMut(&Progress<'_>) -> Control> Observer for F {
    fn observe(&mut self, progress: &Progress<'_>) -> Control {
        self(progress)
    }
}

/// The result of a run.
#[derive(Clone, Debug)]
pub struct Stylized {
    /// The best image found (lowest total loss), as saved.
    pub image: RgbImage,
    /// Its loss terms, as the optimizer computed them (before rounding to 8 bits).
    pub losses: LossTerms,
    /// Iterations done.
    pub iterations: usize,
    /// Whether the observer stopped the run (or L-BFGS converged) before the last iteration.
    pub stopped_early: bool,
}

/// A failed run, with the last image whose loss was finite (when there was one).
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct RunError {
    /// What went wrong (boxed to keep `Result<Stylized, RunError>` small).
    #[source]
    pub error: Box<Error>,
    /// The last image with finite losses, if any iteration got that far.
    pub image: Option<RgbImage>,
}

impl From<Error> for RunError {
    fn from(error: Error) -> Self {
        RunError {
            error: Box::new(error),
            image: None,
        }
    }
}

/// Neural style transfer: VGG19 on a device plus every setting, with defaults after Gatys et
/// al. Configure with the `with_*` methods, then [`StyleTransfer::run`].
#[derive(Debug)]
pub struct StyleTransfer {
    vgg: Vgg19,
    device: Device,
    content_weight: f64,
    style_weight: f64,
    tv_weight: f64,
    content_layers: Vec<LayerWeight>,
    style_layers: Vec<LayerWeight>,
    optimizer: Optimizer,
    iterations: usize,
    init: Init,
    seed: u64,
    size: Size,
    style_size: Option<Size>,
    style_scale: f64,
    scales: usize,
    original_colors: Option<OriginalColors>,
    winograd: bool,
    /// The network in Winograd form, built on first use as deep as the losses need.
    fast: Mutex<Option<Arc<FastVgg>>>,
}

/// Default style layers: conv1_1, conv2_1, conv3_1, conv4_1, conv5_1, each weighted 1/5.
pub const DEFAULT_STYLE_LAYERS: [LayerWeight; 5] = [
    (Layer::Conv1_1, 0.2),
    (Layer::Conv2_1, 0.2),
    (Layer::Conv3_1, 0.2),
    (Layer::Conv4_1, 0.2),
    (Layer::Conv5_1, 0.2),
];

impl StyleTransfer {
    /// VGG19 from `weights` on `device` with max pooling and the defaults: alpha 1, beta 1e3,
    /// no TV, content conv4_2, [`DEFAULT_STYLE_LAYERS`], L-BFGS (history 100), 500 iterations,
    /// init from content, seed 0, output 512 px on the longest side, style at the same scale.
    pub fn new(weights: &VggWeights, device: &Device) -> Self {
        Self::with_pooling(weights, Pooling::Max, device)
    }

    /// As [`StyleTransfer::new`] with the given pooling.
    pub fn with_pooling(weights: &VggWeights, pooling: Pooling, device: &Device) -> Self {
        StyleTransfer {
            vgg: Vgg19::new(weights, pooling, device),
            device: device.clone(),
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
            fast: Mutex::new(None),
        }
    }

    /// Content weight alpha (default 1).
    pub fn with_content_weight(mut self, alpha: f64) -> Self {
        self.content_weight = alpha;
        self
    }
    /// Style weight beta (default 1e3).
    pub fn with_style_weight(mut self, beta: f64) -> Self {
        self.style_weight = beta;
        self
    }
    /// Total variation weight (default 0).
    pub fn with_tv_weight(mut self, weight: f64) -> Self {
        self.tv_weight = weight;
        self
    }
    /// Content layers and their weights (default conv4_2 with weight 1).
    pub fn with_content_layers(mut self, layers: &[LayerWeight]) -> Self {
        self.content_layers = layers.to_vec();
        self
    }
    /// Style layers and their weights (default [`DEFAULT_STYLE_LAYERS`]).
    pub fn with_style_layers(mut self, layers: &[LayerWeight]) -> Self {
        self.style_layers = layers.to_vec();
        self
    }
    /// The optimizer (default L-BFGS with history 100).
    pub fn with_optimizer(mut self, optimizer: Optimizer) -> Self {
        self.optimizer = optimizer;
        self
    }
    /// Number of iterations (default 500). With L-BFGS an iteration is one direction and its
    /// line search (one or more loss evaluations).
    pub fn with_iterations(mut self, iterations: usize) -> Self {
        self.iterations = iterations;
        self
    }
    /// Where the image starts (default from the content).
    pub fn with_init(mut self, init: Init) -> Self {
        self.init = init;
        self
    }
    /// Seed of the noise initialization (default 0). Same inputs and seed give the same image
    /// on a CPU backend.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Output size (default 512 px on the longest side); the content image is resized to it.
    pub fn with_size(mut self, size: Size) -> Self {
        self.size = size;
        self
    }
    /// Style image size relative to the output's longest side (default 1).
    pub fn with_style_scale(mut self, scale: f64) -> Self {
        self.style_scale = scale;
        self
    }
    /// An exact size for the style images, overriding the style scale.
    pub fn with_style_size(mut self, size: Size) -> Self {
        self.style_size = Some(size);
        self
    }
    /// Multi-scale, coarse to fine (default 1): `scales` levels, each half the size of the
    /// next, each level's result upsampled to start the next; iterations are per level.
    pub fn with_scales(mut self, scales: usize) -> Self {
        self.scales = scales;
        self
    }
    /// Keep the content's original colours (default: no, take the style's).
    pub fn with_original_colors(mut self, mode: Option<OriginalColors>) -> Self {
        self.original_colors = mode;
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
        self.winograd = on;
        self
    }

    /// The Winograd network when it applies (switched on, CPU device), as deep as the losses.
    fn fast_vgg(&self) -> Option<Arc<FastVgg>> {
        if !self.winograd || !is_host_device(&self.device) {
            return None;
        }
        let deepest = self
            .content_layers
            .iter()
            .chain(&self.style_layers)
            .map(|(l, _)| *l)
            .max()?;
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

    /// Post-ReLU features of `image` at `layers`, by the Winograd path when given.
    fn features(
        &self,
        image: &RgbImage,
        layers: &[Layer],
        fast: Option<&FastVgg>,
    ) -> Result<Features> {
        let convention = self.vgg.convention();
        let Some(fast) = fast else {
            let input = image_to_tensor(image, convention, &self.device);
            return self.vgg.forward(input, layers);
        };
        let (w, h) = (image.width() as usize, image.height() as usize);
        check_input_size(w, h)?;
        let x = image_io::image_to_planar(image, convention);
        let layers = fast
            .features(&x, h, w, layers)
            .into_iter()
            .map(|(layer, values)| {
                let (lh, lw) = block_size(layer, h, w);
                let shape = [1, layer.channels(), lh, lw];
                (
                    layer,
                    Tensor::from_data(TensorData::new(values, shape), &self.device),
                )
            })
            .collect();
        Ok(Features::from_layers(layers))
    }

    fn validate(&self, styles: &[(&RgbImage, f32)]) -> Result<()> {
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

    /// Builds the losses for a content image (already at the output size) and style images
    /// (at their original size; resized here) with blend weights.
    pub fn losses(&self, content: &RgbImage, styles: &[(&RgbImage, f32)]) -> Result<Losses> {
        self.validate(styles)?;
        let fast = self.fast_vgg();
        let layers: Vec<Layer> = self.content_layers.iter().map(|(l, _)| *l).collect();
        let content_loss = if layers.is_empty() {
            None
        } else {
            Some(ContentLoss::new(
                &self.features(content, &layers, fast.as_deref())?,
                &self.content_layers,
            )?)
        };
        let style_layers: Vec<Layer> = self.style_layers.iter().map(|(l, _)| *l).collect();
        let style_loss = if style_layers.is_empty() {
            None
        } else {
            let longest = content.width().max(content.height()) as f64;
            let size = self.style_size.unwrap_or(Size::Longest(
                (longest * self.style_scale).round().max(1.0) as u32,
            ));
            let mut features = Vec::with_capacity(styles.len());
            for (image, weight) in styles {
                let resized = image_io::resize(image, size);
                let f = self.features(&resized, &style_layers, fast.as_deref())?;
                features.push((f, *weight));
            }
            let refs: Vec<_> = features.iter().map(|(f, w)| (f, *w)).collect();
            Some(StyleLoss::blended(&refs, &self.style_layers)?)
        };
        let mut all: Vec<Layer> = layers.into_iter().chain(style_layers).collect();
        all.sort();
        all.dedup();
        let fast = fast.map(|vgg| {
            let targets = FastTargets {
                content: content_loss
                    .iter()
                    .flat_map(|l| l.targets())
                    .map(|(l, w, t)| (*l, *w, tensor_values(t)))
                    .collect(),
                style: style_loss
                    .iter()
                    .flat_map(|l| l.targets())
                    .map(|(l, w, t)| (*l, *w, tensor_values(t)))
                    .collect(),
                alpha: self.content_weight,
                beta: self.style_weight,
                tv: self.tv_weight,
            };
            (vgg, targets)
        });
        Ok(Losses {
            content: content_loss,
            style: style_loss,
            layers: all,
            alpha: self.content_weight,
            beta: self.style_weight,
            tv: self.tv_weight,
            fast,
        })
    }

    /// Stylizes `content` with `styles` (image and blend weight each), calling `observer` after
    /// every iteration. Returns the image with the lowest total loss seen (of the last scale).
    pub fn run(
        &self,
        content: &RgbImage,
        styles: &[(&RgbImage, f32)],
        observer: &mut dyn Observer,
    ) -> Result<Stylized, RunError> {
        self.validate(styles)?;
        let start = Instant::now();
        let (width, height) = self.size.dimensions(content.width(), content.height());
        let final_content = image_io::resize(content, Size::Exact { width, height });
        // Colour histogram matching recolours the styles to the content's palette first.
        let matched: Vec<RgbImage> = match self.original_colors {
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
        for scale in 1..=self.scales {
            let factor = 1u32 << (self.scales - scale);
            let (w, h) = ((width / factor).max(1), (height / factor).max(1));
            if (w.min(h) as usize) < crate::model::MIN_INPUT_SIDE {
                return Err(Error::InvalidConfig {
                    name: "scales",
                    reason: format!(
                        "{} scales make the coarsest level {w}x{h}, below VGG19's {min}x{min}; use fewer scales or a larger size",
                        self.scales,
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
            let init = match (&previous, &self.init) {
                (Some(prev), _) | (None, Init::Image(prev)) => image_io::resize(
                    prev,
                    Size::Exact {
                        width: w,
                        height: h,
                    },
                ),
                (None, Init::Content) => level_content.clone(),
                (None, Init::Noise) => noise_image(w, h, self.seed),
            };
            let level = self.run_level(&level_content, &styles, &init, (scale, start), observer)?;
            previous = Some(level.image.clone());
            result = Some(level);
        }
        let mut result = result.expect("at least one scale");
        if self.original_colors == Some(OriginalColors::Luminance) {
            result.image = color::keep_luminance(&result.image, &final_content);
        }
        Ok(result)
    }

    /// One scale of a run: `content` and `init` are at this scale's size.
    fn run_level(
        &self,
        content: &RgbImage,
        styles: &[(&RgbImage, f32)],
        init: &RgbImage,
        (scale, start): (usize, Instant),
        observer: &mut dyn Observer,
    ) -> Result<Stylized, RunError> {
        let losses = self.losses(content, styles)?;
        let convention = self.vgg.convention();
        let (w, h) = content.dimensions();
        let x = image_to_tensor(init, convention, &self.device);
        let projector = Projector::new(
            convention.channel_range(),
            [1, 3, h as usize, w as usize],
            &self.device,
        );
        let mut tracker = Tracker {
            best: None,
            last_finite: None,
            start,
            observer,
            iterations: self.iterations,
            scale: (scale, self.scales),
            convention,
        };
        let evaluate = |x: Tensor<4>, iteration: usize| losses.evaluate(&self.vgg, x, iteration);
        match self.optimizer {
            Optimizer::Adam { lr } => {
                let adam = AdamConfig::new().with_epsilon(1e-8).build();
                let mut x = projector.project(x);
                let mut state = None;
                for iteration in 1..=self.iterations {
                    let (terms, grad) =
                        evaluate(x.clone(), iteration).map_err(|e| tracker.fail(e))?;
                    tracker.record(&x, &terms);
                    let (next, next_state) = adam.step(lr, x, grad, state);
                    (x, state) = (projector.project(next), next_state);
                    if tracker.observe(iteration, &terms, &x) == Control::Stop {
                        return tracker.finish(iteration, true);
                    }
                }
                // Score the final image too: the last step may have improved it.
                let terms = losses
                    .terms(&self.vgg, x.clone())
                    .map_err(|e| tracker.fail(e))?;
                tracker.record(&x, &terms);
                tracker.finish(self.iterations, false)
            }
            Optimizer::Lbfgs { history } => {
                let shape = [1, 3, h as usize, w as usize];
                let mut lbfgs = Lbfgs::new(LbfgsConfig {
                    history,
                    ..LbfgsConfig::default()
                });
                let mut flat = tensor_values(&projector.project(x));
                for iteration in 1..=self.iterations {
                    // Every point the line search evaluates; the accepted one is reported.
                    let mut evaluated: Vec<(LossTerms, Tensor<4>)> = Vec::new();
                    let mut eval = |v: &[f32]| -> Result<(f64, Vec<f32>)> {
                        let x = projector.project(Tensor::from_data(
                            TensorData::new(v.to_vec(), shape),
                            &self.device,
                        ));
                        let (terms, grad) = evaluate(x.clone(), iteration)?;
                        let total = terms.total;
                        tracker.record(&x, &terms);
                        evaluated.push((terms, x));
                        Ok((total, tensor_values(&grad)))
                    };
                    let step = lbfgs
                        .step(&mut flat, &mut eval)
                        .map_err(|e| tracker.fail(e))?;
                    project_flat(
                        &mut flat,
                        convention.channel_range(),
                        h as usize * w as usize,
                    );
                    let accepted = evaluated
                        .iter()
                        .rposition(|(t, _)| t.total == step.loss)
                        .or(evaluated.len().checked_sub(1));
                    let Some((terms, x)) = accepted.map(|i| evaluated.swap_remove(i)) else {
                        // Converged without a new evaluation: nothing more to gain.
                        return tracker.finish(iteration - 1, iteration <= self.iterations);
                    };
                    if tracker.observe(iteration, &terms, &x) == Control::Stop || step.converged {
                        return tracker.finish(iteration, iteration < self.iterations);
                    }
                }
                tracker.finish(self.iterations, false)
            }
        }
    }
}

/// The losses of one run, with their targets computed: evaluates the loss terms and the
/// gradient with respect to the image.
#[derive(Debug)]
pub struct Losses {
    content: Option<ContentLoss>,
    style: Option<StyleLoss>,
    layers: Vec<Layer>,
    alpha: f64,
    beta: f64,
    tv: f64,
    /// The Winograd CPU path and the targets on the host, when it applies.
    fast: Option<(Arc<FastVgg>, FastTargets)>,
}

impl Losses {
    /// Whether evaluations run on the Winograd CPU path (see [`StyleTransfer::with_winograd`]).
    pub fn uses_winograd(&self) -> bool {
        self.fast.is_some()
    }

    /// The loss terms at `x` (`[1, 3, h, w]`, no autodiff) without a gradient.
    pub fn terms(&self, vgg: &Vgg19, x: Tensor<4>) -> Result<LossTerms> {
        let (terms, _) = self.compute(vgg, x, false, 0)?;
        Ok(terms)
    }

    /// The loss terms at `x` and the gradient of the total with respect to `x`; a non-finite
    /// loss or gradient is [`Error::NonFinite`] naming the term.
    pub fn evaluate(
        &self,
        vgg: &Vgg19,
        x: Tensor<4>,
        iteration: usize,
    ) -> Result<(LossTerms, Tensor<4>)> {
        let (terms, grad) = self.compute(vgg, x, true, iteration)?;
        Ok((terms, grad.expect("gradient requested")))
    }

    fn compute(
        &self,
        vgg: &Vgg19,
        x: Tensor<4>,
        gradient: bool,
        iteration: usize,
    ) -> Result<(LossTerms, Option<Tensor<4>>)> {
        if self.fast.is_some() {
            return self.compute_winograd(x, gradient, iteration, None);
        }
        let x = if gradient {
            x.autodiff().require_grad()
        } else {
            x
        };
        let features = vgg.forward(x.clone(), &self.layers)?;
        let mut scalars: Vec<Tensor<1>> = Vec::new();
        let mut total: Option<Tensor<1>> = None;
        let add = |term: Tensor<1>, weight: f64, total: &mut Option<Tensor<1>>| {
            let weighted = term.clone().mul_scalar(weight);
            *total = Some(match total.take() {
                Some(t) => t + weighted,
                None => weighted,
            });
            term
        };
        let content = match &self.content {
            Some(loss) => add(loss.forward(&features)?, self.alpha, &mut total),
            None => Tensor::zeros([1], &x.device()),
        };
        scalars.push(content);
        let mut style_layers = Vec::new();
        if let Some(loss) = &self.style {
            for (layer, term) in loss.forward_layers(&features)? {
                style_layers.push(layer);
                scalars.push(add(term, self.beta, &mut total));
            }
        }
        let tv = if self.tv > 0.0 {
            add(total_variation(&x), self.tv, &mut total)
        } else {
            Tensor::zeros([1], &x.device())
        };
        scalars.push(tv);
        let total = total.expect("at least one loss term");
        let grad = if gradient {
            let grads = total.backward();
            let g = x.grad(&grads).expect("the image requires a gradient");
            Some(g)
        } else {
            None
        };
        // One read from the device for every scalar (and the gradient's sum, to catch NaN).
        let mut parts: Vec<Tensor<1>> = scalars.into_iter().map(|t| t.inner()).collect();
        parts.push(total.inner());
        if let Some(g) = &grad {
            parts.push(g.clone().sum());
        }
        let values = tensor_values(&Tensor::cat(parts, 0));
        let n = style_layers.len();
        let style_values = &values[1..1 + n];
        let terms = LossTerms {
            content: values[0] as f64,
            style: style_values.iter().map(|&v| v as f64).sum(),
            style_layers: style_layers
                .into_iter()
                .zip(style_values.iter().map(|&v| v as f64))
                .collect(),
            tv: values[1 + n] as f64,
            total: values[2 + n] as f64,
        };
        let grad_sum = grad.as_ref().map(|_| values[3 + n] as f64);
        check_finite(&terms, grad_sum, iteration)?;
        Ok((terms, grad))
    }
}

impl Losses {
    /// One evaluation on the Winograd CPU path, with its steps timed into `profile`.
    fn compute_winograd(
        &self,
        x: Tensor<4>,
        gradient: bool,
        iteration: usize,
        mut profile: Option<&mut Vec<StepTime>>,
    ) -> Result<(LossTerms, Option<Tensor<4>>)> {
        let (fast, targets) = self.fast.as_ref().expect("the Winograd path applies");
        let [_, _, h, w] = x.dims();
        let start = Instant::now();
        let host = tensor_values(&x);
        let mut copies = start.elapsed().as_secs_f64();
        let (terms, grad) = fast.evaluate(&host, h, w, targets, gradient, profile.as_deref_mut());
        let start = Instant::now();
        let grad_sum = grad
            .as_ref()
            .map(|g| g.iter().map(|v| *v as f64).sum::<f64>());
        check_finite(&terms, grad_sum, iteration)?;
        let grad = grad.map(|g| Tensor::from_data(TensorData::new(g, [1, 3, h, w]), &x.device()));
        copies += start.elapsed().as_secs_f64();
        if let Some(profile) = profile {
            profile.push(StepTime {
                step: "copies".into(),
                seconds: copies,
                direct_flop: 0.0,
                gemm_flop: 0.0,
            });
        }
        Ok((terms, grad))
    }

    /// Times one evaluation (loss terms and gradient at `x`) step by step on the Winograd CPU
    /// path: each layer's forward pass, losses, ReLU mask, pooling and input gradient, and the
    /// copies in and out. [`Error::InvalidConfig`] when the path does not apply (switched off,
    /// or not a CPU device). `cargo run --release --example profile` prints it as a table.
    pub fn profile(&self, x: Tensor<4>) -> Result<Vec<StepTime>> {
        if self.fast.is_none() {
            return Err(Error::InvalidConfig {
                name: "profile",
                reason: "only the Winograd CPU path is profiled; use a CPU backend with the Winograd path on".into(),
            });
        }
        let mut steps = Vec::new();
        self.compute_winograd(x, true, 0, Some(&mut steps))?;
        Ok(steps)
    }
}

/// [`Error::NonFinite`] naming the first loss term (or the gradient, by its sum) that is NaN
/// or infinite.
fn check_finite(terms: &LossTerms, grad_sum: Option<f64>, iteration: usize) -> Result<()> {
    let named = [
        ("content", terms.content),
        ("style", terms.style),
        ("tv", terms.tv),
        ("total", terms.total),
        ("gradient", grad_sum.unwrap_or(0.0)),
    ];
    match named.iter().find(|(_, v)| !v.is_finite()) {
        Some((term, _)) => Err(Error::NonFinite { iteration, term }),
        None => Ok(()),
    }
}

/// Projects images into the valid pixel range of each channel.
struct Projector {
    lo: Tensor<4>,
    hi: Tensor<4>,
}

impl Projector {
    fn new(range: [(f32, f32); 3], shape: [usize; 4], device: &Device) -> Self {
        let plane = shape[2] * shape[3];
        let fill = |pick: fn((f32, f32)) -> f32| {
            let data: Vec<f32> = range
                .iter()
                .flat_map(|r| std::iter::repeat_n(pick(*r), plane))
                .collect();
            Tensor::from_data(TensorData::new(data, shape), device)
        };
        Projector {
            lo: fill(|r| r.0),
            hi: fill(|r| r.1),
        }
    }

    fn project(&self, x: Tensor<4>) -> Tensor<4> {
        x.max_pair(self.lo.clone()).min_pair(self.hi.clone())
    }
}

fn project_flat(x: &mut [f32], range: [(f32, f32); 3], plane: usize) {
    for (c, chunk) in x.chunks_mut(plane).enumerate() {
        let (lo, hi) = range[c];
        for v in chunk {
            *v = v.clamp(lo, hi);
        }
    }
}

/// Best and last finite images, and the observer.
struct Tracker<'a> {
    best: Option<(f64, Tensor<4>, LossTerms)>,
    last_finite: Option<Tensor<4>>,
    start: Instant,
    observer: &'a mut dyn Observer,
    iterations: usize,
    scale: (usize, usize),
    convention: InputConvention,
}

impl Tracker<'_> {
    /// Notes an evaluated point with finite losses.
    fn record(&mut self, x: &Tensor<4>, terms: &LossTerms) {
        self.last_finite = Some(x.clone());
        if self
            .best
            .as_ref()
            .is_none_or(|(best, _, _)| terms.total < *best)
        {
            self.best = Some((terms.total, x.clone(), terms.clone()));
        }
    }

    fn observe(&mut self, iteration: usize, terms: &LossTerms, x: &Tensor<4>) -> Control {
        let image = if self.observer.wants_image(iteration) {
            tensor_to_image(x, self.convention).ok()
        } else {
            None
        };
        let progress = Progress {
            iteration,
            iterations: self.iterations,
            scale: self.scale.0,
            scales: self.scale.1,
            losses: terms,
            elapsed: self.start.elapsed(),
            image: image.as_ref(),
        };
        self.observer.observe(&progress)
    }

    /// A failed run, carrying the last image whose losses were finite.
    fn fail(&mut self, error: Error) -> RunError {
        let image = self
            .last_finite
            .take()
            .and_then(|x| tensor_to_image(&x, self.convention).ok());
        RunError {
            error: Box::new(error),
            image,
        }
    }

    fn finish(self, iterations: usize, stopped_early: bool) -> Result<Stylized, RunError> {
        let (_, x, losses) = self.best.ok_or_else(|| {
            RunError::from(Error::InvalidConfig {
                name: "iterations",
                reason: "the run ended before any evaluation".into(),
            })
        })?;
        let image = tensor_to_image(&x, self.convention)?;
        Ok(Stylized {
            image,
            losses,
            iterations,
            stopped_early,
        })
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
