//! Image files and pixels: loading with decoding limits and JPEG checks ([`load_image`]),
//! atomic saving ([`save_image`]), target sizes and resizing ([`Size`], [`resize`]), the
//! networks' input conventions ([`crate::InputConvention`]) and conversion to and from their
//! input tensors ([`image_to_tensor`], [`tensor_to_image`]), and keeping the content's
//! colours (`color.rs`).
//!
//! May use: `files` and `error` only. Used by every subsystem.

pub(crate) mod color;
pub(crate) mod convention;
mod decode;
mod save;
mod size;
mod tensor;

pub use color::rgb8;
pub use decode::{
    DecodeLimits, MAX_IMAGE_BYTES, MAX_IMAGE_SIDE, Picture, check_jpeg_header, decode_image_bytes,
    jpeg_is_complete, load_image, load_picture,
};
pub(crate) use save::to_u8;
pub use save::{Depth, save_image, save_pixels};
pub use size::{Size, resize};
pub(crate) use tensor::{image_to_planar, tensor_to_pixels, tensor_values};
pub use tensor::{image_to_tensor, tensor_to_image};
