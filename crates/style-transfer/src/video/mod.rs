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

/// What [`Stabilizer`] works out for a frame from the input frames and the previous output
/// alone: the frame's gray picture (for the next frame's flow) and, when there is a previous
/// output to blend, that output moved into the frame with the mask of where the flow holds.
struct Motion {
    gray: Gray,
    moved: Option<(Rgb32FImage, Vec<f32>)>,
}

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
    /// size), in 8 bits as it is written (and as the chain carries it on).
    pub fn next(&mut self, frame: &RgbImage, stylized: Rgb32FImage) -> RgbImage {
        let motion = self.motion(frame);
        self.finish(motion, stylized)
    }

    /// The output for input `frame`, whose own stylized picture `stylize` paints while the
    /// flow is worked out beside it (on the same threads: what needs only the input frames
    /// and the previous output fills the gaps the painting leaves): the same output as
    /// [`Stabilizer::next`]. An error of `stylize` is returned as it is.
    pub fn next_with<E: Send>(
        &mut self,
        frame: &RgbImage,
        stylize: impl FnOnce() -> Result<Rgb32FImage, E> + Send,
    ) -> Result<RgbImage, E> {
        let (stylized, motion) = rayon::join(stylize, || self.motion(frame));
        Ok(self.finish(motion, stylized?))
    }

    /// What `frame` needs before its stylized picture: its gray picture and, after the
    /// first frame, the previous output moved into it with where the flow can be trusted.
    fn motion(&self, frame: &RgbImage) -> Motion {
        let gray = Gray::from_rgb(frame);
        let moved = match &self.previous {
            Some((previous_gray, previous)) if self.strength > 0.0 => {
                let (back, forth) = self.dis.both_ways(&gray, previous_gray);
                let mask = temporal::reliable(&back, &forth);
                Some((temporal::warp(previous, &back), mask))
            }
            _ => None,
        };
        Motion { gray, moved }
    }

    /// The output from a frame's [`Motion`] and its own stylized picture.
    fn finish(&mut self, motion: Motion, stylized: Rgb32FImage) -> RgbImage {
        let out = match motion.moved {
            Some((warped, mask)) => {
                let blended = temporal::blend(&stylized, &warped, &mask, self.strength);
                temporal::restore_contrast(&blended, &stylized, CONTRAST_RADIUS)
            }
            None => stylized,
        };
        // The chain carries the output as it is written (8 bits), so that a run resumed
        // from written frames ([`Stabilizer::restart`]) continues exactly as it would have.
        let written = crate::image_io::rgb8(&out);
        self.previous = Some((motion.gray, temporal::to_float(&written)));
        written
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

/// Earlier outputs moved into the current frame, each with where its flow can be trusted,
/// closest first, made one (Ruder et al.'s `closestFirst`): each pixel from the first that is
/// trusted there (the first's where none is), and the union of the masks.
fn closest_first(moved: Vec<(Rgb32FImage, Vec<f32>)>) -> (Rgb32FImage, Vec<f32>) {
    let mut moved = moved.into_iter();
    let (mut target, mut mask) = moved.next().expect("at least the previous frame");
    let w = target.width();
    for (warped, reliable) in moved {
        for (i, (m, r)) in mask.iter_mut().zip(&reliable).enumerate() {
            if *m == 0.0 && *r > 0.0 {
                *m = 1.0;
                let (x, y) = (i as u32 % w, i as u32 / w);
                target.put_pixel(x, y, *warped.get_pixel(x, y));
            }
        }
    }
    (target, mask)
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
/// With [`FrameChain::with_long_term`], frames further back count too, as Ruder et al.'s
/// long-term consistency with their `closestFirst` weights: each pixel is held to the closest
/// of those frames in which the flow says it is visible, so that what a passing object hid
/// for a frame comes back as it was painted before, not painted anew.
///
/// The chain's weight is that of `L_temporal` ([`crate::losses::TemporalLoss`], a mean over
/// the frame's values) in the total: like the style term (normalized by the layers' sizes),
/// and unlike the content term (a sum), its pull on each pixel shrinks with the frame's
/// size, so one weight keeps its balance with the style at every size.
#[derive(Clone, Debug)]
pub struct FrameChain {
    weight: f64,
    dis: Dis,
    /// How many frames back the chain looks, closest first (always 1 first).
    back: Vec<usize>,
    /// The latest frames and their outputs, the latest first, as many as `back` reaches.
    previous: std::collections::VecDeque<(Gray, RgbImage)>,
}

impl FrameChain {
    /// A chain whose temporal terms have `weight` in the total.
    pub fn new(weight: f64) -> Self {
        FrameChain {
            weight,
            dis: chain_flow(),
            back: vec![1],
            previous: std::collections::VecDeque::new(),
        }
    }

    /// The chain held also to the frames `frames` back (e.g. `[2, 4]`; 1, the previous frame,
    /// always counts and comes first; 0 is ignored): Ruder et al.'s long-term consistency
    /// with their `closestFirst` weights. Each further frame costs two more flows a frame.
    pub fn with_long_term(mut self, frames: &[usize]) -> Self {
        let mut back: Vec<usize> = frames.iter().copied().filter(|&j| j > 1).collect();
        back.push(1);
        back.sort_unstable();
        back.dedup();
        self.back = back;
        self
    }

    /// Where input `frame`'s optimization starts: `None` for the first frame (or after
    /// [`FrameChain::new`]), else the moved earlier outputs and the temporal term. The
    /// frame has the earlier frames' size.
    ///
    /// Each pixel takes the closest earlier output (the previous one first, then those of
    /// [`FrameChain::with_long_term`] in order) in which the flow can be trusted there; where
    /// none can, the frame itself, outside the temporal term.
    pub fn start(&self, frame: &RgbImage) -> Option<FrameStart> {
        if self.previous.is_empty() {
            return None;
        }
        let gray = Gray::from_rgb(frame);
        let (w, h) = frame.dimensions();
        let moved = self
            .back
            .iter()
            .map_while(|&j| self.previous.get(j - 1))
            .map(|(earlier_gray, earlier)| {
                let (back, forth) = self.dis.both_ways(&gray, earlier_gray);
                let reliable = temporal::reliable(&back, &forth);
                (
                    temporal::warp(&temporal::to_float(earlier), &back),
                    reliable,
                )
            })
            .collect();
        let (target, mask) = closest_first(moved);
        let init = temporal::blend(&temporal::to_float(frame), &target, &mask, 1.0);
        let reliable = GrayImage::from_fn(w, h, |x, y| {
            Luma([(mask[(y * w + x) as usize] * 255.0).round() as u8])
        });
        Some(FrameStart {
            init: crate::image_io::rgb8(&init),
            temporal: Temporal::new(crate::image_io::rgb8(&target), reliable, self.weight),
        })
    }

    /// Records input `frame`'s `output`: the next frame starts from it (also how a resumed
    /// video restarts the chain: each of its last written frames in order, as many as
    /// [`FrameChain::reach`]).
    pub fn done(&mut self, frame: &RgbImage, output: &RgbImage) {
        self.previous
            .push_front((Gray::from_rgb(frame), output.clone()));
        self.previous.truncate(self.reach());
    }

    /// How many frames back the chain looks (1 without [`FrameChain::with_long_term`]).
    pub fn reach(&self) -> usize {
        self.back.last().copied().unwrap_or(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn each_pixel_takes_the_closest_earlier_frame_that_is_trusted_there() {
        let plain = |v: f32| Rgb32FImage::from_pixel(4, 1, Rgb([v; 3]));
        let (target, mask) = closest_first(vec![
            (plain(0.1), vec![1.0, 0.0, 0.0, 0.0]),
            (plain(0.2), vec![1.0, 1.0, 0.0, 0.0]),
            (plain(0.4), vec![0.0, 1.0, 1.0, 0.0]),
        ]);
        let values: Vec<f32> = target.pixels().map(|p| p.0[0]).collect();
        // Pixel 0: the previous frame's; 1: two back (the closest trusted); 2: four back;
        // 3: trusted nowhere, the previous frame's, outside the mask.
        assert_eq!(values, [0.1, 0.2, 0.4, 0.1]);
        assert_eq!(mask, [1.0, 1.0, 1.0, 0.0]);
    }

    #[test]
    fn a_long_term_chain_keeps_as_many_frames_as_it_reaches() {
        let frame = RgbImage::from_fn(32, 24, |x, y| Rgb([(x * 7) as u8, (y * 9) as u8, 90]));
        let mut chain = FrameChain::new(1e9).with_long_term(&[4, 2, 0]);
        assert_eq!(
            (chain.back.as_slice(), chain.reach()),
            ([1, 2, 4].as_slice(), 4)
        );
        // Each frame's output a plain colour of its own, so that which one is kept shows.
        let colour = |k: u8| Rgb([10 * k, 200 - 10 * k, 90]);
        for k in 0..6 {
            chain.done(&frame, &RgbImage::from_pixel(32, 24, colour(k)));
        }
        // The last four, the latest first.
        let kept: Vec<Rgb<u8>> = chain
            .previous
            .iter()
            .map(|(_, o)| *o.get_pixel(0, 0))
            .collect();
        assert_eq!(kept, [5, 4, 3, 2].map(colour));
        let start = chain.start(&frame).expect("frames before");
        // The same frame throughout: no motion, every pixel inside the frame trusted, so
        // every pixel starts from (and is held to) the closest earlier output, the latest.
        assert!(start.init.pixels().all(|p| *p == colour(5)));
        assert!(start.temporal.warped.pixels().all(|p| *p == colour(5)));
        assert!(start.temporal.reliable.pixels().all(|p| p.0[0] == 255));
        assert_eq!(FrameChain::new(1e9).reach(), 1);
    }

    #[test]
    fn painting_beside_the_flow_gives_the_same_frames_and_passes_errors_through() {
        // A texture panned by 2 pixels a frame, each frame "stylized" as a recoloured copy.
        let frame = |k: u32| {
            RgbImage::from_fn(48, 32, |x, y| {
                let x = x + 2 * k;
                Rgb([
                    ((x * 37 + y * 11) % 251) as u8,
                    ((x * x + y * 7) % 253) as u8,
                    80,
                ])
            })
        };
        let stylized = |f: &RgbImage| {
            let mut s = temporal::to_float(f);
            s.pixels_mut().for_each(|p| p.0 = [p.0[1], p.0[2], p.0[0]]);
            s
        };
        let (mut one, mut other) = (Stabilizer::new(0.8), Stabilizer::new(0.8));
        for k in 0..4 {
            let f = frame(k);
            let expected = one.next(&f, stylized(&f));
            if k == 2 {
                // A failed painting leaves the chain as it was.
                let failed = other.next_with(&f, || Err::<Rgb32FImage, _>("no painting"));
                assert_eq!(failed.unwrap_err(), "no painting");
            }
            let got = other.next_with(&f, || Ok::<_, &str>(stylized(&f))).unwrap();
            assert_eq!(got, expected, "frame {k}");
        }
    }
}
