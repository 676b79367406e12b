//! The run's observer: a progress bar on a terminal, plain lines otherwise, intermediate
//! images with `--save-every`, and Ctrl-C, which stops the run at the next iteration (in
//! tiles, at the next tile).

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use style_transfer::{Control, LossTerms, Observer, Progress, TileProgress};

use crate::output::Output;

/// How a run's progress is shown on standard error: not at all, as a bar, or as lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressView {
    /// Nothing (`--quiet`).
    Quiet,
    /// A progress bar (stderr is a terminal).
    Bar,
    /// One plain line every this many iterations (stderr is not a terminal).
    Lines(usize),
}

impl ProgressView {
    /// The view for these flags and this stderr.
    pub fn choose(quiet: bool, print_every: usize) -> Self {
        if quiet {
            ProgressView::Quiet
        } else if std::io::stderr().is_terminal() {
            ProgressView::Bar
        } else {
            ProgressView::Lines(print_every)
        }
    }

    /// Prints a message line unless quiet.
    pub fn say(self, message: &str) {
        if self != ProgressView::Quiet {
            eprintln!("{message}");
        }
    }
}

/// Observes a run.
pub struct Reporter<'a> {
    view: ProgressView,
    bar: Option<ProgressBar>,
    save_every: Option<usize>,
    output: &'a Output,
    interrupted: Arc<AtomicBool>,
    /// Iterations finished over all scales.
    done: usize,
    total: usize,
    /// Iterations per scale and number of scales, to weigh iterations by their cost.
    iterations: usize,
    scales: usize,
    /// Work done, in units of one iteration at the output size (a level half the size costs
    /// a quarter), so that the time left of a multi-scale run is not underestimated.
    work_done: f64,
    /// The bar's message after the last iteration (tiles are reported after it).
    message: String,
    /// When the last line was printed (lines view: tiles are reported every 30 s).
    last_line: Instant,
}

impl<'a> Reporter<'a> {
    /// A reporter for `iterations` per scale over `scales` scales.
    pub fn new(
        view: ProgressView,
        (iterations, scales): (usize, usize),
        save_every: Option<usize>,
        output: &'a Output,
        interrupted: Arc<AtomicBool>,
    ) -> Self {
        let total = iterations * scales;
        let bar = (view == ProgressView::Bar).then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30.cyan/blue} {pos}/{len} {msg} [{elapsed_precise}]",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_message("computing targets");
            bar
        });
        Reporter {
            view,
            bar,
            save_every,
            output,
            interrupted,
            done: 0,
            total,
            iterations,
            scales,
            work_done: 0.0,
            message: String::new(),
            last_line: Instant::now(),
        }
    }

    /// Removes the progress bar (before the last line is printed).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// Prints a line above the bar, or plainly.
    fn say(&self, message: &str) {
        match &self.bar {
            Some(bar) => bar.println(message),
            None => self.view.say(message),
        }
    }
}

fn summary(losses: &LossTerms) -> String {
    let mut s = format!(
        "total {:.4e} (content {:.3e}, style {:.3e}",
        losses.total, losses.content, losses.style
    );
    if losses.tv > 0.0 {
        s.push_str(&format!(", tv {:.3e}", losses.tv));
    }
    s.push(')');
    s
}

/// `1:02:03` or `2:03`.
pub fn clock(duration: Duration) -> String {
    let s = duration.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

impl Observer for Reporter<'_> {
    fn wants_image(&mut self, _iteration: usize) -> bool {
        self.save_every
            .is_some_and(|n| (self.done + 1).is_multiple_of(n))
    }

    fn observe(&mut self, p: &Progress<'_>) -> Control {
        self.done += 1;
        let per_iteration = p.elapsed.as_secs_f64() / self.done as f64;
        let cost = |scale: usize| 0.25f64.powi((self.scales - scale.min(self.scales)) as i32);
        self.work_done += cost(p.scale);
        let total_work = self.iterations as f64 * (1..=self.scales).map(cost).sum::<f64>();
        let left = p.elapsed.as_secs_f64() / self.work_done * (total_work - self.work_done);
        let left = clock(Duration::from_secs_f64(left.max(0.0)));
        if let Some(image) = p.image {
            let path = self.output.intermediate(self.done);
            match self.output.save(image, &path) {
                Ok(()) => {}
                Err(e) => self.say(&format!("warning: intermediate image not saved: {e}")),
            }
        }
        let mut scale = if p.scales > 1 {
            format!(" scale {}/{}", p.scale, p.scales)
        } else {
            String::new()
        };
        if p.tiles > 1 {
            scale.push_str(&format!(" in {} tiles", p.tiles));
        }
        match self.view {
            ProgressView::Bar => {
                if let Some(bar) = &self.bar {
                    bar.set_position(self.done as u64);
                    self.message = format!(
                        "{}{scale} {per_iteration:.2} s/it, {left} left",
                        summary(p.losses)
                    );
                    bar.set_message(self.message.clone());
                }
            }
            ProgressView::Lines(every) => {
                if self.done.is_multiple_of(every) || self.done == self.total {
                    self.last_line = Instant::now();
                    eprintln!(
                        "iteration {}/{}{scale}: {}, {per_iteration:.2} s/it, {left} left",
                        self.done,
                        self.total,
                        summary(p.losses),
                    );
                }
            }
            ProgressView::Quiet => {}
        }
        if self.interrupted.load(Ordering::SeqCst) {
            self.say(&format!(
                "interrupted at iteration {}: saving the best image so far",
                self.done
            ));
            return Control::Stop;
        }
        Control::Continue
    }

    /// Ctrl-C between two tiles ends the run without waiting for the iteration; the tiles
    /// show on the bar after the last iteration's losses (in a log, a line every 30 s).
    fn tile(&mut self, p: &TileProgress) -> Control {
        let what = match p.pass {
            1 => "Grams",
            _ => "gradient",
        };
        let tile = format!("tile {}/{} ({what})", p.tile, p.tiles);
        match (&self.bar, self.view) {
            (Some(bar), _) => bar.set_message(match self.message.is_empty() {
                true => format!("iteration {}: {tile}", self.done + 1),
                false => format!("{} | {tile}", self.message),
            }),
            (None, ProgressView::Lines(_)) if self.last_line.elapsed().as_secs() >= 30 => {
                self.last_line = Instant::now();
                eprintln!("iteration {}/{}: {tile}", self.done + 1, self.total);
            }
            _ => {}
        }
        if self.interrupted.load(Ordering::SeqCst) {
            self.say(&format!(
                "interrupted during iteration {}: saving the best image of the iterations before it",
                self.done + 1
            ));
            return Control::Stop;
        }
        Control::Continue
    }
}
