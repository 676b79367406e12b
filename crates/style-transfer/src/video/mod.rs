//! Video: what makes stylized frames consistent over time, on host memory for every backend.
//!
//! - [`flow`]: dense optical flow (Dense Inverse Search), forward and backward;
//! - [`temporal`]: moving a frame by a flow, where a flow can be trusted (the
//!   forward-backward check and motion boundaries), blending, and the measures (warping
//!   error, sharpness);
//! - [`Stabilizer`]: the one-pass networks' outputs made consistent frame by frame: the
//!   previous output, moved by the flow, blended into the current one where the flow holds.
//!
//! Decoding and encoding are the `stylize video` command's (through the ffmpeg program).
//!
//! May use: `image_io` only.

pub mod flow;
pub mod temporal;

use image::{Rgb32FImage, RgbImage};

use crate::video::flow::{Dis, Gray};

/// The neighbourhood [`temporal::restore_contrast`] measures contrast over: 1 pixel each way
/// (3x3; measured against 9x9 on the benchmark clip, docs/video.md).
const CONTRAST_RADIUS: usize = 1;

/// Makes a sequence of stylized frames consistent: each output is the frame's own stylized
/// picture blended with the previous output moved into it by the optical flow between the
/// two input frames, on the pixels where the flow can be trusted
/// ([`temporal::reliable`]); elsewhere (disocclusions, motion boundaries, the frame's edge)
/// the frame's own picture.
#[derive(Clone, Debug)]
pub struct Stabilizer {
    strength: f32,
    dis: Dis,
    previous: Option<(Gray, Rgb32FImage)>,
}

impl Stabilizer {
    /// A stabilizer blending `strength` (0-1) of the previous output in: 0 gives per-frame
    /// output.
    pub fn new(strength: f32) -> Self {
        Stabilizer {
            strength: strength.clamp(0.0, 1.0),
            dis: Dis::default(),
            previous: None,
        }
    }

    /// The output for input `frame` whose own stylized picture is `stylized` (the same
    /// size).
    pub fn next(&mut self, frame: &RgbImage, stylized: Rgb32FImage) -> Rgb32FImage {
        let gray = Gray::from_rgb(frame);
        let out = match self.previous.take() {
            Some((previous_gray, previous)) if self.strength > 0.0 => {
                let back = self.dis.flow(&gray, &previous_gray);
                let forth = self.dis.flow(&previous_gray, &gray);
                let mask = temporal::reliable(&back, &forth);
                let warped = temporal::warp(&previous, &back);
                let blended = temporal::blend(&stylized, &warped, &mask, self.strength);
                temporal::restore_contrast(&blended, &stylized, CONTRAST_RADIUS)
            }
            _ => stylized,
        };
        // The chain carries the output as it is written (8 bits), so that a run resumed
        // from written frames ([`Stabilizer::restart`]) continues exactly as it would have.
        let written = crate::image_io::rgb8(&out);
        self.previous = Some((gray, temporal::to_float(&written)));
        out
    }

    /// Restarts the chain from an earlier frame and its output (a resumed video).
    pub fn restart(&mut self, frame: &RgbImage, output: &RgbImage) {
        self.previous = Some((Gray::from_rgb(frame), temporal::to_float(output)));
    }
}
