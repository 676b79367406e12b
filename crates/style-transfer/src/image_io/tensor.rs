//! Images to the network's input tensors and back, in the convention of the loaded weights.

use burn::tensor::{Device, Tensor, TensorData};
use image::{Rgb32FImage, RgbImage};

use crate::error::{Error, Result};
use crate::image_io::convention::InputConvention;

/// Converts an RGB image into a `[1, 3, height, width]` input tensor in `convention`.
pub fn image_to_tensor(
    image: &RgbImage,
    convention: InputConvention,
    device: &Device,
) -> Tensor<4> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let planar = image_to_planar(image, convention);
    Tensor::from_data(TensorData::new(planar, [1, 3, h, w]), device)
}

/// An RGB image as the network's planar input `[3][height][width]` in `convention`, on the host.
pub(crate) fn image_to_planar(image: &RgbImage, convention: InputConvention) -> Vec<f32> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let rgb: Vec<f32> = image.as_raw().iter().map(|&v| v as f32).collect();
    convention.rgb_to_planar(&rgb, h, w)
}

/// Converts a `[1, 3, height, width]` tensor in `convention` back into an RGB image,
/// clamping to 0..=255 and rounding.
pub fn tensor_to_image(tensor: &Tensor<4>, convention: InputConvention) -> Result<RgbImage> {
    let [n, c, h, w] = tensor.dims();
    if n != 1 || c != 3 {
        return Err(Error::Shape {
            expected: "[1, 3, height, width]".into(),
            actual: vec![n, c, h, w],
        });
    }
    let planar = tensor_values(tensor);
    let rgb = convention.planar_to_rgb(&planar, h, w);
    let bytes = rgb
        .iter()
        .map(|v| v.round().clamp(0.0, 255.0) as u8)
        .collect();
    Ok(RgbImage::from_raw(w as u32, h as u32, bytes).expect("buffer has w*h*3 bytes"))
}

/// Converts a `[1, 3, height, width]` tensor in `convention` into float RGB 0-1 (clamped),
/// without rounding to 8 bits.
pub(crate) fn tensor_to_pixels(
    tensor: &Tensor<4>,
    convention: InputConvention,
) -> Result<Rgb32FImage> {
    let [n, c, h, w] = tensor.dims();
    if n != 1 || c != 3 {
        return Err(Error::Shape {
            expected: "[1, 3, height, width]".into(),
            actual: vec![n, c, h, w],
        });
    }
    let rgb = convention.planar_to_rgb(&tensor_values(tensor), h, w);
    let unit = rgb.iter().map(|v| (v / 255.0).clamp(0.0, 1.0)).collect();
    Ok(Rgb32FImage::from_raw(w as u32, h as u32, unit).expect("buffer has w*h*3 values"))
}

/// Copies a tensor's values out as float32 (on any backend).
pub(crate) fn tensor_values<const D: usize>(tensor: &Tensor<D>) -> Vec<f32> {
    tensor
        .to_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("converted to f32")
}
