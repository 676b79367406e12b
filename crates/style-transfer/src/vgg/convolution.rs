//! The ways VGG19's 3x3 convolutions (stride 1, zero padding 1) can be computed on a tensor
//! device, chosen at run time ([`Convolution`], `Settings::with_convolution`).
//!
//! Burn 0.22.1's f32 convolution on wgpu has only a direct kernel (its implicit-GEMM
//! candidates need f16/bf16 tensor-core tiles), while its f32 matrix multiply autotunes over
//! register-tiled kernels. Each candidate here turns the convolution into matrix multiplies
//! made of ordinary tensor operations (slices, concatenations, reshapes, `matmul`), so that
//! Burn's autodiff differentiates it on every backend and the one GPU run of
//! `benches/gpu_candidates.sh` can choose between them. The weights never require gradients,
//! so autodiff computes the input's gradient only (Burn's own `conv2d` backward skips the
//! weight gradient the same way when the weights are not tracked).
//!
//! Each candidate is checked against Burn's `conv2d` on every backend, values and input
//! gradient, on every VGG19 layer shape (tests/convolution.rs).

use std::fmt;
use std::str::FromStr;

use burn::tensor::module::conv2d;
use burn::tensor::ops::{ConvOptions, PadMode};
use burn::tensor::{FloatDType, Tensor, TensorData};

use crate::error::Error;
use crate::image_io::tensor_values;

/// How the 3x3 convolutions of VGG19 are computed on the tensor path (wgpu; flex and
/// ndarray with `Settings::with_winograd(false)`). The host path of the CPU backends has its
/// own Winograd kernels and ignores this.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Convolution {
    /// Burn's `conv2d` (default): on wgpu in f32, its direct kernel.
    #[default]
    Burn,
    /// im2col: the nine shifted windows of the zero-padded input stacked into a
    /// `[9 * in, pixels]` matrix and one matrix multiply by the `[out, 9 * in]` filters.
    /// Holds about nine times the input's memory per layer.
    Im2col,
    /// Winograd F(2x2, 3x3) as 16 batched matrix multiplies (2.25x fewer multiplies than
    /// direct convolution); the transforms are small matrix multiplies too.
    Winograd2,
    /// Winograd F(4x4, 3x3) as 36 batched matrix multiplies (4x fewer multiplies; larger
    /// float32 rounding than F(2x2, 3x3), about 1e-5 relative on VGG19's layers).
    Winograd4,
    /// Burn's `conv2d` on float16 copies of the input and filters, the result cast back to
    /// float32 (Grams and losses stay float32). Where a backend has float16 tensor-core
    /// convolutions, this is the path that reaches them; its rounding is far larger (about
    /// 1e-3 relative), so it is kept only where the run's loss stays within the fidelity
    /// bound of docs/backends.md.
    Half,
}

impl Convolution {
    /// Every candidate, default first.
    pub const ALL: [Convolution; 5] = [
        Convolution::Burn,
        Convolution::Im2col,
        Convolution::Winograd2,
        Convolution::Winograd4,
        Convolution::Half,
    ];

    /// The name used on command lines and in `STYLE_TRANSFER_CONVOLUTION`: `burn`, `im2col`,
    /// `winograd2`, `winograd4` or `f16`.
    pub fn name(self) -> &'static str {
        match self {
            Convolution::Burn => "burn",
            Convolution::Im2col => "im2col",
            Convolution::Winograd2 => "winograd2",
            Convolution::Winograd4 => "winograd4",
            Convolution::Half => "f16",
        }
    }

    /// `conv2d(x, weight, bias)` with a 3x3 `weight` `[out, in, 3, 3]`, stride 1 and zero
    /// padding 1, computed this way; `x` is `[batch, in, h, w]`, the result
    /// `[batch, out, h, w]`.
    pub fn apply(self, x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>) -> Tensor<4> {
        let y = match self {
            Convolution::Burn => return conv2d(x, weight, bias, same_padding()),
            Convolution::Half => {
                let y = conv2d(
                    x.cast(FloatDType::F16),
                    weight.cast(FloatDType::F16),
                    None,
                    same_padding(),
                );
                y.cast(FloatDType::F32)
            }
            Convolution::Im2col => im2col(x, weight),
            Convolution::Winograd2 => winograd(x, weight, &F2X2),
            Convolution::Winograd4 => winograd(x, weight, &F4X4),
        };
        match bias {
            Some(b) => {
                let out = b.dims()[0];
                y + b.reshape([1, out, 1, 1])
            }
            None => y,
        }
    }
}

impl Convolution {
    /// The gradient of `total` (one value, computed through a network whose convolutions run
    /// this way) with respect to `x`. In float16 ([`Convolution::Half`]) the backward pass
    /// overflows: the objective's gradients reach far past float16's largest value (65504;
    /// measured: non-finite at every size, total losses of 1e12 and more), so `Half`
    /// differentiates `total` divided by the power of two nearest its value / 1024 and
    /// multiplies the gradient back (exact in binary), as mixed-precision training scales its
    /// loss (there the other way, against underflow). One value read from the device more.
    pub(crate) fn gradient(self, total: Tensor<1>, x: &Tensor<4>) -> Option<Tensor<4>> {
        if self != Convolution::Half {
            return x.grad(&total.backward());
        }
        let value = f64::from(tensor_values(&total.clone().inner())[0]).abs();
        let scale = (value / 1024.0).max(1.0).log2().round().exp2();
        let grads = (total / scale).backward();
        x.grad(&grads).map(|g| g * scale)
    }
}

impl fmt::Display for Convolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Convolution {
    type Err = Error;

    /// Parses a [`Convolution::name`] (case-insensitive; `half` is `f16` too).
    fn from_str(s: &str) -> Result<Self, Error> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("half") {
            return Ok(Convolution::Half);
        }
        Convolution::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::InvalidConfig {
                name: "convolution",
                reason: format!(
                    "unknown convolution {s:?}: use one of {}",
                    Convolution::ALL.map(Convolution::name).join(", ")
                ),
            })
    }
}

/// Stride 1, zero padding 1, no dilation, one group.
fn same_padding() -> ConvOptions<2> {
    ConvOptions::new([1, 1], [1, 1], [1, 1], 1)
}

/// im2col then one matrix multiply (see [`Convolution::Im2col`]).
fn im2col(x: Tensor<4>, weight: Tensor<4>) -> Tensor<4> {
    let [batch, channels, h, w] = x.dims();
    let out = weight.dims()[0];
    let padded = x.pad((1, 1, 1, 1), PadMode::Constant(0.0));
    // [batch, 9 * in, h, w], channel index (dy * 3 + dx) * in + c.
    let windows: Vec<Tensor<4>> = (0..3)
        .flat_map(|dy| (0..3).map(move |dx| (dy, dx)))
        .map(|(dy, dx)| {
            padded
                .clone()
                .slice([0..batch, 0..channels, dy..dy + h, dx..dx + w])
        })
        .collect();
    let columns = Tensor::cat(windows, 1).reshape([batch, 9 * channels, h * w]);
    // [out, in, 3, 3] -> [out, 3, 3, in] -> [1, out, 9 * in], the columns' order.
    let filters = weight.permute([0, 2, 3, 1]).reshape([1, out, 9 * channels]);
    let filters = if batch > 1 {
        filters.repeat_dim(0, batch)
    } else {
        filters
    };
    filters.matmul(columns).reshape([batch, out, h, w])
}

/// The transforms of one Winograd form F(m x m, 3x3): input tiles of side `t = m + 2`.
struct WinogradForm {
    /// Output tile side.
    m: usize,
    /// `B^T`, `t x t`, row-major.
    bt: &'static [f32],
    /// `G`, `t x 3`, row-major.
    g: &'static [f32],
    /// `A^T`, `m x t`, row-major.
    at: &'static [f32],
}

/// F(2x2, 3x3) (Lavin and Gray 2016).
const F2X2: WinogradForm = WinogradForm {
    m: 2,
    #[rustfmt::skip]
    bt: &[
        1.0, 0.0, -1.0, 0.0,
        0.0, 1.0, 1.0, 0.0,
        0.0, -1.0, 1.0, 0.0,
        0.0, 1.0, 0.0, -1.0,
    ],
    #[rustfmt::skip]
    g: &[
        1.0, 0.0, 0.0,
        0.5, 0.5, 0.5,
        0.5, -0.5, 0.5,
        0.0, 0.0, 1.0,
    ],
    #[rustfmt::skip]
    at: &[
        1.0, 1.0, 1.0, 0.0,
        0.0, 1.0, -1.0, -1.0,
    ],
};

/// F(4x4, 3x3), the same points as the host path's kernels (`kernels::winograd`).
const F4X4: WinogradForm = WinogradForm {
    m: 4,
    #[rustfmt::skip]
    bt: &[
        4.0, 0.0, -5.0, 0.0, 1.0, 0.0,
        0.0, -4.0, -4.0, 1.0, 1.0, 0.0,
        0.0, 4.0, -4.0, -1.0, 1.0, 0.0,
        0.0, -2.0, -1.0, 2.0, 1.0, 0.0,
        0.0, 2.0, -1.0, -2.0, 1.0, 0.0,
        0.0, 4.0, 0.0, -5.0, 0.0, 1.0,
    ],
    #[rustfmt::skip]
    g: &[
        1.0 / 4.0, 0.0, 0.0,
        -1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0,
        -1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0,
        1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0,
        1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0,
        0.0, 0.0, 1.0,
    ],
    #[rustfmt::skip]
    at: &[
        1.0, 1.0, 1.0, 1.0, 1.0, 0.0,
        0.0, 1.0, -1.0, 2.0, -2.0, 0.0,
        0.0, 1.0, 1.0, 4.0, 4.0, 0.0,
        0.0, 1.0, -1.0, 8.0, -8.0, 1.0,
    ],
};

impl WinogradForm {
    /// Input tile side.
    fn t(&self) -> usize {
        self.m + 2
    }
}

/// Winograd F(m x m, 3x3) by tensor operations: `Y = A^T [U . V] A`, `U = G g G^T`,
/// `V = B^T d B`, the sum over input channels as `t * t` batched matrix multiplies
/// `[out, in] x [in, tiles]`.
fn winograd(x: Tensor<4>, weight: Tensor<4>, form: &WinogradForm) -> Tensor<4> {
    let device = x.device();
    let [batch, channels, h, w] = x.dims();
    let out = weight.dims()[0];
    let (m, t) = (form.m, form.t());
    let xi = t * t;
    let (th, tw) = (h.div_ceil(m), w.div_ceil(m));
    // Zero padding 1 on top and left and enough at the bottom and right for (th + 1) x
    // (tw + 1) blocks of m x m: the tile at (i, j) covers rows i * m .. i * m + t, so its row
    // k (k < t <= 2m) is row k % m of block i + k / m.
    let (ph, pw) = ((th + 1) * m, (tw + 1) * m);
    let padded = x.pad((1, pw - w - 1, 1, ph - h - 1), PadMode::Constant(0.0));
    let blocks = padded.reshape([batch, channels, th + 1, m, pw]);
    let rows: Vec<Tensor<5>> = (0..t)
        .map(|k| {
            let (b, r) = (k / m, k % m);
            blocks
                .clone()
                .slice([0..batch, 0..channels, b..b + th, r..r + 1, 0..pw])
        })
        .collect();
    // [batch, in, th, t, tw + 1, m]
    let rows = Tensor::cat(rows, 3).reshape([batch, channels, th, t, tw + 1, m]);
    let tiles: Vec<Tensor<6>> = (0..t)
        .map(|k| {
            let (b, r) = (k / m, k % m);
            rows.clone()
                .slice([0..batch, 0..channels, 0..th, 0..t, b..b + tw, r..r + 1])
        })
        .collect();
    let tiles = Tensor::cat(tiles, 5); // [batch, in, th, t, tw, t]
    let count = batch * th * tw;
    // [in, batch, th, tw, t, t] -> [in * tiles, t * t]
    let d = tiles
        .permute([1, 0, 2, 4, 3, 5])
        .reshape([channels * count, xi]);
    let kin = Tensor::<2>::from_data(TensorData::new(two_sided(form.bt, t, t), [xi, xi]), &device);
    // V: [in, tiles, xi] -> [xi, in, tiles]
    let v = d
        .matmul(kin)
        .reshape([channels, count, xi])
        .permute([2, 0, 1]);
    // U = G g G^T: [out * in, 9] x [9, xi] -> [xi, out, in]. Recomputed (with the three
    // small transform matrices uploaded) on every forward pass: a few percent of the layer's
    // multiplies; caching U per layer in `Vgg19` is the next step if the GPU run picks this.
    let kg = Tensor::<2>::from_data(TensorData::new(two_sided(form.g, t, 3), [9, xi]), &device);
    let u = weight
        .reshape([out * channels, 9])
        .matmul(kg)
        .reshape([out, channels, xi])
        .permute([2, 0, 1]);
    // M = U V: [xi, out, tiles]
    let mm = u.matmul(v);
    // Y = A^T M A: [out * tiles, xi] x [xi, m * m]
    let kout = Tensor::<2>::from_data(
        TensorData::new(two_sided(form.at, m, t), [xi, m * m]),
        &device,
    );
    let y = mm
        .permute([1, 2, 0])
        .reshape([out * count, xi])
        .matmul(kout)
        .reshape([out, batch, th, tw, m, m])
        .permute([1, 0, 2, 4, 3, 5])
        .reshape([batch, out, th * m, tw * m]);
    if th * m == h && tw * m == w {
        y
    } else {
        y.slice([0..batch, 0..out, 0..h, 0..w])
    }
}

/// The two-sided transform `X -> P X P^T` of a row-major `c x c` tile, for `P` `r x c`
/// (row-major), as one matrix acting on flattened tiles from the right: `[c * c, r * r]`,
/// entry `[(i, j), (a, b)] = P[a][i] * P[b][j]`. With `B^T` it is the input transform, with
/// `G` the filter transform and with `A^T` the output transform.
fn two_sided(p: &[f32], r: usize, c: usize) -> Vec<f32> {
    let mut k = vec![0.0; c * c * r * r];
    for i in 0..c {
        for j in 0..c {
            for a in 0..r {
                for b in 0..r {
                    k[(i * c + j) * r * r + a * r + b] = p[a * c + i] * p[b * c + j];
                }
            }
        }
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_unknown_names_are_refused() {
        for c in Convolution::ALL {
            assert_eq!(c.name().parse::<Convolution>().unwrap(), c);
            assert_eq!(c.name().to_uppercase().parse::<Convolution>().unwrap(), c);
        }
        assert_eq!("half".parse::<Convolution>().unwrap(), Convolution::Half);
        let err = "gemm".parse::<Convolution>().unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidConfig {
                name: "convolution",
                ..
            }
        ));
        assert!(err.to_string().contains("im2col"), "{err}");
    }

    /// `B^T`, `G` and `A^T` of both forms make an exact 1-D correlation: for every filter and
    /// signal, `A^T [(G g) . (B^T d)]` equals `y[i] = sum_k d[i + k] g[k]` (up to the float32
    /// rounding of the matrices' entries such as 1/6).
    #[test]
    fn the_transforms_compute_a_correlation() {
        for form in [&F2X2, &F4X4] {
            let (m, t) = (form.m, form.t());
            let g = [0.3f64, -1.2, 0.7];
            let d: Vec<f64> = (0..t).map(|i| ((i * 7 + 3) % 5) as f64 - 1.5).collect();
            let gg: Vec<f64> = (0..t)
                .map(|a| (0..3).map(|i| form.g[a * 3 + i] as f64 * g[i]).sum())
                .collect();
            let bd: Vec<f64> = (0..t)
                .map(|a| (0..t).map(|i| form.bt[a * t + i] as f64 * d[i]).sum())
                .collect();
            for p in 0..m {
                let y: f64 = (0..t)
                    .map(|a| form.at[p * t + a] as f64 * gg[a] * bd[a])
                    .sum();
                let want: f64 = (0..3).map(|k| d[p + k] * g[k]).sum();
                assert!((y - want).abs() < 1e-6, "m {m}, output {p}: {y} vs {want}");
            }
        }
    }
}
