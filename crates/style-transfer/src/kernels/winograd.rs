//! 3x3 convolutions (stride 1, zero padding 1) by Winograd's minimal filtering F(4x4, 3x3)
//! (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016), forward and
//! input gradient, on host memory.
//!
//! Each 4x4 block of output comes from a 6x6 block of input: `Y = A^T [U . V] A` with
//! `U = G g G^T` (the filter, transformed once) and `V = B^T d B` (the input tile). Summed
//! over input channels, the elementwise product becomes 36 independent matrix multiplies
//! `M_xi = U_xi V_xi` of `[out, in] x [in, tiles]`: 36 multiplies per 16 outputs instead of
//! 144, a quarter of direct convolution's arithmetic.
//!
//! The input gradient is the exact adjoint of that forward map: `dV = U_xi^T dM_xi` with
//! `dM = A dY A^T` and `dd = B dV B^T` scatter-added over overlapping tiles. It reuses the
//! same transformed filters (read transposed), so no second copy is stored.
//!
//! Tensors are single images in planar layout: `[channels][height][width]`, row-major.

use gemm::{Parallelism, gemm};
use rayon::prelude::*;

use crate::kernels::buffers::{Buffers, Shared};

/// Side of an output tile.
const M: usize = 4;
/// Side of an input tile (`M + 3 - 1`).
const T: usize = 6;
/// Number of transformed positions (`T * T`): one matrix multiply each.
const XI: usize = T * T;
/// Bytes of transformed tiles (input and output together) held per chunk of tile rows.
const CHUNK_BYTES: usize = 8 << 20;
/// The fewest tiles per chunk, whatever [`CHUNK_BYTES`] says: each matrix multiply packs its
/// filters once and runs in blocks of 64 tiles, so a chunk of one or two tile rows of a deep
/// layer's small map (33 tiles at conv4 in 1056 px tiles, 64 in a 2048 px picture) spends
/// much of its time packing and in a part-filled last block. Measured on 512-channel
/// layers (forward and input gradient, 2-core AMD EPYC): 512 tiles take 0.63-0.90x the time
/// of one tile row, 1024 no less than 512.
const MIN_CHUNK_TILES: usize = 512;
/// Tiles transformed together, one per SIMD lane.
const L: usize = 16;

/// `L` tiles' values at one position of a tile: the transforms loop over lanes so that the
/// compiler vectorizes them across tiles.
type Lanes = [f32; L];

/// A tile of up to 6x6 positions for `L` tiles at once, row-major.
type LaneTile = [Lanes; XI];

/// `G g` for a 3-vector: the filter transform along one axis.
#[inline(always)]
fn g_1d(g: [f32; 3]) -> [f32; T] {
    [
        g[0] / 4.0,
        -(g[0] + g[1] + g[2]) / 6.0,
        -(g[0] - g[1] + g[2]) / 6.0,
        g[0] / 24.0 + g[1] / 12.0 + g[2] / 6.0,
        g[0] / 24.0 - g[1] / 12.0 + g[2] / 6.0,
        g[2],
    ]
}

/// `B^T d` for a 6-vector: the input transform along one axis.
#[inline(always)]
fn bt_1d(d: [f32; T]) -> [f32; T] {
    [
        d[0] * 4.0 - d[2] * 5.0 + d[4],
        d[3] + d[4] - (d[1] + d[2]) * 4.0,
        (d[1] - d[2]) * 4.0 - d[3] + d[4],
        (d[3] - d[1]) * 2.0 - d[2] + d[4],
        (d[1] - d[3]) * 2.0 - d[2] + d[4],
        d[1] * 4.0 - d[3] * 5.0 + d[5],
    ]
}

/// `B v` for a 6-vector: the adjoint of [`bt_1d`].
#[inline(always)]
fn b_1d(v: [f32; T]) -> [f32; T] {
    [
        v[0] * 4.0,
        v[5] * 4.0 - (v[1] - v[2]) * 4.0 - (v[3] - v[4]) * 2.0,
        v[0] * -5.0 - (v[1] + v[2]) * 4.0 - v[3] - v[4],
        v[1] - v[2] + (v[3] - v[4]) * 2.0 - v[5] * 5.0,
        v[0] + v[1] + v[2] + v[3] + v[4],
        v[5],
    ]
}

/// `A^T m` for a 6-vector: the output transform along one axis.
#[inline(always)]
fn at_1d(m: [f32; T]) -> [f32; M] {
    let (s1, d1) = (m[1] + m[2], m[1] - m[2]);
    let (s2, d2) = (m[3] + m[4], m[3] - m[4]);
    [
        m[0] + s1 + s2,
        d1 + d2 * 2.0,
        s1 + s2 * 4.0,
        d1 + d2 * 8.0 + m[5],
    ]
}

/// `A y` for a 4-vector: the adjoint of [`at_1d`].
#[inline(always)]
fn a_1d(y: [f32; M]) -> [f32; T] {
    let (e, o) = (y[0] + y[2], y[1] + y[3]);
    let (e4, o8) = (y[0] + y[2] * 4.0, y[1] * 2.0 + y[3] * 8.0);
    [y[0], e + o, e - o, e4 + o8, e4 - o8, y[3]]
}

/// Applies a 1-D transform to every column, then to every row, of a row-major `I x I` tile.
#[inline(always)]
fn transform_2d<const I: usize, const O: usize>(
    tile: &[[f32; I]; I],
    f: impl Fn([f32; I]) -> [f32; O],
) -> [[f32; O]; O] {
    let cols: [[f32; O]; I] = std::array::from_fn(|i| f(std::array::from_fn(|r| tile[r][i])));
    std::array::from_fn(|o| f(std::array::from_fn(|i| cols[i][o])))
}

/// [`transform_2d`] for `L` tiles at once: `input` holds an `I x I` tile, `out` receives the
/// `O x O` result, `tmp` is scratch. Written as loops over lanes, which vectorize.
#[inline(always)]
fn transform_lanes<const I: usize, const O: usize>(
    input: &LaneTile,
    tmp: &mut LaneTile,
    out: &mut LaneTile,
    f: impl Fn([f32; I]) -> [f32; O],
) {
    for i in 0..I {
        for l in 0..L {
            let col = f(std::array::from_fn(|r| input[r * I + i][l]));
            for o in 0..O {
                tmp[o * I + i][l] = col[o];
            }
        }
    }
    for o in 0..O {
        for l in 0..L {
            let row = f(std::array::from_fn(|i| tmp[o * I + i][l]));
            for p in 0..O {
                out[o * O + p][l] = row[p];
            }
        }
    }
}

/// A 3x3 convolution layer (stride 1, padding 1) with its filters in Winograd form.
pub(crate) struct Conv3x3 {
    out_ch: usize,
    in_ch: usize,
    /// Bytes of transformed tiles per chunk ([`CHUNK_BYTES`]; smaller in tests).
    chunk_bytes: usize,
    /// `[XI][out_ch][in_ch]`: the transformed filters, one matrix per position.
    u: Vec<f32>,
    bias: Vec<f32>,
}

impl std::fmt::Debug for Conv3x3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Conv3x3({} -> {})", self.in_ch, self.out_ch)
    }
}

/// The tiling of an `h x w` map and the chunks of tile rows processed together.
#[derive(Clone, Copy)]
struct Tiling {
    h: usize,
    w: usize,
    tiles_x: usize,
    tiles_y: usize,
    /// Tile rows per chunk.
    rows: usize,
    /// Width of a padded strip of input rows: room for every lane of the last group.
    strip_w: usize,
}

impl Tiling {
    fn new(h: usize, w: usize, channels: usize, chunk_bytes: usize) -> Self {
        let (tiles_y, tiles_x) = (h.div_ceil(M), w.div_ceil(M));
        let per_row = XI * channels * tiles_x * std::mem::size_of::<f32>();
        Tiling {
            h,
            w,
            tiles_x,
            tiles_y,
            rows: (chunk_bytes / per_row)
                .max(MIN_CHUNK_TILES.div_ceil(tiles_x))
                .clamp(1, tiles_y),
            strip_w: (tiles_x.div_ceil(L) * L) * M + 2,
        }
    }

    /// Tiles in a full chunk (the stride of the transformed buffers).
    fn chunk_tiles(&self) -> usize {
        self.rows * self.tiles_x
    }

    /// The chunks: first tile row and number of tile rows.
    fn chunks(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.tiles_y)
            .step_by(self.rows)
            .map(|r| (r, self.rows.min(self.tiles_y - r)))
    }

    /// Groups of up to `L` tiles in a tile row: first tile column and lane count.
    fn groups(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.tiles_x)
            .step_by(L)
            .map(|x| (x, L.min(self.tiles_x - x)))
    }
}

/// Stores `L` lanes (or the first `n`) at `dst[at..]`.
#[inline(always)]
fn store(dst: &mut [f32], at: usize, v: &Lanes, n: usize) {
    if n == L {
        let dst: &mut Lanes = (&mut dst[at..at + L]).try_into().expect("L lanes");
        *dst = *v;
    } else {
        dst[at..at + n].copy_from_slice(&v[..n]);
    }
}

/// Loads `L` lanes (zeros past the first `n`) from `src[at..]` into `dst`.
#[inline(always)]
fn load(dst: &mut Lanes, src: &[f32], at: usize, n: usize) {
    if n == L {
        *dst = src[at..at + L].try_into().expect("L lanes");
    } else {
        *dst = [0.0; L];
        dst[..n].copy_from_slice(&src[at..at + n]);
    }
}

impl Conv3x3 {
    /// Transforms `weight` (`[out_ch][in_ch][3][3]`) and keeps `bias` (`[out_ch]`).
    pub(crate) fn new(weight: &[f32], bias: &[f32], out_ch: usize, in_ch: usize) -> Self {
        assert_eq!(weight.len(), out_ch * in_ch * 9, "3x3 filter size");
        assert_eq!(bias.len(), out_ch, "bias size");
        // [out][XI][in] first (one output channel per task), then [XI][out][in].
        let mut by_k = vec![0.0f32; XI * out_ch * in_ch];
        by_k.par_chunks_mut(XI * in_ch)
            .enumerate()
            .for_each(|(k, uk)| {
                for c in 0..in_ch {
                    let g = &weight[(k * in_ch + c) * 9..][..9];
                    let tile: [[f32; 3]; 3] =
                        std::array::from_fn(|r| [g[3 * r], g[3 * r + 1], g[3 * r + 2]]);
                    let t = transform_2d(&tile, g_1d);
                    for (xi, v) in t.iter().flatten().enumerate() {
                        uk[xi * in_ch + c] = *v;
                    }
                }
            });
        let mut u = vec![0.0f32; XI * out_ch * in_ch];
        u.par_chunks_mut(out_ch * in_ch)
            .enumerate()
            .for_each(|(xi, u_xi)| {
                for (k, row) in u_xi.chunks_mut(in_ch).enumerate() {
                    row.copy_from_slice(&by_k[(k * XI + xi) * in_ch..][..in_ch]);
                }
            });
        Conv3x3 {
            out_ch,
            in_ch,
            chunk_bytes: CHUNK_BYTES,
            u,
            bias: bias.to_vec(),
        }
    }

    /// The 36 matrix multiplies of one chunk: `dst_xi = lhs_xi rhs_xi`, with `lhs_xi` the
    /// transformed filters (`[out][in]`, or read transposed), `rhs` and `dst` laid out
    /// `[rows][XI][tc]` with `n` tiles used.
    fn multiply(&self, transposed: bool, rhs: &[f32], dst: &mut [f32], tc: usize, n: usize) {
        let (rows, inner) = if transposed {
            (self.in_ch, self.out_ch)
        } else {
            (self.out_ch, self.in_ch)
        };
        assert!(rhs.len() >= inner * XI * tc && dst.len() >= rows * XI * tc);
        let (lhs_cs, lhs_rs) = if transposed {
            (self.in_ch as isize, 1)
        } else {
            (1, self.in_ch as isize)
        };
        let (dp, rp) = (Shared(dst.as_mut_ptr()), Shared(rhs.as_ptr() as *mut f32));
        let up = Shared(self.u.as_ptr() as *mut f32);
        let plane = self.out_ch * self.in_ch;
        (0..XI).into_par_iter().for_each(|xi| {
            let (dp, rp, up) = (dp, rp, up);
            // SAFETY: position xi writes only dst[row][xi][0..n], disjoint between positions;
            // the sizes are checked above and the strides stay inside each buffer.
            unsafe {
                gemm(
                    rows,
                    n,
                    inner,
                    dp.0.add(xi * tc),
                    1,
                    (XI * tc) as isize,
                    false,
                    up.0.add(xi * plane),
                    lhs_cs,
                    lhs_rs,
                    rp.0.add(xi * tc),
                    1,
                    (XI * tc) as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    Parallelism::None,
                );
            }
        });
    }

    /// `y = conv(x) + bias`, then ReLU if `relu`: `x` is `[in_ch][h][w]`, `y` `[out_ch][h][w]`.
    pub(crate) fn forward(
        &self,
        x: &[f32],
        h: usize,
        w: usize,
        relu: bool,
        buffers: &mut Buffers,
    ) -> Vec<f32> {
        let (c_in, k_out) = (self.in_ch, self.out_ch);
        assert_eq!(x.len(), c_in * h * w, "input size");
        let tiling = Tiling::new(h, w, c_in + k_out, self.chunk_bytes);
        let tc = tiling.chunk_tiles();
        // Every value of y belongs to one output tile and is written.
        let mut y = buffers.take(k_out * h * w);
        let mut v = buffers.take(c_in * XI * tc);
        let mut m = buffers.take(k_out * XI * tc);
        for (ty0, rows) in tiling.chunks() {
            input_transform(&tiling, x, &mut v, ty0, rows);
            self.multiply(false, &v, &mut m, tc, rows * tiling.tiles_x);
            output_transform(&tiling, &m, &mut y, &self.bias, relu, ty0, rows);
        }
        buffers.give(v);
        buffers.give(m);
        y
    }

    /// The gradient with respect to the input `[in_ch][h][w]` of `sum(dy * conv(x))`, for
    /// `dy` of shape `[out_ch][h][w]` (bias and ReLU are the caller's).
    pub(crate) fn backward_input(
        &self,
        dy: &[f32],
        h: usize,
        w: usize,
        buffers: &mut Buffers,
    ) -> Vec<f32> {
        let (c_in, k_out) = (self.in_ch, self.out_ch);
        assert_eq!(dy.len(), k_out * h * w, "output gradient size");
        let tiling = Tiling::new(h, w, c_in + k_out, self.chunk_bytes);
        let tc = tiling.chunk_tiles();
        let mut dx = buffers.zeroed(c_in * h * w);
        let mut dv = buffers.take(c_in * XI * tc);
        let mut dm = buffers.take(k_out * XI * tc);
        for (ty0, rows) in tiling.chunks() {
            output_transform_adjoint(&tiling, dy, &mut dm, ty0, rows);
            self.multiply(true, &dm, &mut dv, tc, rows * tiling.tiles_x);
            input_transform_adjoint(&tiling, &dv, &mut dx, ty0, rows);
        }
        buffers.give(dv);
        buffers.give(dm);
        dx
    }
}

/// `v[c][xi][t] = (B^T d B)[xi]` for channel c's input tile t of the chunk's tile rows.
fn input_transform(tiling: &Tiling, x: &[f32], v: &mut [f32], ty0: usize, rows: usize) {
    let (plane, tc) = (tiling.h * tiling.w, tiling.chunk_tiles());
    v.par_chunks_mut(XI * tc)
        .zip(x.par_chunks(plane))
        .for_each(|(vc, plane)| input_plane(tiling, plane, vc, ty0, rows));
}

simd_kernel! {
    /// [`input_transform`] for one channel.
    fn input_plane(tiling: &Tiling, plane: &[f32], vc: &mut [f32], ty0: usize, rows: usize) {
        let Tiling { h, w, tiles_x, strip_w, .. } = *tiling;
        let tc = tiling.chunk_tiles();
        // Six input rows, zero-padded: strip column j holds plane column j - 1.
        let mut strip = vec![0.0f32; T * strip_w];
        let (mut d, mut tmp, mut out) = ([[0.0; L]; XI], [[0.0; L]; XI], [[0.0; L]; XI]);
        for ty in ty0..ty0 + rows {
            for r in 0..T {
                let row = (ty * M + r) as isize - 1;
                let dst = &mut strip[r * strip_w..][..strip_w];
                if row >= 0 && (row as usize) < h {
                    dst[1..=w].copy_from_slice(&plane[row as usize * w..][..w]);
                } else {
                    dst[1..=w].fill(0.0);
                }
            }
            for (tx0, n) in tiling.groups() {
                for r in 0..T {
                    let s = &strip[r * strip_w + tx0 * M..][..L * M + 2];
                    for c in 0..T {
                        for l in 0..L {
                            d[r * T + c][l] = s[l * M + c];
                        }
                    }
                }
                transform_lanes(&d, &mut tmp, &mut out, bt_1d);
                let t = (ty - ty0) * tiles_x + tx0;
                for (xi, val) in out.iter().enumerate() {
                    store(vc, xi * tc + t, val, n);
                }
            }
        }
    }
}

/// `y[k] = A^T m A + bias` (then ReLU) for each output tile of the chunk's tile rows.
fn output_transform(
    tiling: &Tiling,
    m: &[f32],
    y: &mut [f32],
    bias: &[f32],
    relu: bool,
    ty0: usize,
    rows: usize,
) {
    let (plane, tc) = (tiling.h * tiling.w, tiling.chunk_tiles());
    y.par_chunks_mut(plane)
        .zip(m.par_chunks(XI * tc))
        .zip(bias)
        .for_each(|((plane, mk), &b)| output_plane(tiling, mk, plane, b, relu, ty0, rows));
}

simd_kernel! {
    /// [`output_transform`] for one output channel with bias `b`.
    fn output_plane(
        tiling: &Tiling,
        mk: &[f32],
        plane: &mut [f32],
        b: f32,
        relu: bool,
        ty0: usize,
        rows: usize,
    ) {
        let Tiling { h, w, tiles_x, .. } = *tiling;
        let tc = tiling.chunk_tiles();
        let (mut tile, mut tmp, mut out) = ([[0.0; L]; XI], [[0.0; L]; XI], [[0.0; L]; XI]);
        for ty in ty0..ty0 + rows {
            for (tx0, n) in tiling.groups() {
                let t = (ty - ty0) * tiles_x + tx0;
                for (xi, lanes) in tile.iter_mut().enumerate() {
                    load(lanes, mk, xi * tc + t, n);
                }
                transform_lanes(&tile, &mut tmp, &mut out, at_1d);
                let (r0, c0) = (ty * M, tx0 * M);
                let cols = (n * M).min(w - c0);
                for i in 0..M.min(h - r0) {
                    let dst = &mut plane[(r0 + i) * w + c0..][..cols];
                    for (j, d) in dst.iter_mut().enumerate() {
                        let val = out[i * M + j % M][j / M] + b;
                        *d = if relu { val.max(0.0) } else { val };
                    }
                }
            }
        }
    }
}

/// `dm[k][xi][t] = (A dY A^T)[xi]` for each output tile (zero outside the map).
fn output_transform_adjoint(tiling: &Tiling, dy: &[f32], dm: &mut [f32], ty0: usize, rows: usize) {
    let (plane, tc) = (tiling.h * tiling.w, tiling.chunk_tiles());
    dm.par_chunks_mut(XI * tc)
        .zip(dy.par_chunks(plane))
        .for_each(|(mk, plane)| output_adjoint_plane(tiling, plane, mk, ty0, rows));
}

simd_kernel! {
    /// [`output_transform_adjoint`] for one output channel.
    fn output_adjoint_plane(tiling: &Tiling, plane: &[f32], mk: &mut [f32], ty0: usize, rows: usize) {
        let Tiling { h, w, tiles_x, strip_w, .. } = *tiling;
        let tc = tiling.chunk_tiles();
        let mut strip = vec![0.0f32; M * strip_w];
        let (mut g, mut tmp, mut out) = ([[0.0; L]; XI], [[0.0; L]; XI], [[0.0; L]; XI]);
        for ty in ty0..ty0 + rows {
            for r in 0..M {
                let row = ty * M + r;
                let dst = &mut strip[r * strip_w..][..w];
                if row < h {
                    dst.copy_from_slice(&plane[row * w..][..w]);
                } else {
                    dst.fill(0.0);
                }
            }
            for (tx0, n) in tiling.groups() {
                for r in 0..M {
                    let s = &strip[r * strip_w + tx0 * M..][..L * M];
                    for c in 0..M {
                        for l in 0..L {
                            g[r * M + c][l] = s[l * M + c];
                        }
                    }
                }
                transform_lanes(&g, &mut tmp, &mut out, a_1d);
                let t = (ty - ty0) * tiles_x + tx0;
                for (xi, val) in out.iter().enumerate() {
                    store(mk, xi * tc + t, val, n);
                }
            }
        }
    }
}

/// `dx[c] += B dv B^T` for each input tile, overlapping tiles summed, padding dropped.
fn input_transform_adjoint(tiling: &Tiling, dv: &[f32], dx: &mut [f32], ty0: usize, rows: usize) {
    let (plane, tc) = (tiling.h * tiling.w, tiling.chunk_tiles());
    dx.par_chunks_mut(plane)
        .zip(dv.par_chunks(XI * tc))
        .for_each(|(plane, vc)| input_adjoint_plane(tiling, vc, plane, ty0, rows));
}

simd_kernel! {
    /// [`input_transform_adjoint`] for one input channel.
    fn input_adjoint_plane(tiling: &Tiling, vc: &[f32], plane: &mut [f32], ty0: usize, rows: usize) {
        let Tiling { h, w, tiles_x, strip_w, .. } = *tiling;
        let tc = tiling.chunk_tiles();
        // Six rows of input gradient, strip column j for plane column j - 1.
        let mut strip = vec![0.0f32; T * strip_w];
        let (mut tile, mut tmp, mut out) = ([[0.0; L]; XI], [[0.0; L]; XI], [[0.0; L]; XI]);
        for ty in ty0..ty0 + rows {
            strip.fill(0.0);
            for (tx0, n) in tiling.groups() {
                let t = (ty - ty0) * tiles_x + tx0;
                for (xi, lanes) in tile.iter_mut().enumerate() {
                    load(lanes, vc, xi * tc + t, n);
                }
                transform_lanes(&tile, &mut tmp, &mut out, b_1d);
                for r in 0..T {
                    let s = &mut strip[r * strip_w + tx0 * M..][..L * M + 2];
                    for l in 0..L {
                        for c in 0..T {
                            s[l * M + c] += out[r * T + c][l];
                        }
                    }
                }
            }
            for r in 0..T {
                let row = (ty * M + r) as isize - 1;
                if row >= 0 && (row as usize) < h {
                    let dst = &mut plane[row as usize * w..][..w];
                    let src = &strip[r * strip_w + 1..][..w];
                    dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct 3x3 convolution with zero padding 1, in f64.
    fn direct(
        x: &[f32],
        wt: &[f32],
        bias: &[f32],
        k: usize,
        c: usize,
        h: usize,
        w: usize,
    ) -> Vec<f64> {
        let mut y = vec![0.0f64; k * h * w];
        for o in 0..k {
            for i in 0..h {
                for j in 0..w {
                    let mut s = bias[o] as f64;
                    for ci in 0..c {
                        for di in 0..3 {
                            for dj in 0..3 {
                                let (r, q) =
                                    (i as isize + di as isize - 1, j as isize + dj as isize - 1);
                                if r >= 0 && q >= 0 && (r as usize) < h && (q as usize) < w {
                                    s += wt[((o * c + ci) * 3 + di) * 3 + dj] as f64
                                        * x[(ci * h + r as usize) * w + q as usize] as f64;
                                }
                            }
                        }
                    }
                    y[(o * h + i) * w + j] = s;
                }
            }
        }
        y
    }

    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn forward_matches_direct_convolution_at_odd_sizes() {
        for &(k, c, h, w) in &[(5, 3, 7, 9), (8, 6, 16, 16), (3, 4, 1, 5), (4, 2, 13, 4)] {
            let x = values(c * h * w, 1);
            let wt = values(k * c * 9, 2);
            let bias = values(k, 3);
            let conv = Conv3x3::new(&wt, &bias, k, c);
            let want = direct(&x, &wt, &bias, k, c, h, w);
            let got = conv.forward(&x, h, w, false, &mut Buffers::default());
            let relu = conv.forward(&x, h, w, true, &mut Buffers::default());
            let scale = want.iter().fold(0.0f64, |a, v| a.max(v.abs()));
            for ((g, r), e) in got.iter().zip(&relu).zip(&want) {
                assert!(
                    (*g as f64 - e).abs() <= 1e-5 * scale,
                    "{g} vs {e} at {k}x{c}x{h}x{w}"
                );
                assert_eq!(*r, g.max(0.0));
            }
        }
    }

    #[test]
    fn input_gradient_is_the_adjoint_of_the_forward() {
        // <conv(x), dy> == <x, conv^T(dy)> for a bias-free convolution, and each entry of
        // the input gradient equals the direct transposed convolution.
        let (k, c, h, w) = (6, 5, 11, 10);
        let x = values(c * h * w, 4);
        let wt = values(k * c * 9, 5);
        let dy = values(k * h * w, 6);
        let conv = Conv3x3::new(&wt, &vec![0.0; k], k, c);
        let y = conv.forward(&x, h, w, false, &mut Buffers::default());
        let dx = conv.backward_input(&dy, h, w, &mut Buffers::default());
        let lhs: f64 = y.iter().zip(&dy).map(|(a, b)| *a as f64 * *b as f64).sum();
        let rhs: f64 = x.iter().zip(&dx).map(|(a, b)| *a as f64 * *b as f64).sum();
        assert!(
            (lhs - rhs).abs() <= 1e-4 * lhs.abs().max(1.0),
            "{lhs} vs {rhs}"
        );
        // Direct transposed convolution: dx[c][i][j] = sum_k sum_{di,dj} w[k][c][di][dj] dy[k][i-di+1][j-dj+1].
        let mut want = vec![0.0f64; c * h * w];
        for o in 0..k {
            for ci in 0..c {
                for i in 0..h {
                    for j in 0..w {
                        for di in 0..3 {
                            for dj in 0..3 {
                                let (r, q) =
                                    (i as isize - di as isize + 1, j as isize - dj as isize + 1);
                                if r >= 0 && q >= 0 && (r as usize) < h && (q as usize) < w {
                                    want[(ci * h + i) * w + j] +=
                                        wt[((o * c + ci) * 3 + di) * 3 + dj] as f64
                                            * dy[(o * h + r as usize) * w + q as usize] as f64;
                                }
                            }
                        }
                    }
                }
            }
        }
        let scale = want.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        for (g, e) in dx.iter().zip(&want) {
            assert!((*g as f64 - e).abs() <= 1e-5 * scale, "{g} vs {e}");
        }
    }

    #[test]
    fn chunks_and_partial_lane_groups_give_the_same_results() {
        // More tile rows than one chunk holds, and 25 tiles per row: one full group of 16
        // lanes and a partial one.
        let (k, c, h, w): (usize, usize, usize, usize) = (64, 64, 102, 100);
        let (wt, bias) = (values(k * c * 9, 7), values(k, 8));
        let mut conv = Conv3x3::new(&wt, &bias, k, c);
        conv.chunk_bytes = 1 << 20;
        let tiling = Tiling::new(h, w, k + c, conv.chunk_bytes);
        assert!(
            tiling.rows < tiling.tiles_y,
            "the test needs several chunks"
        );
        assert!(!tiling.tiles_x.is_multiple_of(L) && tiling.tiles_x > L);
        let x = values(c * h * w, 9);
        let want = direct(&x, &wt, &bias, k, c, h, w);
        let got = conv.forward(&x, h, w, false, &mut Buffers::default());
        let scale = want.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        for (g, e) in got.iter().zip(&want) {
            assert!((*g as f64 - e).abs() <= 1e-5 * scale);
        }
        // Adjoint identity with the bias taken out: <y - b, dy> == <x, conv^T(dy)>.
        let dy = values(k * h * w, 10);
        let dx = conv.backward_input(&dy, h, w, &mut Buffers::default());
        let lhs: f64 = got
            .iter()
            .zip(&dy)
            .enumerate()
            .map(|(i, (a, d))| (*a - bias[i / (h * w)]) as f64 * *d as f64)
            .sum();
        let rhs: f64 = x.iter().zip(&dx).map(|(a, b)| *a as f64 * *b as f64).sum();
        assert!((lhs - rhs).abs() <= 1e-4 * lhs.abs(), "{lhs} vs {rhs}");
    }
}
