//! What a run is asked to do: [`Settings`] (the solver, where the image starts, colour
//! handling, the loss weights and layers, sizes and scales, pooling), with their defaults
//! after Gatys et al. and [`Settings::validate`], which refuses out-of-range values before any
//! network is built or weights are read.

use std::path::PathBuf;

use image::{GrayImage, RgbImage};

use crate::error::{Error, Result};
use crate::image_io::Size;
use crate::optimize::losses::LayerWeight;
use crate::optimize::masks::{Mask, check_mask, same_aspect};
use crate::plan::{MemoryPlan, Tiling};
use crate::vgg::convolution::Convolution;
use crate::vgg::layers::Layer;
use crate::vgg::model::{MIN_INPUT_SIDE, Pooling};

/// How the image's pixels are optimized.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Solver {
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
#[non_exhaustive]
pub enum OriginalColors {
    /// Luminance-only transfer: the result's luminance with the content's chroma (YIQ).
    Luminance,
    /// Colour histogram matching: each style image is recoloured (mean and covariance of its
    /// RGB pixels) to match the content's before the transfer.
    Histogram,
}

/// Where the generated image starts.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
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

/// A video frame's temporal term ([`crate::losses::TemporalLoss`], Ruder et al. 2016): the
/// previous stylized frame moved into this one by the optical flow, where the flow can be
/// trusted, and the term's weight in the total. Both pictures have the output's size (they
/// are resized to each scale with `--scales`).
#[derive(Clone, Debug, PartialEq)]
pub struct Temporal {
    pub(crate) warped: RgbImage,
    pub(crate) reliable: GrayImage,
    pub(crate) weight: f64,
}

impl Temporal {
    /// The term towards `warped` (the previous output moved by the flow) where `reliable` is
    /// white (black: no constraint, grays weaken it), with `weight` in the total.
    pub fn new(warped: RgbImage, reliable: GrayImage, weight: f64) -> Self {
        Temporal {
            warped,
            reliable,
            weight,
        }
    }

    /// The term's weight in the total.
    pub fn weight(&self) -> f64 {
        self.weight
    }

    /// The moved previous output and its reliability (0-1 per pixel, row-major) at
    /// `width` x `height`.
    pub(crate) fn at_size(&self, width: u32, height: u32) -> (RgbImage, Vec<f32>) {
        let warped = crate::image_io::resize(&self.warped, Size::Exact { width, height });
        (warped, Mask::resized(&self.reliable, width, height).values)
    }
}

/// Every setting of a run, with defaults after Gatys et al.: alpha 1, beta 1e3, no TV,
/// content conv4_2, [`DEFAULT_STYLE_LAYERS`], L-BFGS (history 100), 500 iterations, init from
/// content, seed 0, output 512 px on the longest side, style at the same scale, one scale,
/// max pooling, the host path on, Burn's convolution on the tensor path.
///
/// Build with the `with_*` methods; [`Settings::validate`] checks them against a content
/// image's size without a network, so a caller can refuse bad settings before reading or
/// fetching weights; [`crate::StyleTransfer::from_settings`] then builds the engine.
///
/// ```
/// use style_transfer::{Settings, Size};
///
/// let settings = Settings::new().with_size(Size::Longest(8));
/// let err = settings.validate(640, 480).unwrap_err();
/// assert!(err.to_string().starts_with("invalid size: "), "{err}");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub(crate) content_weight: f64,
    pub(crate) style_weight: f64,
    pub(crate) tv_weight: f64,
    pub(crate) content_layers: Vec<LayerWeight>,
    pub(crate) style_layers: Vec<LayerWeight>,
    pub(crate) solver: Solver,
    pub(crate) iterations: usize,
    pub(crate) init: Init,
    pub(crate) seed: u64,
    pub(crate) size: Size,
    pub(crate) style_size: Option<Size>,
    pub(crate) style_scale: f64,
    pub(crate) scales: usize,
    pub(crate) original_colors: Option<OriginalColors>,
    pub(crate) pooling: Pooling,
    pub(crate) winograd: bool,
    pub(crate) convolution: Convolution,
    pub(crate) style_masks: Vec<Option<GrayImage>>,
    pub(crate) style_image_masks: Vec<Option<GrayImage>>,
    pub(crate) content_weight_map: Option<GrayImage>,
    pub(crate) tiling: Tiling,
    pub(crate) tile_halo: u32,
    pub(crate) tile_shift: bool,
    pub(crate) tile_spill: Option<PathBuf>,
    pub(crate) temporal: Option<Temporal>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            content_weight: 1.0,
            style_weight: 1e3,
            tv_weight: 0.0,
            content_layers: vec![(Layer::Conv4_2, 1.0)],
            style_layers: DEFAULT_STYLE_LAYERS.to_vec(),
            solver: Solver::Lbfgs { history: 100 },
            iterations: 500,
            init: Init::Content,
            seed: 0,
            size: Size::Longest(512),
            style_size: None,
            style_scale: 1.0,
            scales: 1,
            original_colors: None,
            pooling: Pooling::Max,
            winograd: true,
            convolution: Convolution::Burn,
            style_masks: Vec::new(),
            style_image_masks: Vec::new(),
            content_weight_map: None,
            tiling: Tiling::Auto,
            tile_halo: DEFAULT_TILE_HALO,
            tile_shift: false,
            tile_spill: Some(std::env::temp_dir()),
            temporal: None,
        }
    }
}

/// The largest number of scales (the coarsest level is then 1/128 of the output).
const MAX_SCALES: usize = 8;

/// The default context around each tile (pixels), [`Settings::with_tile_halo`].
pub const DEFAULT_TILE_HALO: u32 = 32;
/// The smallest tile side the optimization accepts (pixels, without the halo).
pub const MIN_TILE_SIDE: u32 = 64;

impl Settings {
    /// The defaults (see [`Settings`]).
    pub fn new() -> Self {
        Self::default()
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
    /// The solver (default L-BFGS with history 100).
    pub fn with_solver(mut self, solver: Solver) -> Self {
        self.solver = solver;
        self
    }
    /// Number of iterations, per scale (default 500). With L-BFGS an iteration is one
    /// direction and its line search (one or more loss evaluations).
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
    /// Multi-scale, coarse to fine (default 1, at most 8): `scales` levels, each half the size
    /// of the next, each level's result upsampled to start the next; iterations are per level.
    pub fn with_scales(mut self, scales: usize) -> Self {
        self.scales = scales;
        self
    }
    /// Keep the content's original colours (default: no, take the style's).
    pub fn with_original_colors(mut self, mode: Option<OriginalColors>) -> Self {
        self.original_colors = mode;
        self
    }
    /// The pooling between VGG19's blocks (default max, as trained).
    pub fn with_pooling(mut self, pooling: Pooling) -> Self {
        self.pooling = pooling;
        self
    }
    /// Whether to run the network with the host path on CPU devices (flex, ndarray):
    /// F(4x4, 3x3) convolutions and a hand-written backward pass instead of Burn's im2col
    /// convolutions and autodiff, with a quarter of the arithmetic and less memory. On by
    /// default; it has no effect on wgpu. Results agree with Burn's path to float32
    /// rounding (relative differences around 1e-5).
    pub fn with_winograd(mut self, on: bool) -> Self {
        self.winograd = on;
        self
    }
    /// How VGG19's convolutions are computed on the tensor path (wgpu, and the CPU backends
    /// with [`Settings::with_winograd`] off): default [`Convolution::Burn`], Burn's own;
    /// the others turn them into matrix multiplies (docs/backends.md compares them).
    pub fn with_convolution(mut self, convolution: Convolution) -> Self {
        self.convolution = convolution;
        self
    }
    /// How the optimization fits pictures past memory (default [`Tiling::Auto`]): with
    /// `Auto`, a scale whose whole evaluation would not fit in memory (by the plan's model,
    /// against what the machine has when the scale starts) has its objective evaluated in
    /// tiles, the largest that fit; `Tiles(px)` tiles every scale larger than `px` (rounded
    /// down to a multiple of 16, at least [`MIN_TILE_SIDE`] and the halo); `Off` never
    /// tiles. `Auto` tiles where the plan models the memory: the CPU backends' host path
    /// (flex, ndarray, with [`Settings::with_winograd`] on) and wgpu (against the GPU's
    /// memory and largest buffer, [`Settings::plan_on`]); `Tiles` works on every path
    /// (targets and evaluations alike in tiles). `Rows` is
    /// the feed-forward networks' and is refused here. The objective stays the whole picture's
    /// (Grams accumulated over the tiles, then each tile's gradient from the whole loss),
    /// so results match the whole run's up to the halo's approximation.
    pub fn with_tiling(mut self, tiling: Tiling) -> Self {
        self.tiling = tiling;
        self
    }
    /// The context each tile is run with on every side (pixels, rounded up to a multiple of
    /// 16; default [`DEFAULT_TILE_HALO`]): features near a tile's border then see the
    /// neighbouring pixels as the whole picture's do. 0 runs tiles without context.
    pub fn with_tile_halo(mut self, pixels: u32) -> Self {
        self.tile_halo = pixels;
        self
    }
    /// Whether tile borders move by a random multiple of 16 pixels from iteration to
    /// iteration (default off: with the halo, the tiles' objective is the whole one to
    /// within 1e-7 and no seam was measured; docs/performance.md), so that no border stays
    /// in one place.
    pub fn with_tile_shift(mut self, on: bool) -> Self {
        self.tile_shift = on;
        self
    }
    /// Where an optimization in tiles on the host path keeps each tile's first pass for its
    /// second (default: the system's temporary folder, `TMPDIR` on Unix; `None`: nowhere).
    /// The first pass over the tiles writes each tile's ReLU masks, pooling choices and own
    /// features at the loss layers to an unnamed file there (about 590 bytes a pixel of the
    /// picture at the default layers, written over at each evaluation, removed at the end),
    /// and the second pass reads them back instead of running each tile forward again
    /// (docs/performance.md). Without a folder, or where the file cannot be made or written
    /// (a full disk), the tiles run forward again: the results are the same. A folder in
    /// memory (tmpfs) holds the file in memory.
    pub fn with_tile_spill(mut self, folder: Option<PathBuf>) -> Self {
        self.tile_spill = folder;
        self
    }
    /// The settings a plan decided on ([`Settings::plan`]): its tiles, and its shorter
    /// L-BFGS history where the whole history would not fit.
    pub fn planned(mut self, plan: &MemoryPlan) -> Self {
        if let Some(side) = plan.tile_side {
            self.tiling = Tiling::Tiles(side);
        }
        if let (Solver::Lbfgs { history }, Some(kept)) = (self.solver, plan.lbfgs_history) {
            self.solver = Solver::Lbfgs {
                history: history.min(kept),
            };
        }
        self
    }
    /// Spatial control: where each style image applies on the output, one gray mask per style
    /// image in order (default: none, every style everywhere, blended). White: the style
    /// applies; black: it does not; grays weaken it. `None` in the list: that style applies
    /// everywhere. Masks have the content image's aspect ratio (they are resized to each
    /// scale); where no style applies only the content term acts. With masks, each style
    /// has its own term, normalized by its region's size (Gatys et al. 2017's guided Gram
    /// matrices), weighted by its blend weight over the mean blend weight.
    pub fn with_style_masks(mut self, masks: Vec<Option<GrayImage>>) -> Self {
        self.style_masks = masks;
        self
    }
    /// Which part of each style image supplies its style, one gray mask per style image in
    /// order, with that image's aspect ratio (default: none, the whole image; `None` in the
    /// list: that whole image).
    pub fn with_style_image_masks(mut self, masks: Vec<Option<GrayImage>>) -> Self {
        self.style_image_masks = masks;
        self
    }
    /// The content term's strength at each pixel, a gray map with the content image's aspect
    /// ratio (default: none, 1 everywhere): white keeps the content fully (times the content
    /// weight), black lets the style repaint freely there.
    pub fn with_content_weight_map(mut self, map: Option<GrayImage>) -> Self {
        self.content_weight_map = map;
        self
    }

    /// A video frame's temporal term (default: none): the total gains
    /// `weight * L_temporal` ([`crate::losses::TemporalLoss`]), which keeps the picture
    /// close to the previous frame's output moved by the flow, where the flow can be trusted.
    pub fn with_temporal(mut self, temporal: Option<Temporal>) -> Self {
        self.temporal = temporal;
        self
    }

    /// Whether any mask asks for spatial control of the styles (guided Gram matrices).
    pub(crate) fn guided(&self) -> bool {
        !self.style_masks.is_empty() || !self.style_image_masks.is_empty()
    }

    /// The number of iterations per scale.
    pub fn iterations(&self) -> usize {
        self.iterations
    }
    /// The number of scales.
    pub fn scales(&self) -> usize {
        self.scales
    }
    /// The solver.
    pub fn solver(&self) -> Solver {
        self.solver
    }
    /// The pooling between VGG19's blocks.
    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    /// The output's `(width, height)` for a content image of `width` x `height`.
    pub fn output_size(&self, width: u32, height: u32) -> (u32, u32) {
        self.size.dimensions(width, height)
    }

    /// The size of each scale for a content image of `width` x `height`, coarse to fine: the
    /// output size halved (rounding down) once per level above it.
    pub(crate) fn level_sizes(&self, width: u32, height: u32) -> Vec<(u32, u32)> {
        let (w, h) = self.output_size(width, height);
        (1..=self.scales.clamp(1, MAX_SCALES))
            .rev()
            .map(|level| {
                let factor = 1u32 << (level - 1);
                ((w / factor).max(1), (h / factor).max(1))
            })
            .collect()
    }

    /// The deepest layer any loss reads.
    pub(crate) fn deepest_layer(&self) -> Option<Layer> {
        self.content_layers
            .iter()
            .chain(&self.style_layers)
            .map(|(l, _)| *l)
            .max()
    }

    /// Checks every setting for a content image of `width` x `height`, without a network:
    /// weights, layers, the solver's values and counts, and the sizes: the output (from the
    /// size asked for), the coarsest scale, and the style images' longest side. Each refusal
    /// is [`Error::InvalidConfig`] naming the setting at fault and what to change.
    pub fn validate(&self, width: u32, height: u32) -> Result<()> {
        self.validate_values()?;
        let min = MIN_INPUT_SIDE;
        let (w, h) = self.output_size(width, height);
        if (w.min(h) as usize) < min {
            let from = match self.size {
                Size::Longest(_) => format!(" from the {width}x{height} content image"),
                Size::Exact { .. } => String::new(),
            };
            return Err(Error::InvalidConfig {
                name: "size",
                reason: format!(
                    "{} makes the output {w}x{h}{from}, and VGG19 needs at least {min} pixels on each side; ask for a larger size",
                    self.size
                ),
            });
        }
        let (cw, ch) = self.level_sizes(width, height)[0];
        if (cw.min(ch) as usize) < min {
            return Err(Error::InvalidConfig {
                name: "scales",
                reason: format!(
                    "{} scales make the coarsest level {cw}x{ch} (the {w}x{h} output halved {} times), below VGG19's {min}x{min}; use fewer scales or a larger size",
                    self.scales,
                    self.scales - 1
                ),
            });
        }
        // The style images are read relative to each level's size; at the coarsest, too.
        let side = match self.style_size_at((cw, ch)) {
            Size::Longest(side) => side,
            Size::Exact { width, height } => width.min(height),
        };
        if !self.style_layers.is_empty() && (side as usize) < min {
            let what = format!("the style images {side} px on a side");
            return Err(self.style_refusal(&what, (cw, ch)));
        }
        // Masks over the output fit it, or the content photo they may have been drawn on
        // (named once when both have one shape).
        let covers: &[(&str, (u32, u32))] = if same_aspect((w, h), (width, height)) {
            &[("the content image", (width, height))]
        } else {
            &[
                ("the output", (w, h)),
                ("the content image", (width, height)),
            ]
        };
        for (i, mask) in self.style_masks.iter().enumerate() {
            if let Some(mask) = mask {
                check_mask(mask, &format!("style mask {}", i + 1), covers)?;
            }
        }
        if let Some(map) = &self.content_weight_map {
            check_mask(map, "the content-weight map", covers)?;
        }
        Ok(())
    }

    /// Checks the masks that depend on the style images ([`Settings::with_style_masks`],
    /// [`Settings::with_style_image_masks`]) against them: one mask (or `None`) per style
    /// image, and each style-image mask with its image's aspect ratio and not all black.
    /// [`crate::StyleTransfer::run`] checks this too; call it to refuse bad input before
    /// reading or fetching weights.
    pub fn validate_style_masks(&self, styles: &[&RgbImage]) -> Result<()> {
        for (list, what) in [
            (&self.style_masks, "style masks"),
            (&self.style_image_masks, "style image masks"),
        ] {
            if !list.is_empty() && list.len() != styles.len() {
                return Err(Error::InvalidConfig {
                    name: "masks",
                    reason: format!(
                        "{} {what} for {} style images: give one per style image, in order (none for a style without one)",
                        list.len(),
                        styles.len()
                    ),
                });
            }
        }
        for (i, (mask, style)) in self.style_image_masks.iter().zip(styles).enumerate() {
            if let Some(mask) = mask {
                let what = format!("style image mask {}", i + 1);
                let covers = format!("style image {}", i + 1);
                check_mask(mask, &what, &[(&covers, style.dimensions())])?;
            }
        }
        Ok(())
    }

    /// The size style images are read at for a content image (or scale) of `width` x
    /// `height`: the style size if set, else the longest side times the style scale.
    pub(crate) fn style_size_at(&self, (width, height): (u32, u32)) -> Size {
        self.style_size.unwrap_or_else(|| {
            let longest = width.max(height) as f64;
            Size::Longest((longest * self.style_scale).round().max(1.0) as u32)
        })
    }

    /// [`Error::InvalidConfig`] for a style size or scale that makes `what` too small at the
    /// scale of `level`.
    fn style_refusal(&self, what: &str, (cw, ch): (u32, u32)) -> Error {
        let (name, setting) = match self.style_size {
            Some(size) => ("style size", size.to_string()),
            None => ("style scale", self.style_scale.to_string()),
        };
        Error::InvalidConfig {
            name,
            reason: format!(
                "{setting} makes {what} at the {cw}x{ch} scale, and VGG19 needs at least {MIN_INPUT_SIDE} pixels on each side; ask for larger style images"
            ),
        }
    }

    /// Checks what does not depend on sizes (see [`Settings::validate`]).
    pub(crate) fn validate_values(&self) -> Result<()> {
        self.validate_tiling()?;
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
        if let Some(temporal) = &self.temporal {
            check("temporal weight", temporal.weight)?;
            if temporal.warped.dimensions() != temporal.reliable.dimensions() {
                let ((a, b), (c, d)) =
                    (temporal.warped.dimensions(), temporal.reliable.dimensions());
                return Err(Error::InvalidConfig {
                    name: "temporal",
                    reason: format!(
                        "the moved previous frame is {a}x{b} and its reliability {c}x{d}; give both at the frame's size"
                    ),
                });
            }
        }
        for (_, w) in self.content_layers.iter().chain(&self.style_layers) {
            check("layer weight", *w as f64)?;
        }
        if !(self.style_scale.is_finite() && self.style_scale > 0.0) {
            return Err(Error::InvalidConfig {
                name: "style scale",
                reason: format!("{} is not > 0", self.style_scale),
            });
        }
        if self.scales == 0 || self.scales > MAX_SCALES {
            return Err(Error::InvalidConfig {
                name: "scales",
                reason: format!("{} is not in 1..={MAX_SCALES}", self.scales),
            });
        }
        if self.iterations == 0 {
            return Err(Error::InvalidConfig {
                name: "iterations",
                reason: "must be at least 1".into(),
            });
        }
        match self.solver {
            Solver::Adam { lr } if !(lr.is_finite() && lr > 0.0) => {
                return Err(Error::InvalidConfig {
                    name: "learning rate",
                    reason: format!("{lr} is not > 0"),
                });
            }
            Solver::Lbfgs { history: 0 } => {
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
                reason: "no content or style layer given; give at least one".into(),
            });
        }
        Ok(())
    }

    /// Refuses a run without style images when a style layer is set and, given the coarsest
    /// scale's size, style images that would be read smaller than VGG19 accepts there.
    pub(crate) fn check_styles(
        &self,
        styles: &[(&RgbImage, f32)],
        coarsest: Option<(u32, u32)>,
    ) -> Result<()> {
        if self.style_layers.is_empty() {
            return Ok(());
        }
        if styles.is_empty() {
            return Err(Error::InvalidConfig {
                name: "style images",
                reason: "give at least one style image".into(),
            });
        }
        let images: Vec<&RgbImage> = styles.iter().map(|(s, _)| *s).collect();
        self.validate_style_masks(&images)?;
        let Some(level) = coarsest else {
            return Ok(());
        };
        let size = self.style_size_at(level);
        for (i, (image, _)) in styles.iter().enumerate() {
            let (w, h) = size.dimensions(image.width(), image.height());
            if (w.min(h) as usize) < MIN_INPUT_SIDE {
                let what = format!(
                    "style image {} ({}x{}) {w}x{h}",
                    i + 1,
                    image.width(),
                    image.height()
                );
                return Err(self.style_refusal(&what, level));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Luma;

    /// `--size 128x128` on a 512x384 photo: a mask drawn on the output (square) or on the
    /// photo (4:3) is accepted; one of neither shape is refused naming both.
    #[test]
    fn a_mask_over_the_output_may_fit_the_output_or_the_content() {
        let white = |w, h| GrayImage::from_pixel(w, h, Luma([255u8]));
        let square = Size::Exact {
            width: 128,
            height: 128,
        };
        let with = |mask: GrayImage| {
            (Settings::new().with_size(square))
                .with_style_masks(vec![Some(mask.clone())])
                .with_content_weight_map(Some(mask))
        };
        with(white(128, 128)).validate(512, 384).unwrap();
        with(white(64, 48)).validate(512, 384).unwrap();
        let err = with(white(100, 20)).validate(512, 384).unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(err, Error::InvalidConfig { name: "masks", .. }),
            "{message}"
        );
        assert!(
            message.contains("the output 128x128") && message.contains("the content image 512x384"),
            "{message}"
        );
    }
}
