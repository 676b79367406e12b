//! The 26-style network in bands of rows, for pictures past memory: the same result as
//! [`super::cpu::MultiStyleCpu::forward`] (every instance normalization over the whole
//! picture, so not an approximation by overlapping tiles) in a fraction of its memory.
//!
//! Instance normalization needs each channel's mean and variance over the whole picture
//! before any of its outputs can go on. So the network runs layer by layer over whole maps,
//! each convolution computed band by band from its input's rows (the band's neighbouring
//! rows and the reflect padding gathered from the whole input map, upsampling read in
//! place), so no convolution's working memory grows with the picture. The one map never
//! held whole is the first layer's (32 channels at full size, 128 bytes a pixel): its
//! statistics come from a first sweep over bands, and the second layer's bands recompute
//! the rows they read. What is held at once is at most the second layer's output (32
//! channels at half size) and the third's, [`BYTES_PER_PIXEL`] a pixel of the picture with
//! the photo and the result; docs/performance.md has the measured figures.

use rayon::prelude::*;

use super::cpu::{finish_plane, normalize};
use super::{FIRST_EXPAND, FIRST_RESIDUAL, LayerParams, MultiStyleParams};
use crate::kernels::buffers::Buffers;
use crate::kernels::reflect_conv::{Map, ReflectConv, reflect};

/// Bytes a pixel of the (padded) picture that the banded run holds at its peak: the resized
/// photo (3), the second layer's output (32 channels at a quarter of the pixels: 32) and the
/// third's (8 channels at a sixteenth: 8). Measured: 43.2 between 4096x2304 and 7680x4320
/// (docs/performance.md); the result (12 bytes a pixel and its copy) comes after these
/// maps are gone.
pub(crate) const BYTES_PER_PIXEL: u64 = 43;

/// Band input values per row and column of the picture: the first layer's 32 channels, so
/// that bands of `r` rows are `r * FLOATS_PER_ROW * width` values.
pub(crate) const FLOATS_PER_ROW: usize = 32;

/// Rows of a layer's input, read by the bands: `row` fills `out` (`w` values) with channel
/// `ch`, row `y` (`0..h`).
trait Rows: Sync {
    fn c(&self) -> usize;
    fn h(&self) -> usize;
    fn w(&self) -> usize;
    fn row(&self, ch: usize, y: usize, out: &mut [f32]);
}

/// The photo as the network's input: RGB 0-1, reflect-padded at the bottom and right to
/// `h` x `w` (multiples of 4), as the whole-picture path pads it.
struct Photo<'a> {
    rgb: &'a [u8],
    /// The photo's own size.
    size: (usize, usize),
    h: usize,
    w: usize,
}

impl Rows for Photo<'_> {
    fn c(&self) -> usize {
        3
    }
    fn h(&self) -> usize {
        self.h
    }
    fn w(&self) -> usize {
        self.w
    }
    fn row(&self, ch: usize, y: usize, out: &mut [f32]) {
        let (pw, ph) = self.size;
        let sy = reflect(y as isize, ph);
        let line = &self.rgb[sy * pw * 3..][..pw * 3];
        for (x, v) in out.iter_mut().enumerate() {
            *v = line[reflect(x as isize, pw) * 3 + ch] as f32 / 255.0;
        }
    }
}

/// A whole map, optionally read 2x nearest-upsampled.
struct Whole<'a> {
    map: &'a Map,
    upsample: bool,
}

impl Rows for Whole<'_> {
    fn c(&self) -> usize {
        self.map.c
    }
    fn h(&self) -> usize {
        self.map.h << usize::from(self.upsample)
    }
    fn w(&self) -> usize {
        self.map.w << usize::from(self.upsample)
    }
    fn row(&self, ch: usize, y: usize, out: &mut [f32]) {
        let m = self.map;
        let line = &m.data[(ch * m.h + (y >> usize::from(self.upsample))) * m.w..][..m.w];
        match self.upsample {
            false => out.copy_from_slice(line),
            true => {
                for (x, v) in out.iter_mut().enumerate() {
                    *v = line[x >> 1];
                }
            }
        }
    }
}

/// Rows `first..first + band.h` of a map `h` rows high, the only ones the reader asks for.
struct Band<'a> {
    band: &'a Map,
    first: usize,
    h: usize,
}

impl Rows for Band<'_> {
    fn c(&self) -> usize {
        self.band.c
    }
    fn h(&self) -> usize {
        self.h
    }
    fn w(&self) -> usize {
        self.band.w
    }
    fn row(&self, ch: usize, y: usize, out: &mut [f32]) {
        let b = self.band;
        out.copy_from_slice(&b.data[(ch * b.h + y - self.first) * b.w..][..b.w]);
    }
}

/// Rows `rows` (possibly outside `0..h`: reflected) of `src`, each padded by `pad` columns
/// of reflection on both sides.
fn gather(src: &dyn Rows, rows: std::ops::Range<isize>, pad: usize) -> Map {
    let (h, w) = (src.h(), src.w());
    let (hb, wp) = (rows.len(), w + 2 * pad);
    let mut data = vec![0.0f32; src.c() * hb * wp];
    data.par_chunks_mut(hb * wp)
        .enumerate()
        .for_each(|(ch, plane)| {
            let mut line = vec![0.0f32; w];
            for (dst, y) in plane.chunks_mut(wp).zip(rows.clone()) {
                src.row(ch, reflect(y, h), &mut line);
                dst[pad..pad + w].copy_from_slice(&line);
                for p in 0..pad {
                    dst[p] = line[reflect(p as isize - pad as isize, w)];
                    dst[pad + w + p] = line[reflect((w + p) as isize, w)];
                }
            }
        });
    Map {
        data,
        c: src.c(),
        h: hb,
        w: wp,
    }
}

/// Output rows `r0..r1` of `conv` over `src` (before normalization).
fn conv_rows(conv: &ReflectConv, src: &dyn Rows, r0: usize, r1: usize, b: &mut Buffers) -> Map {
    let (p, s) = (conv.pad() as isize, conv.stride());
    let k = 2 * p + 1;
    let first = (r0 * s) as isize - p;
    let end = ((r1 - 1) * s) as isize + k - p;
    conv.forward_valid(&gather(src, first..end, conv.pad()), b)
}

/// Output rows per band for a layer reading `cin` channels of `w_in` columns at `stride`:
/// `band_floats` input values a band at most, at least 4 rows.
fn band_rows(band_floats: usize, cin: usize, w_in: usize, stride: usize, h_out: usize) -> usize {
    (band_floats / (cin * w_in * stride).max(1)).clamp(4, h_out.max(4))
}

/// Copies `band` (rows `r0..` of every channel) into the whole map `out`.
fn put_rows(out: &mut Map, band: &Map, r0: usize) {
    let (h, w) = (out.h, out.w);
    out.data
        .par_chunks_mut(h * w)
        .zip(band.data.par_chunks(band.h * band.w))
        .for_each(|(o, b)| o[r0 * w..][..b.len()].copy_from_slice(b));
}

/// One whole layer, band by band: the convolution of `src`, then the normalization over
/// the whole output.
fn layer(
    params: &LayerParams,
    conv: &ReflectConv,
    src: &dyn Rows,
    styles: &[f32],
    band_floats: usize,
    b: &mut Buffers,
) -> Map {
    let s = conv.stride();
    let (h, w) = (src.h() / s, src.w() / s);
    let mut out = Map {
        data: vec![0.0; params.shape[0] * h * w],
        c: params.shape[0],
        h,
        w,
    };
    let rows = band_rows(band_floats, src.c(), src.w(), s, h);
    for r0 in (0..h).step_by(rows) {
        let band = conv_rows(conv, src, r0, (r0 + rows).min(h), b);
        put_rows(&mut out, &band, r0);
        b.give(band.data);
    }
    let (gamma, beta) = params.affine(styles);
    normalize(&mut out, &gamma, &beta, params.finish);
    out
}

/// Runs the network on the 8-bit RGB `photo` (`size` its width and height) reflect-padded
/// to `h` x `w` (multiples of 4, at least 16) with the 26 style weights `styles`, in bands
/// whose inputs hold about `band_floats` values; returns `[3][h][w]` in 0-1, equal to
/// [`super::cpu::MultiStyleCpu::forward`] on the same padded picture up to float rounding.
pub(crate) fn forward(
    convs: &[ReflectConv],
    weights: &MultiStyleParams,
    photo: (&[u8], (usize, usize)),
    (h, w): (usize, usize),
    styles: &[f32],
    band_floats: usize,
) -> Vec<f32> {
    let layers = &weights.layers;
    let mut b = Buffers::default();
    let image = Photo {
        rgb: photo.0,
        size: photo.1,
        h,
        w,
    };
    // The first layer's statistics, a band at a time (sums in f64).
    let c0 = layers[0].shape[0];
    let mut sums = vec![(0.0f64, 0.0f64); c0];
    let rows0 = band_rows(band_floats, FLOATS_PER_ROW, w, 1, h);
    for r0 in (0..h).step_by(rows0) {
        let band = conv_rows(&convs[0], &image, r0, (r0 + rows0).min(h), &mut b);
        let hw = band.h * band.w;
        sums.par_iter_mut()
            .zip(band.data.par_chunks(hw))
            .for_each(|(s, plane)| {
                for &v in plane {
                    s.0 += v as f64;
                    s.1 += v as f64 * v as f64;
                }
            });
        b.give(band.data);
    }
    let n = (h * w) as f64;
    let stats: Vec<(f32, f32)> = sums
        .iter()
        .map(|&(sum, sq)| {
            let mean = sum / n;
            (mean as f32, (sq / n - mean * mean).max(0.0) as f32)
        })
        .collect();
    let (gamma0, beta0) = layers[0].affine(styles);
    // The second layer, its bands recomputing (and normalizing) the first layer's rows.
    let (h1, w1) = (h / 2, w / 2);
    let mut x = Map {
        data: vec![0.0; layers[1].shape[0] * h1 * w1],
        c: layers[1].shape[0],
        h: h1,
        w: w1,
    };
    let rows1 = band_rows(band_floats, c0, w, 2, h1);
    for r0 in (0..h1).step_by(rows1) {
        let r1 = (r0 + rows1).min(h1);
        // Rows 2 r0 - 1 .. 2 r1 of the first layer (the top reflected: row -1 is row 1).
        let (lo, hi) = ((2 * r0).saturating_sub(1), 2 * r1);
        let mut first = conv_rows(&convs[0], &image, lo, hi, &mut b);
        let hw = first.h * first.w;
        first
            .data
            .par_chunks_mut(hw)
            .enumerate()
            .for_each(|(ch, plane)| {
                let (mean, var) = stats[ch];
                finish_plane(plane, mean, var, gamma0[ch], beta0[ch], layers[0].finish);
            });
        let src = Band {
            band: &first,
            first: lo,
            h,
        };
        let band = conv_rows(&convs[1], &src, r0, r1, &mut b);
        put_rows(&mut x, &band, r0);
        b.give(band.data);
        b.give(first.data);
    }
    let (gamma1, beta1) = layers[1].affine(styles);
    normalize(&mut x, &gamma1, &beta1, layers[1].finish);
    let mut run = |i: usize, x: &Map, upsample: bool| {
        layer(
            &layers[i],
            &convs[i],
            &Whole { map: x, upsample },
            styles,
            band_floats,
            &mut b,
        )
    };
    x = run(2, &x, false);
    debug_assert_eq!(FIRST_RESIDUAL, 3);
    for i in (FIRST_RESIDUAL..FIRST_EXPAND).step_by(2) {
        let inner = run(i, &x, false);
        let y = run(i + 1, &inner, false);
        x.data
            .par_iter_mut()
            .zip(&y.data)
            .for_each(|(a, b)| *a += b);
    }
    for (i, params) in layers.iter().enumerate().skip(FIRST_EXPAND) {
        x = run(i, &x, params.upsample);
    }
    x.data
}
