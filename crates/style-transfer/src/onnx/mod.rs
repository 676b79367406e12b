//! Everything that parses untrusted ONNX files: the subset of the protobuf schema the crate
//! decodes ([`proto`]) and the checked readers of tensors, attributes and quantization
//! parameters ([`read`]). Fuzzed (docs/fuzzing.md).
//!
//! May use: `files` and `error` only. Used by `vgg::weights` and the feed-forward networks' parameter
//! readers.

// The ONNX messages the weights reader decodes. Public (as `style_transfer::onnx_proto`) only
// so that the project's own tests can build ONNX files; not part of the supported API.
pub mod proto;
pub(crate) mod read;
