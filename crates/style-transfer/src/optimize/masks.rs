//! Spatial control (Gatys, Ecker, Bethge, Hertzmann and Shechtman, "Controlling Perceptual
//! Factors in Neural Style Transfer", 2017): gray masks (white 1, black 0, grays between) over
//! the output (where each style applies), over a style image (which part of it supplies the
//! style) and the content-weight map (how strongly the content holds at each pixel); their
//! checks, and their values at each loss layer's resolution.
//!
//! A mask is resized to the image it covers (bilinear), then brought to each block of VGG19
//! by averaging 2x2 cells as many times as the network pools before that block (the "simple
//! downsampling" of the paper, matching the pooling's floor on odd sizes), rather than
//! propagated through the convolutions.

use image::GrayImage;
use image::imageops::{self, FilterType};

use crate::error::{Error, Result};
use crate::vgg::layers::Layer;

/// The relative difference of aspect ratios a mask may have from the image it covers (masks
/// drawn on a resized copy round their sides).
const ASPECT_TOLERANCE: f64 = 0.02;

/// Refuses a mask that fits none of the images it may cover (another aspect ratio than each
/// of `covers`: a name such as `the output` and its size; a mask over the output may have
/// been drawn on the output or on the content photo) or that selects nothing (all black).
/// `what` names the mask for the message (`style mask 2`, `the content-weight map`).
pub(crate) fn check_mask(
    mask: &GrayImage,
    what: &str,
    covers: &[(&str, (u32, u32))],
) -> Result<()> {
    let (mw, mh) = mask.dimensions();
    let fits = |&(_, size): &(&str, (u32, u32))| same_aspect((mw, mh), size);
    if mw == 0 || mh == 0 || !covers.iter().any(fits) {
        let sizes: Vec<String> = (covers.iter())
            .map(|(name, (w, h))| format!("{name} {w}x{h}"))
            .collect();
        return Err(Error::InvalidConfig {
            name: "masks",
            reason: format!(
                "{what} is {mw}x{mh} and {}: a mask must have the aspect ratio of the image it covers; draw it on (a resized copy of) that image",
                sizes.join(" or ")
            ),
        });
    }
    if mask.pixels().all(|p| p.0[0] == 0) {
        return Err(Error::InvalidConfig {
            name: "masks",
            reason: format!(
                "{what} is all black, so it selects nothing; white marks where it applies"
            ),
        });
    }
    Ok(())
}

/// Whether two sizes have the same aspect ratio, within [`ASPECT_TOLERANCE`].
pub(crate) fn same_aspect((aw, ah): (u32, u32), (bw, bh): (u32, u32)) -> bool {
    let ratio = |w: u32, h: u32| w as f64 / h.max(1) as f64;
    (ratio(aw, ah) / ratio(bw, bh) - 1.0).abs() <= ASPECT_TOLERANCE
}

/// A full-size mask's values (0-1), row by row, `height x width`.
#[derive(Clone, Debug)]
pub(crate) struct Mask {
    pub(crate) values: Vec<f32>,
    pub(crate) height: usize,
    pub(crate) width: usize,
}

impl Mask {
    /// `mask` resized to `width` x `height`.
    pub(crate) fn resized(mask: &GrayImage, width: u32, height: u32) -> Self {
        Mask {
            values: mask_values(mask, width, height),
            height: height as usize,
            width: width as usize,
        }
    }

    /// The mask at `layer`'s resolution (see [`at_layer`]).
    pub(crate) fn at_layer(&self, layer: Layer) -> Vec<f32> {
        at_layer(&self.values, self.height, self.width, layer)
    }
}

/// The mask's values (0-1) resized to `width` x `height`, row by row.
fn mask_values(mask: &GrayImage, width: u32, height: u32) -> Vec<f32> {
    let resized;
    let mask = if mask.dimensions() == (width, height) {
        mask
    } else {
        resized = imageops::resize(mask, width, height, FilterType::Triangle);
        &resized
    };
    mask.pixels().map(|p| p.0[0] as f32 / 255.0).collect()
}

/// A full-size mask (`h` x `w` values) at `layer`'s resolution: 2x2 averages, once per
/// pooling before the layer's block (odd last rows and columns dropped, as pooling does).
pub(crate) fn at_layer(mask: &[f32], h: usize, w: usize, layer: Layer) -> Vec<f32> {
    let mut values = mask.to_vec();
    let (mut h, mut w) = (h, w);
    for _ in 1..layer.block() {
        let (h2, w2) = (h / 2, w / 2);
        let mut next = vec![0.0f32; h2 * w2];
        for y in 0..h2 {
            for x in 0..w2 {
                let at = |dy: usize, dx: usize| values[(2 * y + dy) * w + 2 * x + dx];
                next[y * w2 + x] = (at(0, 0) + at(0, 1) + at(1, 0) + at(1, 1)) / 4.0;
            }
        }
        (values, h, w) = (next, h2, w2);
    }
    values
}
