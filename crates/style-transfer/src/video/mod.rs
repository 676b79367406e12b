//! Video: what makes stylized frames consistent over time, on host memory for every backend.
//!
//! - [`flow`]: dense optical flow (Dense Inverse Search), forward and backward;
//! - [`temporal`]: moving a frame by a flow, where a flow can be trusted (the
//!   forward-backward check and motion boundaries), blending, and the measures (warping
//!   error, sharpness);
//! - [`Stabilizer`]: the one-pass networks' outputs made consistent frame by frame: the
//!   previous output, moved by the flow, blended into the current one where the flow holds;
//! - [`FrameChain`]: the optimization's frames chained (Ruder et al. 2016): each frame starts
//!   from the previous output moved by the flow, with a temporal term towards it.
//!
//! Decoding and encoding are the `stylize video` command's (through the ffmpeg program).
//!
//! May use: `image_io`, and `optimize`'s [`Temporal`] (the term it sets up).

pub mod flow;
mod refine;
pub mod temporal;

use image::{GrayImage, Luma, Rgb32FImage, RgbImage};

use crate::optimize::Temporal;
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
                let (back, forth) = self.dis.both_ways(&gray, &previous_gray);
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

/// The optimization's flow: searched down to the full size (`finest` 0) where the networks'
/// stabilizer stops at half size and doubles. An optimized frame takes seconds, the full-size
/// flow milliseconds more (18 ms against 11 for a 192x108 pair), and its error against the
/// true motion is a fifth (0.057 px against 0.288 on the benchmark clip at 192x108):
/// chained frames are held to the previous output moved by this flow, so its error is most of
/// what is left of their warping error (0.23x frames optimized on their own at half size,
/// 0.14x at full size; docs/video.md).
fn chain_flow() -> Dis {
    Dis {
        finest: 0,
        ..Dis::default()
    }
}

/// Where a video frame's optimization starts ([`FrameChain::start`]).
#[derive(Clone, Debug)]
pub struct FrameStart {
    /// The starting image: the previous output moved by the flow where the flow can be
    /// trusted, the frame itself elsewhere (disocclusions, motion boundaries, the edge).
    pub init: RgbImage,
    /// The temporal term towards the moved previous output, for
    /// [`crate::Settings::with_temporal`].
    pub temporal: Temporal,
}

/// Chains the optimized frames of a video (Ruder, Dosovitskiy and Brox 2016): each frame after
/// the first starts from the previous output moved into it by the optical flow between the
/// two input frames, and its objective gains a temporal term towards that picture on the
/// pixels where the flow can be trusted ([`temporal::reliable`]).
///
/// The chain's weight is that of `L_temporal` ([`crate::losses::TemporalLoss`], a mean over
/// the frame's values) in the total: like the style term (normalized by the layers' sizes),
/// and unlike the content term (a sum), its pull on each pixel shrinks with the frame's
/// size, so one weight keeps its balance with the style at every size.
#[derive(Clone, Debug)]
pub struct FrameChain {
    weight: f64,
    dis: Dis,
    previous: Option<(Gray, RgbImage)>,
}

impl FrameChain {
    /// A chain whose temporal terms have `weight` in the total.
    pub fn new(weight: f64) -> Self {
        FrameChain {
            weight,
            dis: chain_flow(),
            previous: None,
        }
    }

    /// Where input `frame`'s optimization starts: `None` for the first frame (or after
    /// [`FrameChain::new`]), else the moved previous output and the temporal term. The
    /// frame has the previous frame's size.
    pub fn start(&self, frame: &RgbImage) -> Option<FrameStart> {
        let (previous_gray, previous) = self.previous.as_ref()?;
        let gray = Gray::from_rgb(frame);
        let (back, forth) = self.dis.both_ways(&gray, previous_gray);
        let mask = temporal::reliable(&back, &forth);
        let warped = temporal::warp(&temporal::to_float(previous), &back);
        let init = temporal::blend(&temporal::to_float(frame), &warped, &mask, 1.0);
        let (w, h) = frame.dimensions();
        let reliable = GrayImage::from_fn(w, h, |x, y| {
            Luma([(mask[(y * w + x) as usize] * 255.0).round() as u8])
        });
        Some(FrameStart {
            init: crate::image_io::rgb8(&init),
            temporal: Temporal::new(crate::image_io::rgb8(&warped), reliable, self.weight),
        })
    }

    /// Records input `frame`'s `output`: the next frame starts from it (also how a resumed
    /// video restarts the chain from its last written frame).
    pub fn done(&mut self, frame: &RgbImage, output: &RgbImage) {
        self.previous = Some((Gray::from_rgb(frame), output.clone()));
    }
}
