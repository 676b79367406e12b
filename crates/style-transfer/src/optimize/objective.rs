//! The objective of one run at one size: [`Objective`] holds the loss targets (content features,
//! style Grams), computed once, and evaluates the loss terms and the gradient with respect to
//! the image, by Burn's path (the [`crate::optimize::losses`] modules and autodiff) or by the Winograd
//! CPU path ([`crate::optimize::host_path`]), for which it converts tensors to host vectors and back.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};
use image::RgbImage;

use crate::error::{Error, Result};
use crate::image_io::{self, image_to_tensor, tensor_values};
use crate::optimize::host_path::{
    HostContentTarget, HostStyleTarget, HostTargets, HostVgg, StepTime,
};
use crate::optimize::losses::{
    ContentLoss, GuidedStyle, Region, StyleLoss, StyleTarget, TemporalLoss, total_variation,
};
use crate::optimize::masks::Mask;
use crate::optimize::progress::{Halt, TileWatch, go_on};
use crate::optimize::settings::Settings;
use crate::optimize::spill::Spill;
use crate::optimize::terms::{self, LossTerms, LossWeights};
use crate::optimize::tiles::{self, TileGrid};
use crate::optimize::tiles_burn::{self, BurnTiles, TiledLosses};
use crate::vgg::layers::Layer;
use crate::vgg::model::{Features, Vgg19, check_input_size};

/// The losses of one run, with their targets computed: evaluates the loss terms and the
/// gradient with respect to the image.
#[derive(Debug)]
pub struct Objective {
    content: Option<ContentLoss>,
    style: Option<StyleLoss>,
    layers: Vec<Layer>,
    weights: LossWeights,
    /// The host path and the targets on the host, when it applies.
    host: Option<(Arc<HostVgg>, HostTargets)>,
    /// The tiles each evaluation runs in, when the picture is evaluated in tiles (on the
    /// host path when it applies, on Burn's otherwise).
    tiles: Option<TileGrid>,
    /// The file tiles on the host path spill their first pass to
    /// ([`crate::Settings::with_tile_spill`]; `None` off the host path's tiles, or where no
    /// file could be made).
    spill: Mutex<Option<Spill>>,
    /// A video frame's temporal term and its weight (on the whole image, whatever the path).
    temporal: Option<(TemporalLoss, f64)>,
}

/// Post-ReLU features of an image at some layers.
type FeaturesOf<'a> = dyn Fn(&RgbImage, &[Layer]) -> Result<Features> + 'a;

/// The content loss of `content` at the settings' content layers (none without layers), with
/// the content-weight map when there is one.
fn content_loss(
    settings: &Settings,
    content: &RgbImage,
    features_of: &FeaturesOf<'_>,
) -> Result<Option<ContentLoss>> {
    let layers: Vec<Layer> = settings.content_layers.iter().map(|(l, _)| *l).collect();
    if layers.is_empty() {
        return Ok(None);
    }
    let loss = ContentLoss::new(&features_of(content, &layers)?, &settings.content_layers)?;
    let (cw, ch) = content.dimensions();
    Ok(Some(match &settings.content_weight_map {
        Some(map) => loss.with_weight_map(&Mask::resized(map, cw, ch)),
        None => loss,
    }))
}

/// The style loss of `styles` (each resized to the settings' style size for this content
/// size) at the settings' style layers (none without layers): blended, or guided by masks.
fn style_loss(
    settings: &Settings,
    content: &RgbImage,
    styles: &[(&RgbImage, f32)],
    features_of: &FeaturesOf<'_>,
) -> Result<Option<StyleLoss>> {
    let layers: Vec<Layer> = settings.style_layers.iter().map(|(l, _)| *l).collect();
    if layers.is_empty() {
        return Ok(None);
    }
    let size = settings.style_size_at(content.dimensions());
    let mut style_features = Vec::with_capacity(styles.len());
    let mut sources = Vec::with_capacity(styles.len());
    for (i, (image, weight)) in styles.iter().enumerate() {
        let resized = image_io::resize(image, size);
        style_features.push((features_of(&resized, &layers)?, *weight));
        let (sw, sh) = resized.dimensions();
        let mask = settings.style_image_masks.get(i).and_then(Option::as_ref);
        sources.push(mask.map(|m| Mask::resized(m, sw, sh)));
    }
    if !settings.guided() {
        let refs: Vec<_> = style_features.iter().map(|(f, w)| (f, *w)).collect();
        return StyleLoss::blended(&refs, &settings.style_layers).map(Some);
    }
    let (cw, ch) = content.dimensions();
    let regions: Vec<Option<Mask>> = (0..styles.len())
        .map(|i| {
            let mask = settings.style_masks.get(i).and_then(Option::as_ref);
            mask.map(|m| Mask::resized(m, cw, ch))
        })
        .collect();
    let guided: Vec<GuidedStyle<'_>> = (style_features.iter().zip(&sources))
        .zip(&regions)
        .map(|(((f, weight), source), region)| GuidedStyle {
            features: f,
            weight: *weight,
            source: source.as_ref(),
            region: region.as_ref(),
        })
        .collect();
    let generated = (ch as usize, cw as usize);
    StyleLoss::guided(&guided, &settings.style_layers, generated).map(Some)
}

/// The temporal term of the settings at `content`'s size, with its weight.
fn temporal_loss(
    settings: &Settings,
    vgg: &Vgg19,
    device: &Device,
    content: &RgbImage,
) -> Result<Option<(TemporalLoss, f64)>> {
    let Some(temporal) = &settings.temporal else {
        return Ok(None);
    };
    let (warped, reliable) = temporal.at_size(content.width(), content.height());
    let loss = TemporalLoss::new(&warped, &reliable, vgg.convention(), device)?;
    Ok(Some((loss, temporal.weight())))
}

/// The losses' targets copied to host memory, for the host path.
fn host_targets(
    content: Option<&ContentLoss>,
    style: Option<&StyleLoss>,
    weights: LossWeights,
) -> HostTargets {
    HostTargets {
        content: content
            .iter()
            .flat_map(|l| l.targets().iter().zip(l.host_maps()))
            .map(|((l, w, t), map)| HostContentTarget {
                layer: *l,
                weight: *w,
                features: tensor_values(t),
                map,
            })
            .collect(),
        style: style
            .iter()
            .flat_map(|l| l.targets())
            .map(|t| HostStyleTarget {
                layer: t.layer,
                weight: t.weight,
                gram: tensor_values(&t.gram),
                region: t.region.as_ref().map(|r| (r.values.clone(), r.size)),
            })
            .collect(),
        weights,
    }
}

/// A `[1, channels, h, w]` tensor of host values.
fn tensor_of(values: Vec<f32>, shape: [usize; 4], device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// The losses of targets computed on the host (tile by tile) for a picture of `h x w`, on
/// `device` (none where the settings have no layers of the kind).
fn device_losses(
    settings: &Settings,
    targets: HostTargets,
    (h, w): (usize, usize),
    device: &Device,
) -> (Option<ContentLoss>, Option<StyleLoss>) {
    let shape = |layer: Layer, channels: usize| {
        let (lh, lw) = layer.map_size(h, w);
        [1, channels, lh, lw]
    };
    let (content, maps) = (targets.content.into_iter())
        .map(|t| {
            let map = (t.map).map(|m| (tensor_of(m.clone(), shape(t.layer, 1), device), m));
            let features = tensor_of(t.features, shape(t.layer, t.layer.channels()), device);
            ((t.layer, t.weight, features), map)
        })
        .unzip();
    let style = (targets.style.into_iter())
        .map(|t| {
            let n = t.layer.channels();
            let gram = Tensor::<1>::from_data(TensorData::new(t.gram, [n * n]), device);
            StyleTarget {
                layer: t.layer,
                weight: t.weight,
                gram: gram.reshape([1, n, n]),
                region: t.region.map(|(values, size)| Region {
                    mask: tensor_of(values.clone(), shape(t.layer, 1), device),
                    values,
                    size,
                }),
            }
        })
        .collect();
    (
        (!settings.content_layers.is_empty()).then(|| ContentLoss::from_parts(content, maps)),
        (!settings.style_layers.is_empty()).then(|| StyleLoss::from_targets(style)),
    )
}

/// The layers the settings' losses read, in order, once each.
fn loss_layers(settings: &Settings) -> Vec<Layer> {
    let mut layers: Vec<Layer> = (settings.content_layers.iter())
        .chain(&settings.style_layers)
        .map(|(l, _)| *l)
        .collect();
    layers.sort();
    layers.dedup();
    layers
}

/// Post-ReLU features of `image` at `layers`, by the host path when given.
fn features(
    vgg: &Vgg19,
    device: &Device,
    image: &RgbImage,
    layers: &[Layer],
    host: Option<&HostVgg>,
) -> Result<Features> {
    let convention = vgg.convention();
    let Some(host) = host else {
        let input = image_to_tensor(image, convention, device);
        return vgg.forward(input, layers);
    };
    let (w, h) = (image.width() as usize, image.height() as usize);
    check_input_size(w, h)?;
    let x = image_io::image_to_planar(image, convention);
    let layers = host
        .features(&x, h, w, layers)
        .into_iter()
        .map(|(layer, values)| {
            let (lh, lw) = layer.map_size(h, w);
            let shape = [1, layer.channels(), lh, lw];
            (
                layer,
                Tensor::from_data(TensorData::new(values, shape), device),
            )
        })
        .collect();
    Ok(Features::from_layers(layers))
}

impl Objective {
    /// Computes the targets for a content image (already at the output size) and style
    /// images (at their original size; resized here) with blend weights. `host` is the
    /// Winograd network when that path applies.
    pub(crate) fn new(
        settings: &Settings,
        vgg: &Vgg19,
        device: &Device,
        host: Option<Arc<HostVgg>>,
        content: &RgbImage,
        styles: &[(&RgbImage, f32)],
    ) -> Result<Self> {
        let features_of = |image: &RgbImage, layers: &[Layer]| {
            features(vgg, device, image, layers, host.as_deref())
        };
        let content_loss = content_loss(settings, content, &features_of)?;
        let style_loss = style_loss(settings, content, styles, &features_of)?;
        let layers = loss_layers(settings);
        let weights = LossWeights {
            content: settings.content_weight,
            style: settings.style_weight,
            tv: settings.tv_weight,
        };
        let host = host.map(|vgg| {
            let targets = host_targets(content_loss.as_ref(), style_loss.as_ref(), weights);
            (vgg, targets)
        });
        Ok(Objective {
            content: content_loss,
            style: style_loss,
            layers,
            weights,
            host,
            tiles: None,
            spill: Mutex::new(None),
            temporal: temporal_loss(settings, vgg, device, content)?,
        })
    }

    /// The objective evaluated in tiles, its targets computed tile by tile too: on the host
    /// path ([`crate::optimize::tiles`]) when `host` is given, on Burn's otherwise
    /// ([`crate::optimize::tiles_burn`]); for a content image (already at the scale's size)
    /// and style images (at their original size; resized here) with blend weights.
    pub(crate) fn tiled(
        settings: &Settings,
        vgg: &Vgg19,
        device: &Device,
        host: Option<Arc<HostVgg>>,
        grid: TileGrid,
        content: &RgbImage,
        styles: &[(&RgbImage, f32)],
    ) -> Result<Self> {
        let convention = vgg.convention();
        let temporal = temporal_loss(settings, vgg, device, content)?;
        if let Some(host) = host {
            let targets = tiles::targets(settings, &*host, convention, &grid, content, styles)?;
            return Ok(Objective {
                content: None,
                style: None,
                layers: Vec::new(),
                weights: targets.weights,
                host: Some((host, targets)),
                tiles: Some(grid),
                spill: Mutex::new(settings.tile_spill.as_deref().and_then(Spill::new)),
                temporal,
            });
        }
        let network = BurnTiles { vgg, device };
        let targets = tiles::targets(settings, &network, convention, &grid, content, styles)?;
        let weights = targets.weights;
        let size = (content.height() as usize, content.width() as usize);
        let (content, style) = device_losses(settings, targets, size, device);
        Ok(Objective {
            content,
            style,
            layers: loss_layers(settings),
            weights,
            host: None,
            tiles: Some(grid),
            spill: Mutex::new(None),
            temporal,
        })
    }

    /// How many tiles an evaluation of an `h x w` picture runs in, at most (1: whole).
    pub(crate) fn tile_count(&self, h: usize, w: usize) -> usize {
        self.tiles.map_or(1, |grid| grid.count(h, w))
    }

    /// Whether evaluations run on the host path (see
    /// [`crate::Settings::with_winograd`]).
    pub fn uses_winograd(&self) -> bool {
        self.host.is_some()
    }

    /// The loss terms at `x` (`[1, 3, h, w]`, no autodiff) without a gradient.
    pub fn terms(&self, vgg: &Vgg19, x: Tensor<4>) -> Result<LossTerms> {
        let (terms, _) = self
            .compute(vgg, x, false, 0, &mut go_on)
            .map_err(Halt::error)?;
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
        self.evaluate_watched(vgg, x, iteration, &mut go_on)
            .map_err(Halt::error)
    }

    /// [`Objective::evaluate`], telling `watch` after each tile of an evaluation in tiles
    /// (which may stop it: `Halt::Stopped`).
    pub(crate) fn evaluate_watched(
        &self,
        vgg: &Vgg19,
        x: Tensor<4>,
        iteration: usize,
        watch: &mut TileWatch<'_>,
    ) -> std::result::Result<(LossTerms, Tensor<4>), Halt> {
        let (terms, grad) = self.compute(vgg, x, true, iteration, watch)?;
        Ok((terms, grad.expect("gradient requested")))
    }

    /// [`Objective::terms`], telling `watch` after each tile.
    pub(crate) fn terms_watched(
        &self,
        vgg: &Vgg19,
        x: Tensor<4>,
        watch: &mut TileWatch<'_>,
    ) -> std::result::Result<LossTerms, Halt> {
        let (terms, _) = self.compute(vgg, x, false, 0, watch)?;
        Ok(terms)
    }

    fn compute(
        &self,
        vgg: &Vgg19,
        x: Tensor<4>,
        gradient: bool,
        iteration: usize,
        watch: &mut TileWatch<'_>,
    ) -> std::result::Result<(LossTerms, Option<Tensor<4>>), Halt> {
        let (terms, grad) = match (&self.host, &self.tiles) {
            (Some(_), _) => self.compute_winograd(x.clone(), gradient, iteration, None, watch)?,
            (None, Some(grid)) => {
                let losses = TiledLosses {
                    content: self.content.as_ref(),
                    style: self.style.as_ref(),
                    layers: &self.layers,
                    weights: self.weights,
                };
                let (terms, grad, grad_sum) =
                    tiles_burn::evaluate(vgg, &x, &losses, (grid, iteration), gradient, watch)?;
                check_finite(&terms, grad.as_ref().map(|_| grad_sum), iteration)?;
                (terms, grad)
            }
            (None, None) => self.compute_burn(vgg, x.clone(), gradient, iteration)?,
        };
        let Some((temporal, weight)) = &self.temporal else {
            return Ok((terms, grad));
        };
        // The temporal term is per pixel: its value and gradient on the whole image, added to
        // either path's.
        let (value, grad) = match grad {
            Some(g) => {
                let (value, g_temporal) = temporal.value_and_gradient(&x);
                (value, Some(g + g_temporal.mul_scalar(*weight)))
            }
            None => (temporal.forward(&x), None),
        };
        let terms = terms.with_temporal(f64::from(tensor_values(&value)[0]), *weight);
        check_finite(&terms, None, iteration)?;
        Ok((terms, grad))
    }

    /// One evaluation by Burn's path: the losses' modules and autodiff.
    fn compute_burn(
        &self,
        vgg: &Vgg19,
        x: Tensor<4>,
        gradient: bool,
        iteration: usize,
    ) -> Result<(LossTerms, Option<Tensor<4>>)> {
        let x = if gradient {
            x.autodiff().require_grad()
        } else {
            x
        };
        let features = vgg.forward(x.clone(), &self.layers)?;
        let content = match &self.content {
            Some(loss) => loss.forward_layers(&features)?,
            None => Vec::new(),
        };
        let style = match &self.style {
            Some(loss) => loss.forward_layers(&features)?,
            None => Vec::new(),
        };
        let tv = (self.weights.tv > 0.0).then(|| total_variation(&x));
        let total = self
            .weights
            .total(
                terms::sum(content.iter().map(|(_, t)| t.clone())),
                terms::sum(style.iter().map(|(_, t)| t.clone())),
                tv.clone(),
            )
            .expect("at least one loss term");
        let grad = if gradient {
            let g = (vgg.convolution().gradient(total.clone(), &x))
                .expect("the image requires a gradient");
            Some(g)
        } else {
            None
        };
        // One read from the device for every term (and the gradient's sum, to catch NaN).
        let (n_content, n_style) = (content.len(), style.len());
        let style_layers: Vec<Layer> = style.iter().map(|(l, _)| *l).collect();
        let mut parts: Vec<Tensor<1>> = (content.into_iter().chain(style))
            .map(|(_, t)| t.inner())
            .collect();
        parts.push(
            tv.unwrap_or_else(|| Tensor::zeros([1], &x.device()))
                .inner(),
        );
        if let Some(g) = &grad {
            parts.push(g.clone().sum());
        }
        let values: Vec<f64> = tensor_values(&Tensor::cat(parts, 0))
            .into_iter()
            .map(f64::from)
            .collect();
        let (content_values, rest) = values.split_at(n_content);
        let (style_values, rest) = rest.split_at(n_style);
        let terms = self.weights.terms(
            content_values.iter().copied(),
            style_layers
                .into_iter()
                .zip(style_values.iter().copied())
                .collect(),
            rest[0],
        );
        let grad_sum = grad.as_ref().map(|_| rest[1]);
        check_finite(&terms, grad_sum, iteration)?;
        Ok((terms, grad))
    }

    /// One evaluation on the host path, with its steps timed into `profile`; in tiles,
    /// `watch` is told after each tile.
    fn compute_winograd(
        &self,
        x: Tensor<4>,
        gradient: bool,
        iteration: usize,
        mut profile: Option<&mut Vec<StepTime>>,
        watch: &mut TileWatch<'_>,
    ) -> std::result::Result<(LossTerms, Option<Tensor<4>>), Halt> {
        let (vgg, targets) = self.host.as_ref().expect("the host path applies");
        let [_, _, h, w] = x.dims();
        let start = Instant::now();
        let pixels = tensor_values(&x);
        let mut copies = start.elapsed().as_secs_f64();
        let (terms, grad) = match &self.tiles {
            Some(grid) => {
                let mut spill = self.spill.lock().unwrap_or_else(PoisonError::into_inner);
                tiles::evaluate(
                    vgg,
                    &pixels,
                    (h, w),
                    targets,
                    grid,
                    spill.as_mut(),
                    gradient,
                    iteration,
                    watch,
                )?
            }
            None => vgg.evaluate(&pixels, h, w, targets, gradient, profile.as_deref_mut()),
        };
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

    // For the project's own profile example (`examples/profile.rs`); not part of the
    // supported API.
    #[doc(hidden)]
    /// Times one evaluation (loss terms and gradient at `x`) step by step on the host
    /// path: each layer's forward pass, losses, ReLU mask, pooling and input gradient, and the
    /// copies in and out. [`Error::InvalidConfig`] when the path does not apply (switched off,
    /// or not a CPU device). `cargo run --release --example profile` prints it as a table.
    pub fn profile(&self, x: Tensor<4>) -> Result<Vec<StepTime>> {
        if self.host.is_none() {
            return Err(Error::InvalidConfig {
                name: "profile",
                reason: "only the host path is profiled; use a CPU backend with the host path on"
                    .into(),
            });
        }
        let mut steps = Vec::new();
        (self.compute_winograd(x, true, 0, Some(&mut steps), &mut go_on)).map_err(Halt::error)?;
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
        ("temporal", terms.temporal),
        ("total", terms.total),
        ("gradient", grad_sum.unwrap_or(0.0)),
    ];
    match named.iter().find(|(_, v)| !v.is_finite()) {
        Some((term, _)) => Err(Error::NonFinite { iteration, term }),
        None => Ok(()),
    }
}
