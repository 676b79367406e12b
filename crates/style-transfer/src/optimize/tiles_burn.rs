//! The optimization in tiles on Burn's path (wgpu, and the CPU backends with the host path
//! off): the two passes of [`crate::optimize::tiles`] with Burn tensors on the device.
//!
//! The first pass runs each tile (with its halo) forward without autodiff (the last one with
//! it when a gradient follows, kept for the second pass, which starts from it instead of
//! running it again) and sums every style term's Gram `F F^T` and the content terms over the
//! tile's own positions; the whole
//! picture's style differences `D = G - M A` follow. The second pass runs each tile forward
//! and backward through a surrogate whose gradient at the tile's own features is the whole
//! picture's: for a style term `4 f D F` (computed from the features, then held constant),
//! for the content terms their own squares (local already). Each tile's image gradient is
//! added into the whole one. The targets (content features, style Grams) are the whole
//! picture's, computed tile by tile too ([`BurnTiles`], through
//! [`crate::optimize::tiles::targets`]), so that no whole-picture activation is ever on the
//! device (a GPU's largest buffer bounds the tile, not the picture); only one tile's
//! autodiff graph is held at once.

use std::ops::Range;

use burn::tensor::{Device, Tensor, TensorData};

use crate::error::Result;
use crate::image_io::tensor_values;
use crate::optimize::losses::{ContentLoss, StyleLoss, feature, gram_matrix, total_variation};
use crate::optimize::progress::{Halt, TileProgress, TileWatch};
use crate::optimize::terms::{
    self, LossTerms, LossWeights, content_factor, style_factor, style_target_at,
};
use crate::optimize::tiles::{Part, Span, TileFeatures, TileGrid, add_block, crop};
use crate::vgg::layers::Layer;
use crate::vgg::model::{Features, Vgg19};

/// What the tiles evaluate: the losses with their whole-picture targets, the layers the
/// network runs to, and the terms' weights.
pub(crate) struct TiledLosses<'a> {
    pub(crate) content: Option<&'a ContentLoss>,
    pub(crate) style: Option<&'a StyleLoss>,
    pub(crate) layers: &'a [Layer],
    pub(crate) weights: LossWeights,
}

/// `[0..1, channels, rows, cols]`.
fn block(channels: usize, (rows, cols): &(Range<usize>, Range<usize>)) -> [Range<usize>; 4] {
    [0..1, 0..channels, rows.clone(), cols.clone()]
}

/// A tile's own positions of `layer` in its features, and where they lie in the whole map;
/// `None` when the tile has none there (a sliver at a deep layer).
fn own(
    features: &Features,
    layer: Layer,
    tile: &(Span, Span),
    (h, w): (usize, usize),
) -> Result<Option<(Tensor<4>, Part)>> {
    let f = feature(features, layer)?;
    let part = Part::new(tile, layer, (h, w));
    if part.positions() == 0 {
        return Ok(None);
    }
    let own = f.clone().slice(block(layer.channels(), &part.local));
    Ok(Some((own, part)))
}

/// The terms of one tile at its own positions, as tensors (tracked when the tile's input
/// is): each content term `w/2 sum((F - P)^2)` (times the content-weight map), and each style
/// term's masked features `F * r`.
struct TileTerms {
    content: Vec<Option<Tensor<1>>>,
    style: Vec<Option<Tensor<4>>>,
}

fn tile_terms(
    losses: &TiledLosses<'_>,
    features: &Features,
    tile: &(Span, Span),
    size: (usize, usize),
) -> Result<TileTerms> {
    let mut content = Vec::new();
    if let Some(loss) = losses.content {
        for ((layer, weight, target), map) in loss.targets().iter().zip(loss.maps()) {
            let Some((f, part)) = own(features, *layer, tile, size)? else {
                content.push(None);
                continue;
            };
            let p = target.clone().slice(block(layer.channels(), &part.global));
            let squares = (f - p).square();
            let squares = match map {
                Some(map) => squares * map.clone().slice(block(1, &part.global)),
                None => squares,
            };
            content.push(Some(squares.sum().mul_scalar(content_factor(*weight))));
        }
    }
    let mut style = Vec::new();
    for t in losses.style.iter().flat_map(|l| l.targets()) {
        let Some((f, part)) = own(features, t.layer, tile, size)? else {
            style.push(None);
            continue;
        };
        style.push(Some(match &t.region {
            Some(r) => f * r.mask.clone().slice(block(1, &part.global)),
            None => f,
        }));
    }
    Ok(TileTerms { content, style })
}

/// VGG19 on Burn's device, run tile by tile (without autodiff) for the targets.
pub(crate) struct BurnTiles<'a> {
    pub(crate) vgg: &'a Vgg19,
    pub(crate) device: &'a Device,
}

impl BurnTiles<'_> {
    /// Runs each tile of `x` (`[3][h][w]`, with its halo) forward to `layers`, calling `each`
    /// with the tile's own features at every layer where it has positions.
    fn each_tile(
        &self,
        x: &[f32],
        (h, w): (usize, usize),
        tiles: &[(Span, Span)],
        layers: &[Layer],
        each: &mut dyn FnMut(Layer, Tensor<4>, &Part),
    ) -> Result<()> {
        let mut deduped = layers.to_vec();
        deduped.sort();
        deduped.dedup();
        for tile in tiles {
            let (rows, cols) = (tile.0.ext(), tile.1.ext());
            let values = crop(x, 3, (h, w), &rows, &cols);
            let shape = [1, 3, rows.len(), cols.len()];
            let input = Tensor::from_data(TensorData::new(values, shape), self.device);
            let features = self.vgg.forward(input, &deduped)?;
            for &layer in &deduped {
                if let Some((f, part)) = own(&features, layer, tile, (h, w))? {
                    each(layer, f, &part);
                }
            }
        }
        Ok(())
    }
}

impl TileFeatures for BurnTiles<'_> {
    fn feature_maps(
        &self,
        x: &[f32],
        size: (usize, usize),
        tiles: &[(Span, Span)],
        layers: &[Layer],
    ) -> Result<Vec<Vec<f32>>> {
        let mut maps: Vec<Vec<f32>> = (layers.iter())
            .map(|l| {
                let (lh, lw) = l.map_size(size.0, size.1);
                vec![0.0; l.channels() * lh * lw]
            })
            .collect();
        self.each_tile(x, size, tiles, layers, &mut |layer, f, part| {
            let values = tensor_values(&f);
            for (_, map) in layers.iter().zip(&mut maps).filter(|(l, _)| **l == layer) {
                let (rows, cols) = &part.global;
                add_block(map, layer.channels(), part.whole, rows, cols, &values);
            }
        })?;
        Ok(maps)
    }

    fn grams(
        &self,
        x: &[f32],
        size: (usize, usize),
        tiles: &[(Span, Span)],
        layers: &[(Layer, Option<&[f32]>)],
    ) -> Result<Vec<Vec<f32>>> {
        let mut sums: Vec<Option<Tensor<3>>> = vec![None; layers.len()];
        let network: Vec<Layer> = layers.iter().map(|(l, _)| *l).collect();
        self.each_tile(x, size, tiles, &network, &mut |layer, f, part| {
            let entries = layers.iter().zip(&mut sums);
            for ((_, mask), sum) in entries.filter(|((l, _), _)| *l == layer) {
                let f = match mask {
                    Some(mask) => {
                        let (rows, cols) = &part.global;
                        let shape = [1, 1, rows.len(), cols.len()];
                        let region = crop(mask, 1, part.whole, rows, cols);
                        let region = TensorData::new(region, shape);
                        f.clone() * Tensor::from_data(region, self.device)
                    }
                    None => f.clone(),
                };
                *sum = add(sum.take(), gram_matrix(f));
            }
        })?;
        Ok((sums.iter().zip(layers))
            .map(|(sum, (l, _))| match sum {
                Some(g) => tensor_values(g),
                None => vec![0.0; l.channels() * l.channels()],
            })
            .collect())
    }
}

/// Adds `b` to `a` (a running sum that may not have started).
fn add<const D: usize>(a: Option<Tensor<D>>, b: Tensor<D>) -> Option<Tensor<D>> {
    Some(match a {
        Some(a) => a + b,
        None => b,
    })
}

/// The loss terms at `x` (`[1, 3, h, w]`, no autodiff) and, with `gradient`, their gradient
/// with respect to `x`, evaluated tile by tile; `watch` is told after each tile
/// (`Halt::Stopped` when it answers `Control::Stop`). Returns the terms, the gradient
/// and the gradient's sum (to catch NaN).
pub(crate) fn evaluate(
    vgg: &Vgg19,
    x: &Tensor<4>,
    losses: &TiledLosses<'_>,
    (grid, iteration): (&TileGrid, usize),
    gradient: bool,
    watch: &mut TileWatch<'_>,
) -> std::result::Result<(LossTerms, Option<Tensor<4>>, f64), Halt> {
    let [_, _, h, w] = x.dims();
    let tiles = grid.tiles(h, w, iteration);
    let mut tell = TileProgress::teller(watch, iteration, tiles.len());
    let style_targets = losses.style.map_or(&[][..], |l| l.targets());
    let content_targets = losses.content.map_or(&[][..], |l| l.targets());
    let crop = |tile: &(Span, Span)| x.clone().slice(block(3, &(tile.0.ext(), tile.1.ext())));
    // First pass: the Grams and the content terms.
    let mut grams: Vec<Option<Tensor<3>>> = vec![None; style_targets.len()];
    let mut content: Vec<Option<Tensor<1>>> = vec![None; content_targets.len()];
    // When a gradient follows, the last tile runs forward with autodiff here and the second
    // pass starts from it instead of running it again (its graph is the one tile's graph
    // that pass holds anyway); its sums leave the graph, as constants.
    let mut kept: Option<(Tensor<4>, Features)> = None;
    for (k, tile) in tiles.iter().enumerate() {
        let keep = gradient && k + 1 == tiles.len();
        let input = match keep {
            true => crop(tile).autodiff().require_grad(),
            false => crop(tile),
        };
        let features = vgg.forward(input.clone(), losses.layers)?;
        let terms = tile_terms(losses, &features, tile, (h, w))?;
        for (sum, f) in grams.iter_mut().zip(terms.style) {
            if let Some(f) = f {
                *sum = add(sum.take(), gram_matrix(f).inner());
            }
        }
        for (sum, c) in content.iter_mut().zip(terms.content) {
            if let Some(c) = c {
                *sum = add(sum.take(), c.inner());
            }
        }
        if keep {
            kept = Some((input, features));
        }
        tell(1, k + 1)?;
    }
    // The whole picture's style differences, each with its factor and size.
    let differences: Vec<(Tensor<3>, f64)> = (style_targets.iter())
        .zip(grams)
        .map(|(t, g)| {
            let (lh, lw) = t.layer.map_size(h, w);
            let m = t.region.as_ref().map_or((lh * lw) as f64, |r| r.size);
            let g = g.expect("every layer has positions in some tile");
            let d = g - t.gram.clone().mul_scalar(style_target_at(m));
            (d, style_factor(t.weight, t.layer.channels(), m))
        })
        .collect();
    let tv = (losses.weights.tv > 0.0).then(|| total_variation(x));
    // One read from the device for every term.
    let device = x.device();
    let mut parts: Vec<Tensor<1>> = (content.into_iter())
        .map(|c| c.unwrap_or_else(|| Tensor::zeros([1], &device)))
        .collect();
    parts.extend((differences.iter()).map(|(d, f)| d.clone().square().sum().mul_scalar(*f)));
    parts.push(tv.unwrap_or_else(|| Tensor::zeros([1], &device)));
    let values: Vec<f64> = (tensor_values(&Tensor::cat(parts, 0)).into_iter())
        .map(f64::from)
        .collect();
    let (content_values, rest) = values.split_at(content_targets.len());
    let (style_values, rest) = rest.split_at(style_targets.len());
    // Per-layer style terms, the terms of several styles at one layer summed.
    let mut style_layers: Vec<(Layer, f64)> = Vec::new();
    for (t, v) in style_targets.iter().zip(style_values) {
        match style_layers.last_mut() {
            Some((layer, sum)) if *layer == t.layer => *sum += v,
            _ => style_layers.push((t.layer, *v)),
        }
    }
    let terms = (losses.weights).terms(content_values.iter().copied(), style_layers, rest[0]);
    if !gradient {
        return Ok((terms, None, 0.0));
    }
    // Second pass: each tile's gradient from the whole picture's loss.
    let (content_slope, style_slope, tv_slope) = losses.weights.slopes();
    let coefficients: Vec<Tensor<3>> = (differences.into_iter())
        .map(|(d, f)| d.mul_scalar(4.0 * f * style_slope))
        .collect();
    let mut grad: Tensor<4> = Tensor::zeros([1, 3, h, w], &device);
    // The kept last tile first, then the others.
    let order = (tiles.len() - 1..tiles.len()).chain(0..tiles.len() - 1);
    for (done, k) in order.enumerate() {
        let tile = &tiles[k];
        let (input, features) = match kept.take() {
            Some(kept) => kept,
            None => {
                let input = crop(tile).autodiff().require_grad();
                let features = vgg.forward(input.clone(), losses.layers)?;
                (input, features)
            }
        };
        let own = tile_terms(losses, &features, tile, (h, w))?;
        let content = (own.content.into_iter().flatten()).map(|c| c.mul_scalar(content_slope));
        let style = (own.style.into_iter().zip(&coefficients)).filter_map(|(f, c)| {
            let f = f?;
            let [_, n, fh, fw] = f.dims();
            // The gradient at these features, held constant: c F.
            let slope = (c.clone().matmul(f.clone().inner().reshape([1, n, fh * fw])))
                .reshape([1, n, fh, fw]);
            Some((f * slope).sum())
        });
        if let Some(surrogate) = terms::sum(content.chain(style)) {
            let g = (vgg.convolution().gradient(surrogate, &input))
                .expect("the tile requires a gradient");
            let at = block(3, &(tile.0.ext(), tile.1.ext()));
            grad = grad.clone().slice_assign(at.clone(), grad.slice(at) + g);
        }
        tell(2, done + 1)?;
    }
    if losses.weights.tv > 0.0 {
        let x = x.clone().autodiff().require_grad();
        let grads = total_variation(&x).backward();
        let g = x.grad(&grads).expect("the image requires a gradient");
        grad = grad + g.mul_scalar(tv_slope);
    }
    let grad_sum = f64::from(tensor_values(&grad.clone().sum())[0]);
    Ok((terms, Some(grad), grad_sum))
}
