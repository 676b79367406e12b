//! VGG19 itself: its layer names ([`Layer`]), its weights read from any VGG19 ONNX export
//! ([`VggWeights`]), the network in Burn ([`Vgg19`]) and the input convention of the weights
//! ([`InputConvention`]).
//!
//! May use: `onnx` (reading the file), `error`, and `image_io`'s tensor helpers. Used by
//! `optimize` (the features the losses compare) and `fetch` (writing the converted file).

pub(crate) mod convention;
pub(crate) mod layers;
pub(crate) mod model;
pub(crate) mod weights;

pub use convention::InputConvention;
pub use layers::Layer;
pub use model::{Features, MIN_INPUT_SIDE, Pooling, Vgg19};
pub use weights::{ConvWeights, VggWeights};
