//! The optimization in tiles, for pictures whose whole evaluation does not fit in memory,
//! on the host path (Burn's path: [`crate::optimize::tiles_burn`], the same two passes).
//!
//! The objective stays the whole picture's: a Gram matrix is a sum over positions, so a
//! first pass accumulates every style layer's Gram (and the content terms) tile by tile;
//! a second pass runs each tile forward and backward with the gradient of the whole
//! picture's loss at the tile's own positions, and adds each tile's image gradient into
//! the whole one (after crowsonkb/style_transfer's `--tile-size`). Each tile is run with a
//! halo of context around it, so that its features (and their gradient) are the whole
//! picture's; the halo's positions carry no loss in that tile (they are another tile's), but
//! receive their gradient through it. Tile borders are multiples of 16 pixels, so that
//! VGG19's four poolings split the same way the whole picture's do, and may move from
//! iteration to iteration ([`TileGrid::shift`]) so that no border stays in one place.
//!
//! Only the working set of one tile (the network's activations, masks and gradients) is
//! held at once; the picture, its gradient, the optimizer's state and the content targets
//! (one map per content layer, 32 bytes a pixel at `conv4_2`) are whole. What the second
//! pass needs of the first (each tile's ReLU masks, pooling choices and own features at the
//! loss layers: the input gradient of a convolution needs its filters, not its input) goes
//! to a spill file on disk ([`crate::optimize::spill`]) rather than being computed again.

use std::io;
use std::ops::Range;

use image::RgbImage;

use crate::blend::blend_total;
use crate::error::Result;
use crate::image_io::convention::InputConvention;
use crate::image_io::{self, image_to_planar};
use crate::kernels::buffers::Buffers;
use crate::optimize::host_path::{
    ContentAt, HostContentTarget, HostStyleTarget, HostTargets, HostVgg, Recorder, StyleDifference,
    Tape, TermValues, content_term, gram, masked_features, total_variation,
};
use crate::optimize::masks::Mask;
use crate::optimize::progress::{Halt, TileProgress, TileWatch};
use crate::optimize::settings::Settings;
use crate::optimize::spill::{self, Spill};
use crate::optimize::terms::{LossTerms, LossWeights, region_size, style_target_factor};
use crate::vgg::layers::Layer;

/// Tile borders fall on multiples of this many pixels: VGG19 pools four times.
pub(crate) const ALIGN: usize = 16;

/// How a picture is cut into tiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TileGrid {
    /// The side of a tile without its halo (pixels, a multiple of [`ALIGN`]).
    pub(crate) tile: usize,
    /// The context around each tile (pixels, a multiple of [`ALIGN`]).
    pub(crate) halo: usize,
    /// Whether the borders move from iteration to iteration.
    pub(crate) shift: bool,
}

/// One tile's extent along one axis: its own pixels `start..end` and, with the halo,
/// `ext_start..ext_end` (clamped to the picture).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) ext_start: usize,
    pub(crate) ext_end: usize,
}

impl Span {
    /// The tile's own positions at a layer pooled `poolings` times, in the whole map's
    /// coordinates and in the tile's (halo included); `len` is the picture's side.
    fn at_layer(&self, poolings: usize, len: usize) -> (Range<usize>, Range<usize>) {
        let end = |e: usize| {
            if e == len {
                len >> poolings
            } else {
                e >> poolings
            }
        };
        let global = (self.start >> poolings)..end(self.end).max(self.start >> poolings);
        let offset = self.ext_start >> poolings;
        let local = (global.start - offset)..(global.end - offset);
        (global, local)
    }

    /// The pixels with the halo.
    pub(crate) fn ext(&self) -> Range<usize> {
        self.ext_start..self.ext_end
    }
}

/// The spans along a side of `len` pixels: borders every `tile` pixels from `offset`.
fn spans(len: usize, tile: usize, halo: usize, offset: usize) -> Vec<Span> {
    let mut borders = vec![0];
    let mut at = if offset == 0 { tile } else { offset };
    while at < len {
        borders.push(at);
        at += tile;
    }
    borders.push(len);
    borders
        .windows(2)
        .map(|b| Span {
            start: b[0],
            end: b[1],
            ext_start: b[0].saturating_sub(halo),
            ext_end: (b[1] + halo).min(len),
        })
        .collect()
}

impl TileGrid {
    /// The tiles (rows, columns) of an `h x w` picture at `iteration`.
    pub(crate) fn tiles(&self, h: usize, w: usize, iteration: usize) -> Vec<(Span, Span)> {
        let steps = (self.tile / ALIGN).max(1) as u64;
        let offset = |salt: u64| {
            if !self.shift {
                return 0;
            }
            // The same offsets for every evaluation of one iteration (a line search compares
            // values of one objective), different ones from iteration to iteration.
            let z = (iteration as u64 ^ salt).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            ((z >> 32) % steps) as usize * ALIGN
        };
        let rows = spans(h, self.tile, self.halo, offset(0x51));
        let cols = spans(w, self.tile, self.halo, offset(0xA7));
        rows.iter()
            .flat_map(|r| cols.iter().map(move |c| (*r, *c)))
            .collect()
    }

    /// The most tiles an `h x w` picture is cut into.
    pub(crate) fn count(&self, h: usize, w: usize) -> usize {
        let along = |len: usize| len.div_ceil(self.tile) + usize::from(self.shift);
        along(h).min(h.div_ceil(ALIGN)) * along(w).min(w.div_ceil(ALIGN))
    }
}

/// The block `rows x cols` of every channel of `src` (`[n][h][w]`).
pub(crate) fn crop(
    src: &[f32],
    n: usize,
    size: (usize, usize),
    rows: &Range<usize>,
    cols: &Range<usize>,
) -> Vec<f32> {
    let out = Vec::with_capacity(n * rows.len() * cols.len());
    crop_into(out, src, n, size, rows, cols)
}

/// [`crop`] into `out` (emptied first): a buffer from a pool keeps its pages.
fn crop_into(
    mut out: Vec<f32>,
    src: &[f32],
    n: usize,
    (h, w): (usize, usize),
    rows: &Range<usize>,
    cols: &Range<usize>,
) -> Vec<f32> {
    out.clear();
    for c in 0..n {
        let plane = &src[c * h * w..(c + 1) * h * w];
        for r in rows.clone() {
            out.extend_from_slice(&plane[r * w + cols.start..r * w + cols.end]);
        }
    }
    out
}

/// Adds `src` (`[n][rows][cols]`) into the block `rows x cols` of `dst` (`[n][h][w]`).
pub(crate) fn add_block(
    dst: &mut [f32],
    n: usize,
    (h, w): (usize, usize),
    rows: &Range<usize>,
    cols: &Range<usize>,
    src: &[f32],
) {
    let (bh, bw) = (rows.len(), cols.len());
    for c in 0..n {
        for (i, r) in rows.clone().enumerate() {
            let from = &src[(c * bh + i) * bw..(c * bh + i + 1) * bw];
            let to = &mut dst[c * h * w + r * w + cols.start..c * h * w + r * w + cols.end];
            to.iter_mut().zip(from).for_each(|(t, f)| *t += f);
        }
    }
}

/// One tile's own part of a layer: where it lies in the whole map and in the tile's map.
pub(crate) struct Part {
    pub(crate) global: (Range<usize>, Range<usize>),
    pub(crate) local: (Range<usize>, Range<usize>),
    /// The whole map's size.
    pub(crate) whole: (usize, usize),
}

impl Part {
    pub(crate) fn new(tile: &(Span, Span), layer: Layer, (h, w): (usize, usize)) -> Self {
        let poolings = layer.block() - 1;
        let (rows, local_rows) = tile.0.at_layer(poolings, h);
        let (cols, local_cols) = tile.1.at_layer(poolings, w);
        Part {
            global: (rows, cols),
            local: (local_rows, local_cols),
            whole: layer.map_size(h, w),
        }
    }

    /// Positions per channel.
    pub(crate) fn positions(&self) -> usize {
        self.global.0.len() * self.global.1.len()
    }

    /// The tile's own positions of a whole map with `n` channels (in a buffer from `b`).
    pub(crate) fn of_whole(&self, values: &[f32], n: usize, b: &mut Buffers) -> Vec<f32> {
        let out = b.empty(n * self.positions());
        crop_into(out, values, n, self.whole, &self.global.0, &self.global.1)
    }

    /// The tile's own positions of the tile's map `y` of size `size` (in a buffer from `b`).
    fn of_tile(&self, y: &[f32], n: usize, size: (usize, usize), b: &mut Buffers) -> Vec<f32> {
        let out = b.empty(n * self.positions());
        crop_into(out, y, n, size, &self.local.0, &self.local.1)
    }
}

/// What a forward pass calls at each layer of a tile: the tile, the layer's output and its
/// size; returns the gradient of the loss with respect to that output, if any.
type AtLayer<'a> =
    dyn FnMut(&(Span, Span), &[f32], Layer, (usize, usize), &mut Buffers) -> Option<Vec<f32>> + 'a;

/// Runs one tile of `x` (`[3][h][w]`, with its halo) forward to `deepest`, calling
/// `at_layer` at each layer; with `gradient`, the tape keeps what the backward pass needs.
#[allow(clippy::too_many_arguments)]
fn run_tile(
    vgg: &HostVgg,
    x: &[f32],
    (h, w): (usize, usize),
    tile: &(Span, Span),
    deepest: Layer,
    gradient: bool,
    at_layer: &mut AtLayer<'_>,
    buffers: &mut Buffers,
) -> Tape {
    let (rows, cols) = (tile.0.ext(), tile.1.ext());
    let size = (rows.len(), cols.len());
    let part = crop(x, 3, (h, w), &rows, &cols);
    let mut losses = |y: &[f32], layer: Layer, lsize: (usize, usize), b: &mut Buffers| {
        (at_layer(tile, y, layer, lsize, b), 0.0)
    };
    let mut rec = Recorder(None);
    vgg.forward(
        &part,
        size,
        deepest,
        gradient,
        &mut losses,
        &mut rec,
        buffers,
    )
}

/// Runs a tile's tape backward and adds its image gradient into the whole picture's.
fn backward_tile(
    vgg: &HostVgg,
    tape: &mut Tape,
    tile: &(Span, Span),
    (h, w): (usize, usize),
    grad: &mut [f32],
    buffers: &mut Buffers,
) {
    let (rows, cols) = (tile.0.ext(), tile.1.ext());
    let size = (rows.len(), cols.len());
    if let Some(g) = vgg.backward(tape, size, &mut Recorder(None), buffers) {
        add_block(grad, 3, (h, w), &rows, &cols, &g);
        buffers.give(g);
    }
}

/// Runs every tile of `x` (`[3][h][w]`) forward to `deepest`, calling `at_layer` with each
/// layer's output of the tile (and the tile).
fn each_tile(
    vgg: &HostVgg,
    x: &[f32],
    size: (usize, usize),
    tiles: &[(Span, Span)],
    deepest: Layer,
    at_layer: &mut AtLayer<'_>,
) {
    let mut buffers = vgg.buffers();
    for tile in tiles {
        run_tile(vgg, x, size, tile, deepest, false, at_layer, &mut buffers);
    }
}

/// Adds the Grams of a tile's own features `f` at `layer` into `sums`, one per entry of
/// `layers` at that layer (each with its mask over the whole map, if any).
fn add_grams(
    f: &[f32],
    part: &Part,
    layer: Layer,
    layers: &[(Layer, Option<&[f32]>)],
    sums: &mut [Vec<f64>],
    b: &mut Buffers,
) {
    let n = layer.channels();
    for ((_, mask), sum) in layers.iter().zip(sums).filter(|((l, _), _)| *l == layer) {
        let region = mask.map(|r| part.of_whole(r, 1, b));
        let masked = masked_features(f, region.as_deref(), part.positions(), b);
        let g = gram(masked.as_deref().unwrap_or(f), n, part.positions());
        sum.iter_mut().zip(g).for_each(|(s, v)| *s += v as f64);
        masked.into_iter().chain(region).for_each(|v| b.give(v));
    }
}

/// Empty Gram sums for `layers`.
fn gram_sums(layers: &[(Layer, Option<&[f32]>)]) -> Vec<Vec<f64>> {
    (layers.iter())
        .map(|(l, _)| vec![0.0; l.channels() * l.channels()])
        .collect()
}

/// What the targets need of a network, computed tile by tile so that no whole-picture
/// activation is held: the host path's network ([`HostVgg`]) and Burn's
/// ([`crate::optimize::tiles_burn::BurnTiles`]).
pub(crate) trait TileFeatures {
    /// The whole feature maps (`[N][h'][w']` each) of `x` (`[3][h][w]`) at `layers`,
    /// computed in `tiles`.
    fn feature_maps(
        &self,
        x: &[f32],
        size: (usize, usize),
        tiles: &[(Span, Span)],
        layers: &[Layer],
    ) -> Result<Vec<Vec<f32>>>;

    /// The Gram matrix (`[N][N]`) of `x` (`[3][h][w]`) at each of `layers`, with the features
    /// multiplied by a mask over the whole map first where one is given, summed over `tiles`.
    fn grams(
        &self,
        x: &[f32],
        size: (usize, usize),
        tiles: &[(Span, Span)],
        layers: &[(Layer, Option<&[f32]>)],
    ) -> Result<Vec<Vec<f32>>>;
}

impl TileFeatures for HostVgg {
    fn feature_maps(
        &self,
        x: &[f32],
        (h, w): (usize, usize),
        tiles: &[(Span, Span)],
        layers: &[Layer],
    ) -> Result<Vec<Vec<f32>>> {
        let mut maps: Vec<Vec<f32>> = layers
            .iter()
            .map(|l| {
                let (lh, lw) = l.map_size(h, w);
                vec![0.0; l.channels() * lh * lw]
            })
            .collect();
        let Some(deepest) = layers.iter().max().copied() else {
            return Ok(maps);
        };
        let mut at_layer = |tile: &(Span, Span), y: &[f32], layer: Layer, size, b: &mut Buffers| {
            let part = Part::new(tile, layer, (h, w));
            let n = layer.channels();
            for (_, map) in layers.iter().zip(&mut maps).filter(|(l, _)| **l == layer) {
                let f = part.of_tile(y, n, size, b);
                add_block(map, n, part.whole, &part.global.0, &part.global.1, &f);
                b.give(f);
            }
            None
        };
        each_tile(self, x, (h, w), tiles, deepest, &mut at_layer);
        Ok(maps)
    }

    fn grams(
        &self,
        x: &[f32],
        (h, w): (usize, usize),
        tiles: &[(Span, Span)],
        layers: &[(Layer, Option<&[f32]>)],
    ) -> Result<Vec<Vec<f32>>> {
        let mut sums = gram_sums(layers);
        let Some(deepest) = layers.iter().map(|(l, _)| *l).max() else {
            return Ok(Vec::new());
        };
        let mut at_layer = |tile: &(Span, Span), y: &[f32], layer: Layer, size, b: &mut Buffers| {
            let part = Part::new(tile, layer, (h, w));
            let f = part.of_tile(y, layer.channels(), size, b);
            add_grams(&f, &part, layer, layers, &mut sums, b);
            b.give(f);
            None
        };
        each_tile(self, x, (h, w), tiles, deepest, &mut at_layer);
        Ok(sums
            .into_iter()
            .map(|s| s.into_iter().map(|v| v as f32).collect())
            .collect())
    }
}

/// An image in the network's units, `[3][h][w]`, with its size.
fn planar(image: &RgbImage, convention: InputConvention) -> (Vec<f32>, (usize, usize)) {
    let size = (image.height() as usize, image.width() as usize);
    (image_to_planar(image, convention), size)
}

/// The losses' targets on the host, computed tile by tile by `vgg`: what
/// [`crate::optimize::objective`] builds with whole pictures, for a content image (already at
/// the scale's size) and style images (at their original size; resized here).
pub(crate) fn targets(
    settings: &Settings,
    vgg: &dyn TileFeatures,
    convention: InputConvention,
    grid: &TileGrid,
    content: &RgbImage,
    styles: &[(&RgbImage, f32)],
) -> Result<HostTargets> {
    let (cx, (ch, cw)) = planar(content, convention);
    let content_tiles = grid.tiles(ch, cw, 0);
    let content_layers: Vec<Layer> = settings.content_layers.iter().map(|(l, _)| *l).collect();
    let maps = vgg.feature_maps(&cx, (ch, cw), &content_tiles, &content_layers)?;
    let weight_map =
        (settings.content_weight_map.as_ref()).map(|m| Mask::resized(m, cw as u32, ch as u32));
    let content = (settings.content_layers.iter())
        .zip(maps)
        .map(|(&(layer, weight), features)| HostContentTarget {
            layer,
            weight,
            features,
            map: weight_map.as_ref().map(|m| m.at_layer(layer)),
        })
        .collect();
    let size = settings.style_size_at((cw as u32, ch as u32));
    let total = blend_total("style blend weights", styles.iter().map(|(_, w)| *w))?;
    let mean = total / styles.len().max(1) as f32;
    let guided = settings.guided();
    // Per style image, per style layer: its Gram per position (of its masked part, when
    // guided with a mask over it).
    let mut per_style = Vec::with_capacity(styles.len());
    for (i, (image, _)) in styles.iter().enumerate() {
        let resized = image_io::resize(image, size);
        let (sx, (sh, sw)) = planar(&resized, convention);
        let source = (settings.style_image_masks.get(i).and_then(Option::as_ref))
            .map(|m| Mask::resized(m, sw as u32, sh as u32));
        let masks: Vec<Option<Vec<f32>>> = (settings.style_layers.iter())
            .map(|(l, _)| source.as_ref().map(|m| m.at_layer(*l)))
            .collect();
        let layers: Vec<(Layer, Option<&[f32]>)> = (settings.style_layers.iter())
            .zip(&masks)
            .map(|((l, _), m)| (*l, m.as_deref()))
            .collect();
        let tiles = grid.tiles(sh, sw, 0);
        let grams = vgg.grams(&sx, (sh, sw), &tiles, &layers)?;
        let sizes: Vec<f64> = (layers.iter())
            .map(|(l, m)| match m {
                Some(m) => region_size(m),
                None => {
                    let (lh, lw) = l.map_size(sh, sw);
                    (lh * lw) as f64
                }
            })
            .collect();
        per_style.push((grams, sizes));
    }
    let mut style = Vec::new();
    for (k, &(layer, w)) in settings.style_layers.iter().enumerate() {
        if !guided {
            let n = layer.channels();
            let mut blend = vec![0.0f32; n * n];
            for ((grams, sizes), (_, share)) in per_style.iter().zip(styles) {
                let factor = style_target_factor(*share, total, sizes[k]) as f32;
                blend
                    .iter_mut()
                    .zip(&grams[k])
                    .for_each(|(b, g)| *b += factor * g);
            }
            style.push(HostStyleTarget {
                layer,
                weight: w,
                gram: blend,
                region: None,
            });
            continue;
        }
        for (i, ((grams, sizes), (_, share))) in per_style.iter().zip(styles).enumerate() {
            let region = (settings.style_masks.get(i).and_then(Option::as_ref)).map(|m| {
                let values = Mask::resized(m, cw as u32, ch as u32).at_layer(layer);
                let size = region_size(&values);
                (values, size)
            });
            let empty = |size: f64| size < 1e-9;
            if empty(sizes[k]) || region.as_ref().is_some_and(|(_, s)| empty(*s)) {
                continue;
            }
            let factor = style_target_factor(1.0, 1.0, sizes[k]) as f32;
            style.push(HostStyleTarget {
                layer,
                weight: w * share / mean,
                gram: grams[k].iter().map(|g| factor * g).collect(),
                region,
            });
        }
    }
    Ok(HostTargets {
        content,
        style,
        weights: LossWeights {
            content: settings.content_weight,
            style: settings.style_weight,
            tv: settings.tv_weight,
        },
    })
}

/// Writes a tile's own features at one layer to `spill` (a tile's record: its own
/// features layer by layer as the forward pass reaches them, then [`END_OF_FEATURES`]
/// and its tape); whether it was written.
fn spill_own(spill: &mut Spill, own: &Own) -> bool {
    spill
        .append(|out| {
            spill::write_u64(out, own.layer.index() as u64)?;
            spill::write_u64(out, own.size.0 as u64)?;
            spill::write_u64(out, own.size.1 as u64)?;
            spill::write_values(out, &own.f)
        })
        .is_some()
}

/// Ends a tile's record in `spill` with its tape; whether it was written.
fn spill_tape(spill: &mut Spill, tape: &Tape) -> bool {
    spill
        .append(|out| {
            spill::write_u64(out, END_OF_FEATURES)?;
            tape.write(out)
        })
        .is_some()
}

/// Ends the own features of a tile's record in the spill file (no layer has this index).
const END_OF_FEATURES: u64 = u64::MAX;

/// The losses at one tile's own positions: its content terms and Gram sums (first pass), and
/// the gradient of the whole picture's loss there (second pass).
struct TileLosses<'a> {
    targets: &'a HostTargets,
    /// Each style target's layer and region mask over the whole map (if any).
    styles: Vec<(Layer, Option<&'a [f32]>)>,
    picture: (usize, usize),
    slopes: (f64, f64, f64),
}

/// A tile's own features at one layer, and where they lie.
struct Own {
    layer: Layer,
    part: Part,
    f: Vec<f32>,
    /// The size of the tile's map (halo included).
    size: (usize, usize),
}

impl TileLosses<'_> {
    /// Whether any term reads `layer`.
    fn reads(&self, layer: Layer) -> bool {
        let t = self.targets;
        t.content.iter().any(|c| c.layer == layer) || t.style.iter().any(|s| s.layer == layer)
    }

    /// The tile's own features in the tile's output `y` at `layer` (in a buffer from `b`).
    fn own(
        &self,
        t: &(Span, Span),
        y: &[f32],
        layer: Layer,
        size: (usize, usize),
        b: &mut Buffers,
    ) -> Own {
        let part = Part::new(t, layer, self.picture);
        let f = part.of_tile(y, layer.channels(), size, b);
        Own {
            layer,
            part,
            f,
            size,
        }
    }

    /// The record of `tile` at `at` in `spill`: each own feature map handed to `each` as it is
    /// read (its values in a buffer from `buffers`), then the tape; `None` when it could not
    /// be read.
    fn unspill(
        &self,
        spill: &Spill,
        at: u64,
        tile: &(Span, Span),
        buffers: &mut Buffers,
        each: &mut dyn FnMut(Own, &mut Buffers),
    ) -> Option<Tape> {
        let ext = (tile.0.ext().len(), tile.1.ext().len());
        spill.read(at, |input| {
            let invalid = || io::Error::new(io::ErrorKind::InvalidData, "a spilled tile");
            loop {
                let index = spill::read_u64(input)?;
                if index == END_OF_FEATURES {
                    break;
                }
                let layer = *Layer::ALL.get(index as usize).ok_or_else(invalid)?;
                let size = (
                    spill::read_u64(input)? as usize,
                    spill::read_u64(input)? as usize,
                );
                if size != layer.map_size(ext.0, ext.1) {
                    return Err(invalid());
                }
                let part = Part::new(tile, layer, self.picture);
                let limit = layer.channels() * part.positions();
                let f = spill::read_values_in(input, limit, |len| buffers.take(len))?;
                let own = Own {
                    layer,
                    part,
                    f,
                    size,
                };
                each(own, buffers);
            }
            Tape::read(input, ext)
        })
    }

    /// The content term at `t` for the tile's own positions, `with_gradient` or not (the
    /// target's parts in buffers from `b`, given back after).
    fn content_term(
        &self,
        own: &Own,
        t: &HostContentTarget,
        with_gradient: bool,
        b: &mut Buffers,
    ) -> (f64, Option<Vec<f32>>) {
        let p = own.part.of_whole(&t.features, own.layer.channels(), b);
        let map = t.map.as_ref().map(|m| own.part.of_whole(m, 1, b));
        let at = ContentAt {
            target: &p,
            map: map.as_deref(),
            weight: t.weight,
        };
        let m = own.part.positions();
        let term = content_term(&own.f, at, m, self.slopes.0, with_gradient, b);
        std::iter::once(p).chain(map).for_each(|v| b.give(v));
        term
    }

    /// Adds the tile's content terms into `values` and its Grams into `sums`.
    fn measure(&self, own: &Own, values: &mut TermValues, sums: &mut [Vec<f64>], b: &mut Buffers) {
        for (i, t) in self.targets.content.iter().enumerate() {
            if t.layer == own.layer {
                values.content[i] += self.content_term(own, t, false, b).0;
            }
        }
        add_grams(&own.f, &own.part, own.layer, &self.styles, sums, b);
    }

    /// The gradient of the whole picture's loss (style differences `d`) with respect to the
    /// tile's output at the layer (zero in the halo), if any term reads it.
    fn gradient(&self, own: &Own, d: &[StyleDifference], b: &mut Buffers) -> Option<Vec<f32>> {
        let (n, m) = (own.layer.channels(), own.part.positions());
        let mut sum: Option<Vec<f32>> = None;
        let mut add = |g: Vec<f32>, b: &mut Buffers| match sum.as_mut() {
            Some(acc) => {
                acc.iter_mut().zip(&g).for_each(|(a, v)| *a += v);
                b.give(g);
            }
            None => sum = Some(g),
        };
        for t in self.targets.content.iter().filter(|t| t.layer == own.layer) {
            if let Some(g) = self.content_term(own, t, true, b).1 {
                add(g, b);
            }
        }
        for (i, t) in self.targets.style.iter().enumerate() {
            if t.layer == own.layer {
                let r = self.styles[i].1.map(|r| own.part.of_whole(r, 1, b));
                let masked = masked_features(&own.f, r.as_deref(), m, b);
                let fm = masked.as_deref().unwrap_or(&own.f);
                let g = d[i].gradient(fm, r.as_deref(), m, self.slopes.1, b);
                add(g, b);
                masked.into_iter().chain(r).for_each(|v| b.give(v));
            }
        }
        let sum = sum?;
        let (lh, lw) = own.size;
        let mut g = b.zeroed(n * lh * lw);
        add_block(
            &mut g,
            n,
            own.size,
            &own.part.local.0,
            &own.part.local.1,
            &sum,
        );
        b.give(sum);
        Some(g)
    }
}

/// The loss terms at `x` (`[3][h][w]`) and, with `gradient`, their gradient with respect to
/// `x`, evaluated tile by tile: the whole picture's Grams and content terms in a first pass,
/// each tile's gradient from the whole picture's loss in a second.
///
/// The second pass runs the tiles in reverse order and starts from the first pass's last
/// tile, kept in memory with its tape. With a `spill` file, the first pass writes each other
/// tile's tape (ReLU masks, pooling choices) and own features at the loss layers to it (from
/// its start), and the second pass reads them back instead of running the tile forward
/// again; the tiles it could not write (a full disk) run forward again. `watch` is told
/// after each tile; `Halt::Stopped` when it answered `Control::Stop` (the evaluation
/// abandoned).
#[allow(clippy::too_many_arguments)]
pub(crate) fn evaluate(
    vgg: &HostVgg,
    x: &[f32],
    (h, w): (usize, usize),
    targets: &HostTargets,
    grid: &TileGrid,
    spill: Option<&mut Spill>,
    gradient: bool,
    iteration: usize,
    watch: &mut TileWatch<'_>,
) -> Result<(LossTerms, Option<Vec<f32>>), Halt> {
    let tiles = grid.tiles(h, w, iteration);
    let mut tell = TileProgress::teller(watch, iteration, tiles.len());
    let deepest = targets.deepest();
    let losses = TileLosses {
        targets,
        styles: (targets.style.iter())
            .map(|t| (t.layer, t.region.as_ref().map(|(r, _)| &r[..])))
            .collect(),
        picture: (h, w),
        slopes: targets.weights.slopes(),
    };
    let mut values = TermValues::new(targets);
    let mut sums = gram_sums(&losses.styles);
    let mut buffers = vgg.buffers();
    let buffers = &mut *buffers;
    let last = tiles.len() - 1;
    let mut spill = spill.filter(|_| gradient && last > 0);
    if let Some(file) = spill.as_deref_mut() {
        file.rewind();
    }
    // Where each tile's first pass was spilled.
    let mut spilled: Vec<Option<u64>> = vec![None; tiles.len()];
    // First pass: the content terms and the Grams; the last tile keeps its tape and its own
    // features for the second pass, the others spill theirs where they can.
    let mut kept: Vec<Own> = Vec::new();
    let mut kept_tape = None;
    for (k, tile) in tiles.iter().enumerate() {
        let start = spill.as_deref().map(Spill::end);
        // The last tile's first pass stays in memory; the spill exists only with a gradient.
        let kept_here = gradient && k == last;
        let mut spilling = !kept_here && spill.is_some();
        let keep = kept_here || spilling;
        let mut at_layer = |t: &(Span, Span), y: &[f32], layer: Layer, size, b: &mut Buffers| {
            if losses.reads(layer) {
                let own = losses.own(t, y, layer, size, b);
                losses.measure(&own, &mut values, &mut sums, b);
                if kept_here {
                    kept.push(own);
                    return None;
                }
                if let Some(file) = spill.as_deref_mut().filter(|_| spilling) {
                    spilling = spill_own(file, &own);
                }
                b.give(own.f);
            }
            None
        };
        let tape = run_tile(vgg, x, (h, w), tile, deepest, keep, &mut at_layer, buffers);
        if kept_here {
            kept_tape = Some(tape);
        } else if let Some(file) = spill.as_deref_mut().filter(|_| spilling)
            && spill_tape(file, &tape)
        {
            spilled[k] = start;
        }
        tell(1, k + 1)?;
    }
    let differences: Vec<StyleDifference> = (targets.style.iter())
        .zip(sums)
        .map(|(t, g)| {
            let (lh, lw) = t.layer.map_size(h, w);
            let g = g.into_iter().map(|v| v as f32).collect();
            StyleDifference::new(g, t, t.layer.channels(), lh * lw)
        })
        .collect();
    values.style = differences.iter().map(|d| d.value).collect();
    let (tv, tv_grad) = match targets.weights.tv > 0.0 {
        true => total_variation(x, h, w, gradient),
        false => (0.0, None),
    };
    let terms = values.terms(targets, tv);
    let Some(mut tape) = kept_tape else {
        return Ok((terms, None));
    };
    // Second pass, last tile first (its forward pass done), then the others backwards: from
    // the spill file where they are in it, else forward again.
    let mut grad = vec![0.0f32; x.len()];
    for own in kept {
        if let Some(g) = losses.gradient(&own, &differences, buffers) {
            tape.set_loss_grad(own.layer, g);
        }
        buffers.give(own.f);
    }
    backward_tile(vgg, &mut tape, &tiles[last], (h, w), &mut grad, buffers);
    drop(tape);
    tell(2, 1)?;
    for (done, k) in (2..).zip((0..last).rev()) {
        let tile = &tiles[k];
        let mut gradients = Vec::new();
        let mut each = |own: Own, b: &mut Buffers| {
            if let Some(g) = losses.gradient(&own, &differences, b) {
                gradients.push((own.layer, g));
            }
            b.give(own.f);
        };
        let read = (spill.as_deref().zip(spilled[k]))
            .and_then(|(file, at)| losses.unspill(file, at, tile, buffers, &mut each));
        let mut tape = match read {
            Some(mut tape) => {
                for (layer, g) in gradients {
                    tape.set_loss_grad(layer, g);
                }
                tape
            }
            None => {
                // Not spilled, or not read back: forward again (what was read is dropped).
                gradients.into_iter().for_each(|(_, g)| buffers.give(g));
                let mut at_layer =
                    |t: &(Span, Span), y: &[f32], layer: Layer, size, b: &mut Buffers| {
                        if !losses.reads(layer) {
                            return None;
                        }
                        let own = losses.own(t, y, layer, size, b);
                        let g = losses.gradient(&own, &differences, b);
                        b.give(own.f);
                        g
                    };
                run_tile(vgg, x, (h, w), tile, deepest, true, &mut at_layer, buffers)
            }
        };
        backward_tile(vgg, &mut tape, tile, (h, w), &mut grad, buffers);
        tell(2, done)?;
    }
    if let Some(tv_grad) = tv_grad {
        let s = losses.slopes.2 as f32;
        grad.iter_mut().zip(tv_grad).for_each(|(g, t)| *g += s * t);
    }
    Ok((terms, Some(grad)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_cover_the_side_once_on_aligned_borders() {
        for (len, tile, halo, offset) in [(100, 32, 16, 0), (97, 48, 32, 16), (33, 64, 16, 0)] {
            let s = spans(len, tile, halo, offset);
            assert_eq!(s[0].start, 0);
            assert_eq!(s.last().unwrap().end, len);
            for pair in s.windows(2) {
                assert_eq!(pair[0].end, pair[1].start);
                assert_eq!(pair[1].start % ALIGN, 0);
            }
            for span in &s {
                assert_eq!(span.ext_start, span.start.saturating_sub(halo));
                assert_eq!(span.ext_end, (span.end + halo).min(len));
            }
        }
    }

    #[test]
    fn tile_parts_partition_every_layer() {
        let (h, w) = (97, 75);
        let grid = TileGrid {
            tile: 32,
            halo: 16,
            shift: true,
        };
        for iteration in 0..4 {
            let tiles = grid.tiles(h, w, iteration);
            assert!(tiles.len() <= grid.count(h, w));
            for layer in [
                Layer::ALL[0],
                Layer::ALL[2],
                Layer::ALL[4],
                Layer::ALL[8],
                Layer::ALL[12],
            ] {
                let (lh, lw) = layer.map_size(h, w);
                let covered: usize = tiles
                    .iter()
                    .map(|t| Part::new(t, layer, (h, w)).positions())
                    .sum();
                assert_eq!(covered, lh * lw, "{layer}");
            }
        }
    }
}
