//! What a run tells its caller: [`Progress`] after every iteration (to an [`Observer`], which
//! answers with a [`Control`]), and at the end a [`Stylized`] result, which says why the run
//! ended ([`EndReason`]), or a [`RunError`].

use std::fmt;
use std::time::Duration;

use image::{Rgb32FImage, RgbImage};

use crate::error::Error;
use crate::optimize::lbfgs::Criterion;
use crate::optimize::terms::LossTerms;

/// What an observer sees after each iteration.
#[derive(Debug)]
#[non_exhaustive]
pub struct Progress<'a> {
    /// The iteration just finished, from 1.
    pub iteration: usize,
    /// The number of iterations asked for (per scale).
    pub iterations: usize,
    /// The current scale, from 1 (coarsest) to `scales` (the output size).
    pub scale: usize,
    /// The number of scales of a multi-scale run (1 otherwise).
    pub scales: usize,
    /// How many tiles each evaluation at this scale runs in, at most (1: the whole picture
    /// at once; see [`crate::Settings::with_tiling`]).
    pub tiles: usize,
    /// The loss terms at the current image.
    pub losses: &'a LossTerms,
    /// Time since the run started (targets included).
    pub elapsed: Duration,
    /// The current image, when the observer asked for it through [`Observer::wants_image`].
    pub image: Option<&'a RgbImage>,
}

/// Whether to go on after an iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Control {
    /// Go on.
    Continue,
    /// End the whole run now, at whichever scale, and return the best image so far (at the
    /// output size).
    Stop,
}

/// What an observer sees after each tile of an evaluation in tiles (see
/// [`crate::Settings::with_tiling`]): at sizes where one evaluation takes minutes, this is
/// where a run can be stopped without waiting for the iteration to end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TileProgress {
    /// The iteration the evaluation belongs to, from 1 (L-BFGS's line search may evaluate
    /// several times in one iteration; 0 is the final scoring after the last iteration).
    pub iteration: usize,
    /// The pass: 1 sums the Gram matrices tile by tile (forward only), 2 runs each tile
    /// backward with the whole picture's loss (evaluations with a gradient only).
    pub pass: usize,
    /// Tiles finished in this pass, from 1.
    pub tile: usize,
    /// Tiles in this pass.
    pub tiles: usize,
}

/// What an evaluation in tiles tells after each tile (the solver passes
/// [`Observer::tile`]).
pub(crate) type TileWatch<'a> = dyn FnMut(&TileProgress) -> Control + 'a;

/// A watch that always goes on (evaluations outside a run).
pub(crate) fn go_on(_: &TileProgress) -> Control {
    Control::Continue
}

impl TileProgress {
    /// Tells `watch` that this tile is done: [`Halt::Stopped`] when it answers
    /// [`Control::Stop`].
    pub(crate) fn tell(self, watch: &mut TileWatch<'_>) -> std::result::Result<(), Halt> {
        match watch(&self) {
            Control::Continue => Ok(()),
            Control::Stop => Err(Halt::Stopped),
        }
    }

    /// What both tile paths call after each tile of an evaluation of `tiles` tiles in
    /// `iteration`: `(pass, tile)` told to `watch`.
    pub(crate) fn teller<'w, 'a: 'w>(
        watch: &'w mut TileWatch<'a>,
        iteration: usize,
        tiles: usize,
    ) -> impl FnMut(usize, usize) -> std::result::Result<(), Halt> + 'w {
        move |pass, tile| {
            (TileProgress {
                iteration,
                pass,
                tile,
                tiles,
            })
            .tell(watch)
        }
    }
}

/// Why an evaluation returned no value.
#[derive(Debug)]
pub(crate) enum Halt {
    /// It failed.
    Failed(Error),
    /// The watch answered [`Control::Stop`] between two tiles.
    Stopped,
}

impl From<Error> for Halt {
    fn from(error: Error) -> Self {
        Halt::Failed(error)
    }
}

impl Halt {
    /// The error; a stop is [`Error::Stopped`].
    pub(crate) fn error(self) -> Error {
        match self {
            Halt::Failed(error) => error,
            Halt::Stopped => Error::Stopped,
        }
    }
}

/// Receives progress after each iteration and may stop the run.
pub trait Observer {
    /// Whether [`Progress::image`] should hold the current image at `iteration` (converting it
    /// costs a copy from the device). Default: never.
    fn wants_image(&mut self, iteration: usize) -> bool {
        let _ = iteration;
        false
    }
    /// Called after each iteration.
    fn observe(&mut self, progress: &Progress<'_>) -> Control;
    /// Called after each tile of an evaluation in tiles; [`Control::Stop`] abandons the
    /// evaluation and ends the run with the best image of the iterations finished before it
    /// (a run stopped during its first evaluation has none: [`Error::Stopped`], unless a
    /// coarser scale finished). Default: go on.
    fn tile(&mut self, progress: &TileProgress) -> Control {
        let _ = progress;
        Control::Continue
    }
}

impl<F: FnMut(&Progress<'_>) -> Control> Observer for F {
    fn observe(&mut self, progress: &Progress<'_>) -> Control {
        self(progress)
    }
}

/// The result of a run.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Stylized {
    /// The best image found (lowest total loss) at the scale the run ended in, at the output
    /// size (a run stopped at a coarser scale returns that scale's best image upsampled).
    pub image: RgbImage,
    /// The same image before rounding to 8 bits (RGB values 0-1), for 16-bit output
    /// ([`crate::image_io::save_pixels`]); a run stopped at a coarser scale has it from the
    /// upsampled 8-bit image.
    pub pixels: Rgb32FImage,
    /// Its loss terms, as the solver computed them at that scale (before rounding to 8
    /// bits).
    pub losses: LossTerms,
    /// Iterations done at the scale the run ended in.
    pub iterations: usize,
    /// Evaluations of the objective at the scale the run ended in: one (loss and gradient)
    /// per Adam iteration plus the final scoring (loss only); L-BFGS's line searches
    /// included.
    pub evaluations: usize,
    /// The scale the run ended in, from 1 (the last, `scales`, unless stopped earlier).
    pub scale: usize,
    /// Why the run ended.
    pub ended: EndReason,
}

/// Why a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndReason {
    /// Every iteration asked for ran, at every scale.
    Done,
    /// The observer returned [`Control::Stop`]; no later iteration or scale ran.
    Stopped,
    /// L-BFGS could make no further progress at the last scale before its last iteration
    /// (at a coarser scale, convergence only ends that scale); the criterion says which
    /// stopping rule fired.
    Converged(Criterion),
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndReason::Done => f.write_str("all iterations done"),
            EndReason::Stopped => f.write_str("stopped"),
            EndReason::Converged(criterion) => write!(f, "converged ({criterion})"),
        }
    }
}

/// A failed run, with the last image whose loss was finite (when there was one).
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
#[non_exhaustive]
pub struct RunError {
    /// What went wrong (boxed to keep `Result<Stylized, RunError>` small).
    #[source]
    pub error: Box<Error>,
    /// The last image with finite losses, if any iteration got that far.
    pub image: Option<RgbImage>,
}

impl From<Error> for RunError {
    fn from(error: Error) -> Self {
        RunError {
            error: Box::new(error),
            image: None,
        }
    }
}
