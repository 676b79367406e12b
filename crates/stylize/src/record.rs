//! `--json`: one JSON object per picture on standard output, the same record in both modes
//! (the fields they share first, then the mode's own).

use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use style_transfer::{Backend, EndReason, LossTerms};

/// One picture's record: what was read, what was written, how and how long.
#[derive(Debug, Serialize)]
pub struct Record {
    /// `optimize` or `fast`.
    pub mode: &'static str,
    /// The photo (`-` for standard input).
    pub input: String,
    /// The file written.
    pub output: String,
    /// The result's width in pixels.
    pub width: u32,
    /// The result's height in pixels.
    pub height: u32,
    /// The backend's name (`flex`, `ndarray`, `wgpu`).
    pub backend: &'static str,
    /// Seconds from the start of the picture's work to its file written, to the millisecond.
    pub seconds: f64,
    /// How the run ended: `done` (every iteration, or the network's pass), `interrupted`
    /// (Ctrl-C; the image so far was saved), `converged` (L-BFGS could make no more progress).
    pub ended: &'static str,
    /// The mode's own fields.
    #[serde(flatten)]
    pub mode_fields: ModeFields,
}

/// The fields of one mode's record.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ModeFields {
    /// `stylize optimize`.
    Optimize {
        /// The style images, in order.
        styles: Vec<String>,
        /// Iterations done at the scale the run ended in.
        iterations: usize,
        /// The scale the run ended in, from 1.
        scale: usize,
        /// The number of scales asked for.
        scales: usize,
        /// The final loss terms.
        losses: Losses,
        /// Why the run ended, in words (`all iterations done`, `stopped`, `converged (...)`
        /// naming L-BFGS's stopping rule).
        reason: String,
    },
    /// `stylize fast`.
    Fast {
        /// The built-in style or blend (`7`, `3:0.5,12:0.5`), `sheet`, or the painting's path.
        style: String,
        /// `--strength`.
        strength: f32,
    },
}

/// The loss terms of an optimized picture (unweighted, and the weighted total).
#[derive(Debug, Serialize)]
pub struct Losses {
    /// `alpha * content + beta * style + tv_weight * tv`.
    pub total: f64,
    /// `L_content`.
    pub content: f64,
    /// `L_style`.
    pub style: f64,
    /// `L_tv`.
    pub tv: f64,
}

impl From<&LossTerms> for Losses {
    fn from(terms: &LossTerms) -> Self {
        Losses {
            total: terms.total,
            content: terms.content,
            style: terms.style,
            tv: terms.tv,
        }
    }
}

impl Record {
    /// A record with the shared fields filled in from these values.
    pub fn new(
        (input, output): (&Path, &Path),
        (width, height): (u32, u32),
        backend: Backend,
        elapsed: Duration,
        ended: &'static str,
        mode_fields: ModeFields,
    ) -> Self {
        Record {
            mode: match mode_fields {
                ModeFields::Optimize { .. } => "optimize",
                ModeFields::Fast { .. } => "fast",
            },
            input: input.display().to_string(),
            output: output.display().to_string(),
            width,
            height,
            backend: backend.name(),
            seconds: (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            ended,
            mode_fields,
        }
    }

    /// Prints the record as one line on standard output.
    pub fn print(&self) {
        println!(
            "{}",
            serde_json::to_string(self).expect("a record of strings and numbers serializes")
        );
    }
}

/// [`Record::ended`] for an optimization that ended for `reason` (Ctrl-C stops it, so
/// `Stopped` is `interrupted`).
pub fn ended(reason: EndReason) -> &'static str {
    match reason {
        EndReason::Done => "done",
        EndReason::Stopped => "interrupted",
        EndReason::Converged(_) => "converged",
        _ => "other",
    }
}
