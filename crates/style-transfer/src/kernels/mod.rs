//! Host-memory convolution kernels shared by the optimization's host path and the
//! feed-forward networks' CPU forms: Winograd F(4x4,3x3) with its exact adjoint
//! ([`winograd`]), convolutions over reflect-padded maps ([`reflect_conv`]) and the pool of
//! reusable buffers both draw from ([`buffers`]).
//!
//! May use: nothing of the crate (only `gemm` and `rayon`). Used by `optimize::host_path`
//! and `feedforward`.

pub(crate) mod buffers;
pub(crate) mod reflect_conv;
pub(crate) mod winograd;
