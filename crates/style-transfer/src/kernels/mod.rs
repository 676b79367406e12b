//! Host-memory convolution kernels shared by the optimization's host path and the
//! feed-forward networks' CPU forms: Winograd F(4x4,3x3) with its exact adjoint
//! ([`winograd`]), convolutions over reflect-padded maps ([`reflect_conv`]), direct
//! convolution for layers with few output channels ([`direct_conv`]) and the pool of
//! reusable buffers all draw from ([`buffers`]).
//!
//! May use: nothing of the crate (only `gemm` and `rayon`). Used by `optimize::host_path`
//! and `feedforward`; `video` uses its [`simd_kernel`] macro.

/// Defines a function whose body is compiled three times, for AVX-512, for AVX2 with FMA and
/// for the baseline target, and runs the best one the CPU has (checked at run time). Loops over
/// fixed-size arrays in the body become vector instructions of the CPU's width.
macro_rules! simd_kernel {
    ($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$doc])*
        fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn body($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                fn avx512($($arg: $ty),*) {
                    body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) {
                    body($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                {
                    // SAFETY: the CPU has every feature this version was compiled for.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: as above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}

pub(crate) use simd_kernel;

pub(crate) mod buffers;
pub(crate) mod direct_conv;
pub(crate) mod reflect_conv;
pub(crate) mod winograd;
