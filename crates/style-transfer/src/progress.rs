//! What a run tells its caller: [`Progress`] after every iteration (to an [`Observer`], which
//! answers with a [`Control`]), and at the end a [`Stylized`] result or a [`RunError`].

use std::time::Duration;

use image::RgbImage;

use crate::error::Error;
use crate::terms::LossTerms;

/// What an observer sees after each iteration.
#[derive(Debug)]
pub struct Progress<'a> {
    /// The iteration just finished, from 1.
    pub iteration: usize,
    /// The number of iterations asked for (per scale).
    pub iterations: usize,
    /// The current scale, from 1 (coarsest) to `scales` (the output size).
    pub scale: usize,
    /// The number of scales of a multi-scale run (1 otherwise).
    pub scales: usize,
    /// The loss terms at the current image.
    pub losses: &'a LossTerms,
    /// Time since the run started (targets included).
    pub elapsed: Duration,
    /// The current image, when the observer asked for it through [`Observer::wants_image`].
    pub image: Option<&'a RgbImage>,
}

/// Whether to go on after an iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Go on.
    Continue,
    /// Stop now and return the best image so far.
    Stop,
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
}

impl<F: FnMut(&Progress<'_>) -> Control> Observer for F {
    fn observe(&mut self, progress: &Progress<'_>) -> Control {
        self(progress)
    }
}

/// The result of a run.
#[derive(Clone, Debug)]
pub struct Stylized {
    /// The best image found (lowest total loss), as saved.
    pub image: RgbImage,
    /// Its loss terms, as the optimizer computed them (before rounding to 8 bits).
    pub losses: LossTerms,
    /// Iterations done.
    pub iterations: usize,
    /// Whether the observer stopped the run (or L-BFGS converged) before the last iteration.
    pub stopped_early: bool,
}

/// A failed run, with the last image whose loss was finite (when there was one).
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
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
