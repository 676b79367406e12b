//! Neural style transfer (Gatys, Ecker and Bethge) in pure Rust on the Burn framework.
//!
//! VGG19's convolutional features are built from weights read out of an ONNX file at run
//! time ([`VggWeights`], [`Vgg19`]); [`StyleTransfer`] optimizes the pixels of an image so
//! that its features match a content image's and their Gram matrices match one or more style
//! images'.
//!
//! # What runs where
//!
//! Backends are cargo features ([`Backend`]): `flex` (the default) and `ndarray` compute on
//! the CPU, `wgpu` on a GPU (or on Mesa's software Vulkan).
//!
//! - On the CPU backends a run evaluates VGG19 and its gradient by the crate's own
//!   **host path**: Winograd F(4x4, 3x3) convolutions and a hand-written backward pass to
//!   the image, on host memory (about a third of the time of Burn's path there).
//! - **Burn's path** (Burn's `Conv2d`, im2col convolutions, and Burn's autodiff) is the
//!   reference: it runs on `wgpu`, and on the CPU backends with
//!   [`Settings::with_winograd`]`(false)`. The tests hold the two paths to each other.
//!   [`Vgg19::forward`] (features on their own) is always Burn's path.
//! - [`Solver::Adam`] steps on the device with burn-optim's Adam; [`Solver::Lbfgs`] is the
//!   crate's own port of PyTorch's L-BFGS with a strong-Wolfe line search, its vectors on the
//!   host with the host path and on the device with Burn's path, its two-loop
//!   recursion on the host in f64.
//! - [`FastStyle`] (real time, one pass of a pretrained feed-forward network: 26 built-in
//!   styles, or any painting through the int8 arbitrary-style networks) runs on the crate's
//!   own CPU kernels on the CPU backends and as Burn operations on `wgpu`.
//!
//! # A run
//!
//! ```no_run
//! use style_transfer::{
//!     Backend, Control, Progress, Settings, Size, Solver, StyleTransfer, VggWeights, fetch,
//!     image_io,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let content = image_io::load_image("photo.jpg")?;
//! let style = image_io::load_image("painting.jpg")?;
//! let settings = Settings::new()
//!     .with_size(Size::Longest(512))
//!     .with_solver(Solver::Lbfgs { history: 100 })
//!     .with_iterations(300);
//! // Refuses bad settings (an output below VGG19's 16 px, too many scales...) before the
//! // weights are fetched.
//! settings.validate(content.width(), content.height())?;
//! let device = Backend::Flex.device()?;
//! let weights = VggWeights::from_onnx(fetch::default_weights()?)?;
//! let engine = StyleTransfer::from_settings(&weights, settings, &device);
//! let result = engine.run(&content, &[(&style, 1.0)], &mut |p: &Progress<'_>| {
//!     eprintln!("{}: {:.3e}", p.iteration, p.losses.total);
//!     Control::Continue
//! })?;
//! println!("{} after {} iterations", result.ended, result.iterations);
//! image_io::save_image(&result.image, "out.png")?;
//! # Ok(()) }
//! ```
//!
//! The observer is called after every iteration; returning [`Control::Stop`] ends the whole
//! run (at any scale of a multi-scale run) with the best image so far, and
//! [`Stylized::ended`] says why a run ended: all iterations done, stopped, or L-BFGS
//! converged (and by which test).
//!
//! # Features on their own
//!
//! ```no_run
//! use style_transfer::{Backend, Layer, Pooling, Vgg19, VggWeights, image_io};
//!
//! # fn main() -> Result<(), style_transfer::Error> {
//! let device = Backend::Flex.device()?;
//! // Fetches and converts the original VGG19 weights on first use.
//! let weights = VggWeights::from_onnx(style_transfer::fetch::default_weights()?)?;
//! let vgg = Vgg19::new(&weights, Pooling::Max, &device);
//! let image = image_io::load_image("photo.jpg")?;
//! let input = image_io::image_to_tensor(&image, weights.convention(), &device);
//! let features = vgg.forward(input, &[Layer::Conv4_2])?;
//! println!("{:?}", features.get(Layer::Conv4_2).unwrap().dims());
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

// The crate's folders, one per subsystem; each folder's `mod.rs` says what it holds and what
// it may use. docs/architecture.md draws the layout.
mod backend;
mod blend;
mod error;
mod feedforward;
pub mod fetch;
mod files;
pub mod image_io;
mod kernels;
mod onnx;
mod optimize;
pub mod plan;
mod vgg;
pub mod video;

/// The ONNX messages the weights reader decodes. Public only so that the project's own tests
/// can build ONNX files; not part of the supported API.
#[doc(hidden)]
pub use onnx::proto as onnx_proto;

pub use backend::Backend;
pub use error::{Error, Result, WeightsProblem};
pub use feedforward::{BUILT_IN_STYLES, FastStyle, STYLE_VECTOR_LEN, StyleChoice};
pub use image_io::Size;
pub use image_io::convention::InputConvention;
pub use optimize::losses;
pub use optimize::{
    Control, Criterion, DEFAULT_STYLE_LAYERS, DEFAULT_TILE_HALO, EndReason, Init, LayerWeight,
    LossTerms, MIN_TILE_SIDE, Objective, Observer, OriginalColors, Progress, RunError, Settings,
    Solver, StyleTransfer, Stylized, Temporal, TileProgress,
};
pub use plan::{MemoryPlan, Tiling};
pub use vgg::{
    ConvWeights, Convolution, Features, Layer, MIN_INPUT_SIDE, Pooling, Vgg19, VggWeights,
};
pub use video::{FrameChain, FrameStart, Stabilizer};

/// The former name of [`Objective`], kept so that code written against it still compiles.
#[deprecated(note = "renamed `Objective`: it is one scale's whole objective, not a loss module")]
pub type Losses = Objective;

// The host path's per-step timings, for the project's own profile example
// (`examples/profile.rs`, with `Objective::profile`); not part of the supported API.
#[doc(hidden)]
pub use optimize::host_path::StepTime;

/// Re-export of the Burn version this crate is built on, so callers use matching types.
pub use burn;

/// The README's Rust examples, compiled by `cargo test --doc` so that they follow the API.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

/// docs/fast.md's Rust examples, compiled the same way.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/fast.md")]
pub struct FastDocDoctests;
