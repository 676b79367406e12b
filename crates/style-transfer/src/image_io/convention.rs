//! Input conventions: how RGB pixels become the network's input, which depends on the weights.
//!
//! - [`InputConvention::Caffe`]: the original VGG19 (Simonyan and Zisserman, via Caffe and
//!   Keras): channels in BGR order, values 0-255, per-channel mean (B, G, R) =
//!   (103.939, 116.779, 123.68) subtracted, no scaling.
//! - [`InputConvention::Torchvision`]: torchvision's retrained VGG19: RGB, values 0-1,
//!   ImageNet mean (0.485, 0.456, 0.406) subtracted and divided by std (0.229, 0.224, 0.225).

use std::fmt;
use std::str::FromStr;

use crate::error::WeightsProblem;

/// How 8-bit RGB pixels map to the network's input tensor. It travels with the weights: the
/// converted ONNX file records it in its metadata (key [`InputConvention::METADATA_KEY`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InputConvention {
    /// BGR, 0-255, Caffe mean subtracted (the original VGG19 weights).
    Caffe,
    /// RGB, 0-1, ImageNet mean and std normalization (torchvision's weights).
    Torchvision,
}

impl InputConvention {
    /// The ONNX `metadata_props` key that records the convention.
    pub const METADATA_KEY: &'static str = "style_transfer.input_convention";

    /// The convention's name as stored in metadata: `caffe` or `torchvision`.
    pub fn name(self) -> &'static str {
        match self {
            InputConvention::Caffe => "caffe",
            InputConvention::Torchvision => "torchvision",
        }
    }

    /// Maps an RGB value in 0..=255 of RGB channel `c` (0 = R) to the network's value, and gives
    /// the tensor channel it goes to.
    fn affine(self, rgb_channel: usize) -> (usize, f32, f32) {
        // value = pixel * scale + offset
        match self {
            InputConvention::Caffe => {
                const MEAN_RGB: [f32; 3] = [123.68, 116.779, 103.939];
                (2 - rgb_channel, 1.0, -MEAN_RGB[rgb_channel])
            }
            InputConvention::Torchvision => {
                const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
                const STD: [f32; 3] = [0.229, 0.224, 0.225];
                let scale = 1.0 / (255.0 * STD[rgb_channel]);
                (rgb_channel, scale, -MEAN[rgb_channel] / STD[rgb_channel])
            }
        }
    }

    /// The scale of each tensor channel: one 0-255 RGB step is this many network units.
    pub(crate) fn planar_scales(self) -> [f32; 3] {
        let mut scales = [0.0; 3];
        for c in 0..3 {
            let (dst, scale, _) = self.affine(c);
            scales[dst] = scale;
        }
        scales
    }

    /// Converts interleaved RGB pixels (`height * width * 3` values in 0..=255, row-major) into
    /// a planar `[3, height, width]` buffer in this convention.
    pub fn rgb_to_planar(self, rgb: &[f32], height: usize, width: usize) -> Vec<f32> {
        let plane = height * width;
        debug_assert_eq!(rgb.len(), plane * 3);
        let mut out = vec![0.0; plane * 3];
        for c in 0..3 {
            let (dst, scale, offset) = self.affine(c);
            let dst = &mut out[dst * plane..(dst + 1) * plane];
            for (o, px) in dst.iter_mut().zip(rgb.chunks_exact(3)) {
                *o = px[c] * scale + offset;
            }
        }
        out
    }

    /// Inverse of [`InputConvention::rgb_to_planar`]: planar network values back to interleaved
    /// RGB in 0..=255 (not clamped, not rounded).
    pub fn planar_to_rgb(self, planar: &[f32], height: usize, width: usize) -> Vec<f32> {
        let plane = height * width;
        debug_assert_eq!(planar.len(), plane * 3);
        let mut out = vec![0.0; plane * 3];
        for c in 0..3 {
            let (src, scale, offset) = self.affine(c);
            let src = &planar[src * plane..(src + 1) * plane];
            for (px, v) in out.chunks_exact_mut(3).zip(src) {
                px[c] = (v - offset) / scale;
            }
        }
        out
    }

    /// The valid range `(min, max)` of each **tensor** channel, i.e. the images of pixel
    /// values 0 and 255; the optimizer projects the image into it.
    pub fn channel_range(self) -> [(f32, f32); 3] {
        let mut ranges = [(0.0, 0.0); 3];
        for c in 0..3 {
            let (dst, scale, offset) = self.affine(c);
            ranges[dst] = (offset, 255.0 * scale + offset);
        }
        ranges
    }
}

impl fmt::Display for InputConvention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for InputConvention {
    type Err = WeightsProblem;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "caffe" => Ok(InputConvention::Caffe),
            "torchvision" | "pytorch" | "imagenet" => Ok(InputConvention::Torchvision),
            _ => Err(WeightsProblem::UnknownConvention(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caffe_matches_reference_preprocessing() {
        // One pixel (R, G, B) = (200, 100, 50): Caffe gives B-103.939, G-116.779, R-123.68.
        let planar = InputConvention::Caffe.rgb_to_planar(&[200.0, 100.0, 50.0], 1, 1);
        assert_eq!(
            planar,
            vec![50.0 - 103.939, 100.0 - 116.779, 200.0 - 123.68]
        );
    }

    #[test]
    fn round_trip_and_ranges() {
        let rgb: Vec<f32> = (0..12).map(|i| (i * 21) as f32).collect();
        for conv in [InputConvention::Caffe, InputConvention::Torchvision] {
            let back = conv.planar_to_rgb(&conv.rgb_to_planar(&rgb, 2, 2), 2, 2);
            for (a, b) in rgb.iter().zip(&back) {
                assert!((a - b).abs() < 1e-3, "{conv}: {a} vs {b}");
            }
            let white = conv.rgb_to_planar(&[255.0; 3], 1, 1);
            let black = conv.rgb_to_planar(&[0.0; 3], 1, 1);
            for (c, (lo, hi)) in conv.channel_range().iter().enumerate() {
                assert!((lo - black[c]).abs() < 1e-5 && (hi - white[c]).abs() < 1e-4);
            }
        }
    }
}
