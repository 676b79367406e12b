//! The host path: VGG19's forward pass, the loss terms and a hand-written backward
//! pass to the image, on host memory, for CPU devices (flex, ndarray).
//!
//! Burn's autodiff computes the same thing through im2col convolutions; this path does it
//! with a quarter of the arithmetic ([`crate::kernels::winograd`]) and keeps only what the backward
//! pass needs: one bit per activation for each ReLU, one byte per pooling window for max
//! pooling, and the loss gradients at the loss layers. Switch it off with
//! [`crate::Settings::with_winograd`]`(false)`; tests check both paths agree.

use std::io::{self, Read, Write};
use std::sync::Mutex;
use std::time::Instant;

use rayon::prelude::*;

use crate::kernels::buffers::Buffers;
use crate::kernels::winograd::Conv3x3;
use crate::optimize::spill;
use crate::optimize::terms::{
    LossTerms, LossWeights, content_factor, style_factor, style_target_at,
};
use crate::vgg::layers::Layer;
use crate::vgg::model::{Pooling, Vgg19};

/// VGG19 up to some layer, with filters in Winograd form.
#[derive(Debug)]
pub(crate) struct HostVgg {
    convs: Vec<Conv3x3>,
    pooling: Pooling,
    /// Buffers kept between layers and evaluations.
    buffers: Mutex<Buffers>,
}

/// The targets and weights of the losses, on the host.
#[derive(Debug)]
pub(crate) struct HostTargets {
    /// Content layers.
    pub(crate) content: Vec<HostContentTarget>,
    /// Style terms, in layer order.
    pub(crate) style: Vec<HostStyleTarget>,
    /// The weights of the content, style and TV terms in the total.
    pub(crate) weights: LossWeights,
}

/// One content layer on the host.
#[derive(Debug)]
pub(crate) struct HostContentTarget {
    pub(crate) layer: Layer,
    pub(crate) weight: f32,
    /// The content image's features `[N][M]`.
    pub(crate) features: Vec<f32>,
    /// The content-weight map at the layer's resolution (`[M]`), if any.
    pub(crate) map: Option<Vec<f32>>,
}

/// One style term on the host: its layer and weight, the target Gram per position `[N][N]`
/// (scaled by `M` here) and, with spatial control, its region mask `[M]` and size.
#[derive(Debug)]
pub(crate) struct HostStyleTarget {
    pub(crate) layer: Layer,
    pub(crate) weight: f32,
    pub(crate) gram: Vec<f32>,
    pub(crate) region: Option<(Vec<f32>, f64)>,
}

/// Where the time of one evaluation on the host path went, step by step; see
/// [`crate::Objective::profile`].
#[derive(Clone, Debug, PartialEq)]
pub struct StepTime {
    /// What ran: `conv3_1 forward`, `conv3_1 losses` (the loss terms at that layer and their
    /// gradient: Gram matrices, differences), `conv3_1 relu mask`, `pool 2` (after block 2),
    /// `unpool 2`, `conv3_1 input gradient` (ReLU mask applied, then the transposed
    /// convolution), `total variation`, `copies` (the image in, the gradient out).
    pub step: String,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Floating-point operations the step would take done directly (a 3x3 convolution:
    /// 2 x 9 x in x out x h x w; a Gram matrix and its gradient: 2 x 2 x N^2 x M), for
    /// comparing against PyTorch's im2col convolutions; 0 where not counted.
    pub direct_flop: f64,
    /// Floating-point operations the step's matrix multiplies actually ran (for a convolution,
    /// 2 x 36 x in x out per 4x4 tile: about a quarter of `direct_flop`).
    pub gemm_flop: f64,
}

/// Appends steps to a profile when one is asked for.
pub(crate) struct Recorder<'a>(pub(crate) Option<&'a mut Vec<StepTime>>);

impl Recorder<'_> {
    /// Records the time since `start` under `step` (the name is built only when recording).
    pub(crate) fn record(
        &mut self,
        start: Instant,
        step: impl FnOnce() -> String,
        flop: (f64, f64),
    ) {
        if let Some(steps) = self.0.as_mut() {
            steps.push(StepTime {
                step: step(),
                seconds: start.elapsed().as_secs_f64(),
                direct_flop: flop.0,
                gemm_flop: flop.1,
            });
        }
    }
}

/// Direct and Winograd floating-point operations of one 3x3 convolution pass.
fn conv_flop(layer: Layer, h: usize, w: usize) -> (f64, f64) {
    let kc = (layer.channels() * layer.in_channels()) as f64;
    let tiles = (h.div_ceil(4) * w.div_ceil(4)) as f64;
    (2.0 * 9.0 * kc * (h * w) as f64, 2.0 * 36.0 * kc * tiles)
}

impl HostVgg {
    /// The layers of `vgg` up to `deepest`, transformed.
    pub(crate) fn new(vgg: &Vgg19, deepest: Layer) -> Self {
        let convs = Layer::ALL[..=deepest.index()]
            .iter()
            .map(|&layer| {
                let (weight, bias) = vgg.conv_params(layer);
                Conv3x3::new(&weight, &bias, layer.channels(), layer.in_channels())
            })
            .collect();
        HostVgg {
            convs,
            pooling: vgg.pooling(),
            buffers: Mutex::default(),
        }
    }

    /// The deepest layer this network holds.
    pub(crate) fn deepest(&self) -> Layer {
        Layer::ALL[self.convs.len() - 1]
    }

    /// Post-ReLU features `[channels][h'][w']` of `layers` for an image `[3][h][w]`.
    pub(crate) fn features(
        &self,
        x: &[f32],
        h: usize,
        w: usize,
        layers: &[Layer],
    ) -> Vec<(Layer, Vec<f32>)> {
        let Some(deepest) = layers.iter().max().copied() else {
            return Vec::new();
        };
        let mut buffers = self.buffers.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        let mut a = x.to_vec();
        for layer in Layer::ALL.into_iter().take(deepest.index() + 1) {
            let (lh, lw) = layer.map_size(h, w);
            let y = self.convs[layer.index()].forward(&a, lh, lw, true, &mut buffers);
            buffers.give(std::mem::take(&mut a));
            if layers.contains(&layer) {
                out.push((layer, y.clone()));
            }
            a = if layer.pools_after() && layer < deepest {
                let (pooled, _) = self.pool(&y, layer.channels(), lh, lw, &mut buffers);
                buffers.give(y);
                pooled
            } else {
                y
            };
        }
        buffers.give(a);
        out
    }

    fn pool(
        &self,
        y: &[f32],
        c: usize,
        h: usize,
        w: usize,
        buffers: &mut Buffers,
    ) -> (Vec<f32>, Vec<u8>) {
        let mut out = buffers.take(c * (h / 2) * (w / 2));
        let index = match self.pooling {
            Pooling::Max => max_pool(y, &mut out, h, w),
            Pooling::Average => {
                avg_pool(y, &mut out, h, w);
                Vec::new()
            }
        };
        (out, index)
    }

    fn unpool(
        &self,
        g: &[f32],
        index: &[u8],
        (c, h, w): (usize, usize, usize),
        buffers: &mut Buffers,
    ) -> Vec<f32> {
        let (oh, ow) = (h / 2, w / 2);
        let mut out = buffers.zeroed(c * h * w);
        out.par_chunks_mut(h * w)
            .zip(g.par_chunks(oh * ow))
            .enumerate()
            .for_each(|(ch, (dst, src))| {
                for i in 0..oh {
                    for j in 0..ow {
                        let o = i * ow + j;
                        match self.pooling {
                            Pooling::Max => {
                                let k = index[ch * oh * ow + o] as usize;
                                dst[(2 * i + k / 2) * w + 2 * j + k % 2] = src[o];
                            }
                            Pooling::Average => {
                                let v = src[o] / 4.0;
                                for k in 0..4 {
                                    dst[(2 * i + k / 2) * w + 2 * j + k % 2] = v;
                                }
                            }
                        }
                    }
                }
            });
        out
    }

    /// The loss terms at image `x` (`[3][h][w]`, network input units) and, if `gradient`,
    /// the gradient of the total with respect to `x`.
    pub(crate) fn evaluate(
        &self,
        x: &[f32],
        h: usize,
        w: usize,
        targets: &HostTargets,
        gradient: bool,
        profile: Option<&mut Vec<StepTime>>,
    ) -> (LossTerms, Option<Vec<f32>>) {
        let mut rec = Recorder(profile);
        let mut buffers = self.buffers();
        let buffers = &mut *buffers;
        let slopes = targets.weights.slopes();
        let mut values = TermValues::new(targets);
        let mut losses = |y: &[f32], layer: Layer, (lh, lw): (usize, usize), b: &mut Buffers| {
            layer_losses(y, layer, lh * lw, targets, slopes, gradient, &mut values, b)
        };
        let deepest = targets.deepest();
        let mut tape = self.forward(x, (h, w), deepest, gradient, &mut losses, &mut rec, buffers);
        let start = Instant::now();
        let with_tv = targets.weights.tv > 0.0;
        let (tv, tv_grad) = if with_tv {
            total_variation(x, h, w, gradient)
        } else {
            (0.0, None)
        };
        if with_tv {
            rec.record(start, || "total variation".into(), (0.0, 0.0));
        }
        let terms = values.terms(targets, tv);
        if !gradient {
            return (terms, None);
        }
        let g = self.backward(&mut tape, (h, w), &mut rec, buffers);
        let mut grad = g.unwrap_or_else(|| vec![0.0; x.len()]);
        if let Some(tv_grad) = tv_grad {
            let s = slopes.2 as f32;
            grad.iter_mut().zip(tv_grad).for_each(|(g, t)| *g += s * t);
        }
        (terms, Some(grad))
    }

    /// Locks the buffers kept between layers and evaluations.
    pub(crate) fn buffers(&self) -> std::sync::MutexGuard<'_, Buffers> {
        self.buffers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The forward pass to `deepest`: at each layer, `losses` gets the post-ReLU output and
    /// its size and returns the gradient of its loss terms with respect to it (with
    /// `gradient`) and the floating-point operations it spent; with `gradient`, the tape
    /// keeps what the backward pass needs (ReLU masks, pooling positions).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn forward(
        &self,
        x: &[f32],
        (h, w): (usize, usize),
        deepest: Layer,
        gradient: bool,
        losses: &mut LayerLosses<'_>,
        rec: &mut Recorder<'_>,
        buffers: &mut Buffers,
    ) -> Tape {
        let n_layers = deepest.index() + 1;
        let mut tape = Tape {
            deepest,
            masks: vec![Vec::new(); n_layers],
            pool_index: vec![Vec::new(); n_layers],
            loss_grad: vec![None; n_layers],
        };
        let mut a = x.to_vec();
        for layer in Layer::ALL.into_iter().take(n_layers) {
            let (lh, lw) = layer.map_size(h, w);
            let start = Instant::now();
            let y = self.convs[layer.index()].forward(&a, lh, lw, true, buffers);
            buffers.give(std::mem::take(&mut a));
            let flop = conv_flop(layer, lh, lw);
            rec.record(start, || format!("{layer} forward"), flop);
            let start = Instant::now();
            let (grad, loss_flop) = losses(&y, layer, (lh, lw), buffers);
            if grad.is_some() || !gradient {
                let flop = (loss_flop, loss_flop);
                rec.record(start, || format!("{layer} losses"), flop);
            }
            tape.loss_grad[layer.index()] = grad;
            if gradient {
                let start = Instant::now();
                tape.masks[layer.index()] = relu_mask(&y);
                rec.record(start, || format!("{layer} relu mask"), (0.0, 0.0));
            }
            a = if layer.pools_after() && layer < deepest {
                let start = Instant::now();
                let (pooled, index) = self.pool(&y, layer.channels(), lh, lw, buffers);
                tape.pool_index[layer.index()] = index;
                buffers.give(y);
                rec.record(start, || format!("pool {}", layer.block()), (0.0, 0.0));
                pooled
            } else {
                y
            };
        }
        buffers.give(a);
        tape
    }

    /// The backward pass from the deepest loss layer to the image: the gradient of the loss
    /// terms with respect to the pixels (`None` when no term has one).
    pub(crate) fn backward(
        &self,
        tape: &mut Tape,
        (h, w): (usize, usize),
        rec: &mut Recorder<'_>,
        buffers: &mut Buffers,
    ) -> Option<Vec<f32>> {
        // g is the gradient with respect to the current layer's post-ReLU output.
        let mut g: Option<Vec<f32>> = None;
        let n_layers = tape.deepest.index() + 1;
        for layer in Layer::ALL[..n_layers].iter().rev().copied() {
            let (lh, lw) = layer.map_size(h, w);
            if layer.pools_after() && layer < tape.deepest {
                let start = Instant::now();
                g = g.map(|pooled| {
                    let index = &tape.pool_index[layer.index()];
                    let shape = (layer.channels(), lh, lw);
                    let out = self.unpool(&pooled, index, shape, buffers);
                    buffers.give(pooled);
                    out
                });
                rec.record(start, || format!("unpool {}", layer.block()), (0.0, 0.0));
            }
            let start = Instant::now();
            if let Some(lg) = tape.loss_grad[layer.index()].take() {
                accumulate(&mut g, Some(lg), buffers);
            }
            let Some(mut dy) = g.take() else { continue };
            apply_mask(&mut dy, &tape.masks[layer.index()]);
            g = Some(self.convs[layer.index()].backward_input(&dy, lh, lw, buffers));
            buffers.give(dy);
            let flop = conv_flop(layer, lh, lw);
            rec.record(start, || format!("{layer} input gradient"), flop);
        }
        g
    }
}

/// What the forward pass asks of the losses at each layer: given the layer's post-ReLU
/// output and its size, the gradient of its terms with respect to that output (or none)
/// and the floating-point operations spent.
pub(crate) type LayerLosses<'a> =
    dyn FnMut(&[f32], Layer, (usize, usize), &mut Buffers) -> (Option<Vec<f32>>, f64) + 'a;

/// What the forward pass keeps for the backward pass.
pub(crate) struct Tape {
    /// The deepest layer with a loss term: the forward pass stops there.
    deepest: Layer,
    /// Per layer: the ReLU's mask (bits of the positive outputs).
    masks: Vec<Vec<u64>>,
    /// Per layer followed by a max pooling: each output's position in its 2x2 cell.
    pool_index: Vec<Vec<u8>>,
    /// Per layer: the gradient of its loss terms with respect to its output.
    loss_grad: Vec<Option<Vec<f32>>>,
}

impl Tape {
    /// Sets the gradient of the loss terms with respect to `layer`'s output, for a tape whose
    /// forward pass did not compute it.
    pub(crate) fn set_loss_grad(&mut self, layer: Layer, g: Vec<f32>) {
        self.loss_grad[layer.index()] = Some(g);
    }

    /// Writes the ReLU masks and pooling choices (not the loss gradients) to a spill file.
    pub(crate) fn write(&self, out: &mut impl Write) -> io::Result<()> {
        spill::write_u64(out, self.deepest.index() as u64)?;
        for (mask, index) in self.masks.iter().zip(&self.pool_index) {
            spill::write_values(out, mask)?;
            spill::write_values(out, index)?;
        }
        Ok(())
    }

    /// Reads a tape written by [`Tape::write`] for an `h x w` input, without loss gradients.
    pub(crate) fn read(input: &mut impl Read, (h, w): (usize, usize)) -> io::Result<Tape> {
        let deepest = spill::read_u64(input)? as usize;
        let Some(&deepest) = Layer::ALL.get(deepest) else {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "no such layer"));
        };
        let n_layers = deepest.index() + 1;
        let mut tape = Tape {
            deepest,
            masks: Vec::with_capacity(n_layers),
            pool_index: Vec::with_capacity(n_layers),
            loss_grad: vec![None; n_layers],
        };
        for layer in &Layer::ALL[..n_layers] {
            let (lh, lw) = layer.map_size(h, w);
            let values = layer.channels() * lh * lw;
            tape.masks
                .push(spill::read_values(input, values.div_ceil(64))?);
            tape.pool_index.push(spill::read_values(input, values)?);
        }
        Ok(tape)
    }
}

impl HostTargets {
    /// The deepest layer any target reads.
    pub(crate) fn deepest(&self) -> Layer {
        (self.content.iter().map(|c| c.layer))
            .chain(self.style.iter().map(|s| s.layer))
            .max()
            .expect("at least one loss layer")
    }
}

/// Each target's term at one point, as the layers are reached.
#[derive(Debug)]
pub(crate) struct TermValues {
    /// Each content target's term.
    pub(crate) content: Vec<f64>,
    /// Each style target's term.
    pub(crate) style: Vec<f64>,
}

impl TermValues {
    /// Zero for every target.
    pub(crate) fn new(targets: &HostTargets) -> Self {
        TermValues {
            content: vec![0.0; targets.content.len()],
            style: vec![0.0; targets.style.len()],
        }
    }

    /// The loss terms, with total variation `tv`.
    pub(crate) fn terms(self, targets: &HostTargets, tv: f64) -> LossTerms {
        let style_layers = style_by_layer(targets, &self.style);
        targets.weights.terms(self.content, style_layers, tv)
    }
}

/// The loss terms at `layer` (output `y`, `m` positions per channel) into `values`, and the
/// sum of their gradients with respect to `y` (with `gradient`; `slopes` are the total's in
/// its terms), with the floating-point operations spent.
#[allow(clippy::too_many_arguments)]
fn layer_losses(
    y: &[f32],
    layer: Layer,
    m: usize,
    targets: &HostTargets,
    slopes: (f64, f64, f64),
    gradient: bool,
    values: &mut TermValues,
    buffers: &mut Buffers,
) -> (Option<Vec<f32>>, f64) {
    let (content_slope, style_slope, _) = slopes;
    let n = layer.channels();
    let mut loss_flop = 0.0;
    let mut grad: Option<Vec<f32>> = None;
    for (i, t) in targets.content.iter().enumerate() {
        if t.layer == layer {
            let p = ContentAt {
                target: &t.features,
                map: t.map.as_deref(),
                weight: t.weight,
            };
            let (value, g) = content_term(y, p, m, content_slope, gradient, buffers);
            values.content[i] = value;
            accumulate(&mut grad, g, buffers);
        }
    }
    for (i, t) in targets.style.iter().enumerate() {
        if t.layer == layer {
            let region = t.region.as_ref().map(|(r, _)| &r[..]);
            let masked = masked_features(y, region, m, buffers);
            let f = masked.as_deref().unwrap_or(y);
            let d = StyleDifference::new(gram(f, n, m), t, n, m);
            values.style[i] = d.value;
            let g = gradient.then(|| d.gradient(f, region, m, style_slope, buffers));
            accumulate(&mut grad, g, buffers);
            if let Some(v) = masked {
                buffers.give(v);
            }
            loss_flop += 2.0 * (n * n * m) as f64 * if gradient { 2.0 } else { 1.0 };
        }
    }
    (grad, loss_flop)
}

/// The style terms summed per layer (the terms of several styles at one layer, with spatial
/// control, add up), in layer order.
fn style_by_layer(targets: &HostTargets, values: &[f64]) -> Vec<(Layer, f64)> {
    let mut by_layer: Vec<(Layer, f64)> = Vec::new();
    for (t, &value) in targets.style.iter().zip(values) {
        match by_layer.last_mut() {
            Some((layer, sum)) if *layer == t.layer => *sum += value,
            _ => by_layer.push((t.layer, value)),
        }
    }
    by_layer
}

/// Adds a gradient into an accumulated one (or starts it).
fn accumulate(into: &mut Option<Vec<f32>>, g: Option<Vec<f32>>, buffers: &mut Buffers) {
    match (into.as_mut(), g) {
        (Some(acc), Some(g)) => {
            acc.par_iter_mut().zip(&g).for_each(|(a, b)| *a += b);
            buffers.give(g);
        }
        (None, g) => *into = g,
        (Some(_), None) => {}
    }
}

/// A content target at one layer (or the part of it a tile covers): the content image's
/// features `[N][M]`, the content-weight map `[M]` if any, and the layer's weight.
#[derive(Clone, Copy)]
pub(crate) struct ContentAt<'a> {
    pub(crate) target: &'a [f32],
    pub(crate) map: Option<&'a [f32]>,
    pub(crate) weight: f32,
}

/// The content term of features `f` against `p` at one layer of `m` positions per channel
/// ([`content_factor`], each position's squares weighted by the content-weight map when
/// given) and, scaled by `slope` (the total's slope in the content term), its gradient.
pub(crate) fn content_term(
    f: &[f32],
    p: ContentAt<'_>,
    m: usize,
    slope: f64,
    gradient: bool,
    buffers: &mut Buffers,
) -> (f64, Option<Vec<f32>>) {
    let ContentAt {
        target: p,
        map,
        weight,
    } = p;
    if m == 0 {
        return (0.0, gradient.then(Vec::new));
    }
    // Fixed parts (channel planes) summed in order: the same result on every run, however
    // rayon splits work. Without a map, no per-value weight.
    let partial: Vec<f64> = (f.par_chunks(m).zip(p.par_chunks(m)))
        .map(|(fc, pc)| {
            let squares = fc.iter().zip(pc).map(|(a, b)| ((a - b) as f64).powi(2));
            match map {
                Some(r) => squares.zip(r).map(|(d, &w)| w as f64 * d).sum::<f64>(),
                None => squares.sum::<f64>(),
            }
        })
        .collect();
    let sum: f64 = partial.iter().sum();
    let factor = content_factor(weight);
    let g = gradient.then(|| {
        let s = (2.0 * factor * slope) as f32;
        let mut g = buffers.take(f.len());
        (g.par_chunks_mut(m)
            .zip(f.par_chunks(m))
            .zip(p.par_chunks(m)))
        .for_each(|((g, fc), pc)| {
            let diffs = g.iter_mut().zip(fc).zip(pc);
            match map {
                Some(r) => diffs
                    .zip(r)
                    .for_each(|(((g, a), b), w)| *g = s * w * (a - b)),
                None => diffs.for_each(|((g, a), b)| *g = s * (a - b)),
            }
        });
        g
    });
    (factor * sum, g)
}

/// `F * r` for features `f` (`m` positions per channel) and a region mask `r`, when given.
pub(crate) fn masked_features(
    f: &[f32],
    region: Option<&[f32]>,
    m: usize,
    buffers: &mut Buffers,
) -> Option<Vec<f32>> {
    let r = region?;
    let mut v = buffers.take(f.len());
    if m > 0 {
        (v.par_chunks_mut(m).zip(f.par_chunks(m))).for_each(|(v, f)| {
            v.iter_mut()
                .zip(f)
                .zip(r)
                .for_each(|((v, f), r)| *v = f * r)
        });
    }
    Some(v)
}

/// One style term's `D = G - M A` against its target, and its value
/// ([`style_factor`]: `w_l / (4 N^2 M^2) sum(D^2)`, `M` the positions or the region's size).
#[derive(Debug)]
pub(crate) struct StyleDifference {
    d: Vec<f32>,
    n: usize,
    factor: f64,
    /// The term's value.
    pub(crate) value: f64,
}

impl StyleDifference {
    /// From the generated image's Gram `g` (`[N][N]`, of the features times the region
    /// when there is one) at a layer of `m` positions, against target `t`.
    pub(crate) fn new(mut g: Vec<f32>, t: &HostStyleTarget, n: usize, m: usize) -> Self {
        let size = t.region.as_ref().map_or(m as f64, |(_, size)| *size);
        let at = style_target_at(size) as f32;
        g.iter_mut().zip(&t.gram).for_each(|(g, a)| *g -= at * a);
        let sum: f64 = g.iter().map(|v| (*v as f64) * (*v as f64)).sum();
        let factor = style_factor(t.weight, n, size);
        StyleDifference {
            d: g,
            n,
            factor,
            value: factor * sum,
        }
    }

    /// The term's gradient with respect to features whose masked values (`F * r`, or `F`
    /// without a region) are `f`, `m` positions per channel (the whole layer, or a tile's
    /// part of it), scaled by `slope` (the total's slope in the style term).
    pub(crate) fn gradient(
        &self,
        f: &[f32],
        region: Option<&[f32]>,
        m: usize,
        slope: f64,
        buffers: &mut Buffers,
    ) -> Vec<f32> {
        let n = self.n;
        let mut g = buffers.take(n * m);
        if m == 0 {
            return g;
        }
        let s = (4.0 * self.factor * slope) as f32;
        // SAFETY: g is n x m, d is n x n, f is n x m.
        unsafe {
            gemm::gemm(
                n,
                m,
                n,
                g.as_mut_ptr(),
                1,
                m as isize,
                false,
                self.d.as_ptr(),
                1,
                n as isize,
                f.as_ptr(),
                1,
                m as isize,
                0.0,
                s,
                false,
                false,
                false,
                gemm::Parallelism::Rayon(0),
            );
        }
        // d(F * r)/dF = r.
        if let Some(r) = region {
            g.par_chunks_mut(m)
                .for_each(|g| g.iter_mut().zip(r).for_each(|(g, r)| *g *= r));
        }
        g
    }
}

/// `G = F F^T` for `F` of `n x m`. A Gram matrix is a small output from a long inner
/// dimension, which one multiply cannot share between threads well: the positions are split
/// into a fixed number of parts (so the sum is the same on every run), multiplied in
/// parallel and summed in order.
pub(crate) fn gram(f: &[f32], n: usize, m: usize) -> Vec<f32> {
    const PART: usize = 2048;
    let parts = m.div_ceil(PART).clamp(1, 16);
    let len = m.div_ceil(parts);
    let partial: Vec<Vec<f32>> = (0..parts)
        .into_par_iter()
        .map(|p| {
            let (start, end) = (p * len, ((p + 1) * len).min(m));
            let mut g = vec![0.0f32; n * n];
            if start < end {
                // SAFETY: g is n x n; f[start..] read as n x (end - start) with row stride m.
                unsafe {
                    gemm::gemm(
                        n,
                        n,
                        end - start,
                        g.as_mut_ptr(),
                        1,
                        n as isize,
                        false,
                        f.as_ptr().add(start),
                        1,
                        m as isize,
                        f.as_ptr().add(start),
                        m as isize,
                        1,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
            }
            g
        })
        .collect();
    let mut parts = partial.into_iter();
    let mut total = parts.next().expect("at least one part");
    for p in parts {
        total.iter_mut().zip(p).for_each(|(t, v)| *t += v);
    }
    total
}

/// Total variation `sum((x[i+1,j]-x[i,j])^2) + sum((x[i,j+1]-x[i,j])^2)` and its gradient.
pub(crate) fn total_variation(
    x: &[f32],
    h: usize,
    w: usize,
    gradient: bool,
) -> (f64, Option<Vec<f32>>) {
    let mut value = 0.0f64;
    let mut g = gradient.then(|| vec![0.0f32; x.len()]);
    for (c, plane) in x.chunks(h * w).enumerate() {
        for i in 0..h {
            for j in 0..w {
                let at = i * w + j;
                for (ok, next) in [(i + 1 < h, at + w), (j + 1 < w, at + 1)] {
                    if !ok {
                        continue;
                    }
                    let d = plane[next] - plane[at];
                    value += (d as f64) * (d as f64);
                    if let Some(g) = g.as_mut() {
                        g[c * h * w + next] += 2.0 * d;
                        g[c * h * w + at] -= 2.0 * d;
                    }
                }
            }
        }
    }
    (value, g)
}

/// One bit per activation: whether ReLU let it through.
fn relu_mask(y: &[f32]) -> Vec<u64> {
    y.par_chunks(64)
        .map(|chunk| {
            chunk
                .iter()
                .enumerate()
                .fold(0u64, |bits, (i, v)| bits | (((*v > 0.0) as u64) << i))
        })
        .collect()
}

fn apply_mask(g: &mut [f32], mask: &[u64]) {
    g.par_chunks_mut(64).zip(mask).for_each(|(chunk, bits)| {
        for (i, v) in chunk.iter_mut().enumerate() {
            if bits >> i & 1 == 0 {
                *v = 0.0;
            }
        }
    });
}

/// 2x2 max pooling, stride 2 (floor), into `out`; returns the position of each maximum
/// (the first on ties).
fn max_pool(y: &[f32], out: &mut [f32], h: usize, w: usize) -> Vec<u8> {
    let (oh, ow) = (h / 2, w / 2);
    let mut index = vec![0u8; out.len()];
    out.par_chunks_mut(oh * ow)
        .zip(index.par_chunks_mut(oh * ow))
        .zip(y.par_chunks(h * w))
        .for_each(|((dst, idx), src)| {
            for i in 0..oh {
                for j in 0..ow {
                    let mut best = (src[2 * i * w + 2 * j], 0u8);
                    for k in 1..4u8 {
                        let v = src[(2 * i + k as usize / 2) * w + 2 * j + k as usize % 2];
                        if v > best.0 {
                            best = (v, k);
                        }
                    }
                    dst[i * ow + j] = best.0;
                    idx[i * ow + j] = best.1;
                }
            }
        });
    index
}

/// 2x2 average pooling, stride 2 (floor), into `out`.
fn avg_pool(y: &[f32], out: &mut [f32], h: usize, w: usize) {
    let (oh, ow) = (h / 2, w / 2);
    out.par_chunks_mut(oh * ow)
        .zip(y.par_chunks(h * w))
        .for_each(|(dst, src)| {
            for i in 0..oh {
                for j in 0..ow {
                    let s = src[2 * i * w + 2 * j]
                        + src[2 * i * w + 2 * j + 1]
                        + src[(2 * i + 1) * w + 2 * j]
                        + src[(2 * i + 1) * w + 2 * j + 1];
                    dst[i * ow + j] = s / 4.0;
                }
            }
        });
}
