//! VGG19 itself: its layer names ([`Layer`]), its weights read from any VGG19 ONNX export
//! ([`VggWeights`], with the input convention they expect) and the network in Burn
//! ([`Vgg19`]), whose 3x3 convolutions can be computed several ways ([`Convolution`]).
//!
//! May use: `onnx` (reading the file), `image_io` (the input convention, tensor values), `backend`
//! (which devices have float16),
//! `error`. Used by `optimize` (the features the losses compare) and `fetch` (writing the
//! converted file).

pub(crate) mod convolution;
pub(crate) mod layers;
pub(crate) mod model;
pub(crate) mod weights;

pub use convolution::Convolution;
pub use layers::Layer;
pub use model::{Features, MIN_INPUT_SIDE, Pooling, Vgg19};
pub use weights::{ConvWeights, VggWeights};
