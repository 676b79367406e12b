//! Neural style transfer (Gatys, Ecker and Bethge) in pure Rust on the Burn framework.
//!
//! The crate builds VGG19's convolutional features in Burn from weights read out of an
//! ONNX file at run time, and runs on Burn's `flex` or `ndarray` CPU backends or its `wgpu`
//! GPU backend, each behind a cargo feature of the same name ([`Backend`]).
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

mod backend;
mod color;
mod convention;
mod engine;
mod error;
mod fast_path;
pub mod fetch;
pub mod image_io;
mod layers;
mod lbfgs;
pub mod losses;
mod model;
mod objective;
pub mod onnx_proto;
mod progress;
mod settings;
mod solver;
mod terms;
mod weights;
mod winograd;

pub use backend::Backend;
pub use convention::InputConvention;
pub use engine::StyleTransfer;
pub use error::{Error, Result, WeightsProblem};
pub use fast_path::StepTime;
pub use layers::Layer;
pub use lbfgs::{
    Criterion, DeviceSpace, HostSpace, Lbfgs, LbfgsConfig, LbfgsStep, Objective, Space,
};
pub use model::{Features, MIN_INPUT_SIDE, Pooling, Vgg19};
pub use objective::Losses;
pub use progress::{Control, EndReason, Observer, Progress, RunError, Stylized};
pub use settings::{DEFAULT_STYLE_LAYERS, Init, Optimizer, OriginalColors, Settings};
pub use terms::LossTerms;
pub use weights::{ConvWeights, VggWeights};

/// Re-export of the Burn version this crate is built on, so callers use matching types.
pub use burn;
