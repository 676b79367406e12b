//! The stepping loops of one scale: Adam (burn-optim's, on the device) or L-BFGS
//! ([`crate::optimize::lbfgs`], on the host with the host path, on the device otherwise), the projection of the image into pixel range, and the
//! tracker that keeps the best and the last finite image and calls the observer.

use std::time::Instant;

use burn::optim::{AdamConfig, Optimizer as _};
use burn::tensor::{Device, Tensor, TensorData};
use image::RgbImage;

use crate::error::{Error, Result};
use crate::image_io::convention::InputConvention;
use crate::image_io::{image_to_tensor, tensor_to_image, tensor_to_pixels, tensor_values};
use crate::optimize::lbfgs::{DeviceSpace, HostSpace, Lbfgs, LbfgsConfig, Space};
use crate::optimize::objective::Objective;
use crate::optimize::progress::{
    Control, EndReason, Halt, Observer, Progress, RunError, Stylized, TileProgress, TileWatch,
};
use crate::optimize::settings::Solver;
use crate::optimize::terms::LossTerms;
use crate::vgg::model::Vgg19;

/// Which scale of how many a loop runs, and when the run started.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Level {
    /// The scale, from 1.
    pub(crate) scale: usize,
    /// The number of scales.
    pub(crate) scales: usize,
    /// When the run started.
    pub(crate) start: Instant,
    /// The tiles each evaluation at this scale runs in (1: the whole picture).
    pub(crate) tiles: usize,
}

/// What a scale optimizes against: the objective, evaluated with the network on the device.
#[derive(Clone, Copy)]
pub(crate) struct Problem<'a> {
    pub(crate) objective: &'a Objective,
    pub(crate) vgg: &'a Vgg19,
    pub(crate) device: &'a Device,
}

/// Optimizes the image from `init` for `iterations` with `solver` against `problem`,
/// calling `observer` after every iteration.
pub(crate) fn solve(
    solver: Solver,
    iterations: usize,
    problem: Problem<'_>,
    init: &RgbImage,
    level: Level,
    observer: &mut dyn Observer,
) -> Result<Stylized, RunError> {
    let Problem {
        objective: losses,
        vgg,
        device,
    } = problem;
    let convention = vgg.convention();
    let (w, h) = init.dimensions();
    let x = image_to_tensor(init, convention, device);
    let projector = Projector::new(
        convention.channel_range(),
        [1, 3, h as usize, w as usize],
        device,
    );
    let mut tracker = Tracker {
        evaluations: 0,
        best: None,
        last_finite: None,
        start: level.start,
        observer,
        iterations,
        scale: (level.scale, level.scales),
        tiles: level.tiles,
        convention,
    };
    let evaluate = |x: Tensor<4>, iteration: usize, watch: &mut TileWatch<'_>| {
        losses.evaluate_watched(vgg, x, iteration, watch)
    };
    match solver {
        Solver::Adam { lr } => {
            let adam = AdamConfig::new().with_epsilon(1e-8).build();
            let mut x = projector.project(x);
            let mut state = None;
            for iteration in 1..=iterations {
                let (terms, grad) = match evaluate(x.clone(), iteration, &mut |p| tracker.tile(p)) {
                    Ok(value) => value,
                    Err(halt) => return tracker.halted(halt, iteration - 1),
                };
                tracker.record(&x, &terms);
                let (next, next_state) = adam.step(lr, x, grad, state);
                (x, state) = (projector.project(next), next_state);
                if tracker.observe(iteration, &terms, &x) == Control::Stop {
                    return tracker.finish(iteration, EndReason::Stopped);
                }
            }
            // Score the final image too: the last step may have improved it.
            let terms = match losses.terms_watched(vgg, x.clone(), &mut |p| tracker.tile(p)) {
                Ok(terms) => terms,
                Err(halt) => return tracker.halted(halt, iterations),
            };
            tracker.record(&x, &terms);
            tracker.finish(iterations, EndReason::Done)
        }
        Solver::Lbfgs { history } => {
            let config = LbfgsConfig::with_history(history);
            let shape = [1, 3, h as usize, w as usize];
            let n = 3 * h as usize * w as usize;
            let x = projector.project(x);
            let mut run = LbfgsRun {
                iterations,
                evaluate: &evaluate,
                projector: &projector,
                tracker: &mut tracker,
            };
            let (done, ended) = if losses.uses_winograd() {
                // The host path evaluates on the host: L-BFGS's vectors stay there.
                let to_tensor =
                    |v: &Vec<f32>| Tensor::from_data(TensorData::new(v.clone(), shape), device);
                let from_tensor = |t: Tensor<4>| tensor_values(&t);
                let lbfgs = Lbfgs::new(config, HostSpace::default());
                run.run(lbfgs, tensor_values(&x), (to_tensor, from_tensor))?
            } else {
                // Burn's path (GPUs): the point, gradients and history stay on the device.
                let to_tensor = |v: &Tensor<1>| v.clone().reshape(shape);
                let from_tensor = |t: Tensor<4>| t.reshape([n]);
                let lbfgs = Lbfgs::new(config, DeviceSpace::new(device));
                run.run(lbfgs, x.reshape([n]), (to_tensor, from_tensor))?
            };
            tracker.finish(done, ended)
        }
    }
}

/// What an L-BFGS loop needs besides its own state, the same for either [`Space`].
struct LbfgsRun<'a, 't, E> {
    iterations: usize,
    evaluate: &'a E,
    projector: &'a Projector,
    tracker: &'a mut Tracker<'t>,
}

impl<E> LbfgsRun<'_, '_, E>
where
    E: Fn(
        Tensor<4>,
        usize,
        &mut TileWatch<'_>,
    ) -> std::result::Result<(LossTerms, Tensor<4>), Halt>,
{
    /// L-BFGS iterations from `x` until `iterations` are done, the observer stops or a
    /// stopping rule fires; `convert` turns L-BFGS's vectors into images and gradients back.
    /// Returns the iterations done and why the loop ended.
    fn run<S: Space>(
        &mut self,
        mut lbfgs: Lbfgs<S>,
        mut x: S::Vector,
        convert: (
            impl Fn(&S::Vector) -> Tensor<4>,
            impl Fn(Tensor<4>) -> S::Vector,
        ),
    ) -> Result<(usize, EndReason), RunError> {
        let LbfgsRun {
            iterations,
            evaluate,
            projector,
            ref mut tracker,
        } = *self;
        let (to_tensor, from_tensor) = convert;
        for iteration in 1..=iterations {
            // Every point the line search evaluates; the accepted one is reported.
            let mut evaluated: Vec<(LossTerms, Tensor<4>)> = Vec::new();
            let mut eval = |v: &S::Vector| -> std::result::Result<(f64, S::Vector), Halt> {
                let x = projector.project(to_tensor(v));
                let (terms, grad) = evaluate(x.clone(), iteration, &mut |p| tracker.tile(p))?;
                let total = terms.total;
                tracker.record(&x, &terms);
                evaluated.push((terms, x));
                Ok((total, from_tensor(grad)))
            };
            let step = match lbfgs.step(&mut x, &mut eval) {
                Ok(step) => step,
                // Stopped between two tiles: the iterations before this one stand.
                Err(Halt::Stopped) => return Ok((iteration - 1, EndReason::Stopped)),
                Err(Halt::Failed(e)) => return Err(tracker.fail(e)),
            };
            x = from_tensor(projector.project(to_tensor(&x)));
            let accepted = evaluated
                .iter()
                .rposition(|(t, _)| t.total == step.loss)
                .or(evaluated.len().checked_sub(1));
            let converged = step.converged.map(EndReason::Converged);
            let Some((terms, x)) = accepted.map(|i| evaluated.swap_remove(i)) else {
                // Converged without a new evaluation: nothing more to gain.
                return Ok((iteration - 1, converged.unwrap_or(EndReason::Done)));
            };
            if tracker.observe(iteration, &terms, &x) == Control::Stop {
                return Ok((iteration, EndReason::Stopped));
            }
            if let Some(ended) = converged {
                return Ok((iteration, ended));
            }
        }
        Ok((iterations, EndReason::Done))
    }
}

/// Projects images into the valid pixel range of each channel.
struct Projector {
    lo: Tensor<4>,
    hi: Tensor<4>,
}

impl Projector {
    fn new(range: [(f32, f32); 3], shape: [usize; 4], device: &Device) -> Self {
        let plane = shape[2] * shape[3];
        let fill = |pick: fn((f32, f32)) -> f32| {
            let data: Vec<f32> = range
                .iter()
                .flat_map(|r| std::iter::repeat_n(pick(*r), plane))
                .collect();
            Tensor::from_data(TensorData::new(data, shape), device)
        };
        Projector {
            lo: fill(|r| r.0),
            hi: fill(|r| r.1),
        }
    }

    fn project(&self, x: Tensor<4>) -> Tensor<4> {
        x.max_pair(self.lo.clone()).min_pair(self.hi.clone())
    }
}

/// Best and last finite images, and the observer.
struct Tracker<'a> {
    /// Evaluations of the objective so far.
    evaluations: usize,
    best: Option<(f64, Tensor<4>, LossTerms)>,
    last_finite: Option<Tensor<4>>,
    start: Instant,
    observer: &'a mut dyn Observer,
    iterations: usize,
    scale: (usize, usize),
    tiles: usize,
    convention: InputConvention,
}

impl Tracker<'_> {
    /// Notes an evaluated point with finite losses.
    fn record(&mut self, x: &Tensor<4>, terms: &LossTerms) {
        self.evaluations += 1;
        self.last_finite = Some(x.clone());
        if self
            .best
            .as_ref()
            .is_none_or(|(best, _, _)| terms.total < *best)
        {
            self.best = Some((terms.total, x.clone(), terms.clone()));
        }
    }

    fn observe(&mut self, iteration: usize, terms: &LossTerms, x: &Tensor<4>) -> Control {
        let image = if self.observer.wants_image(iteration) {
            tensor_to_image(x, self.convention).ok()
        } else {
            None
        };
        let progress = Progress {
            iteration,
            iterations: self.iterations,
            scale: self.scale.0,
            scales: self.scale.1,
            tiles: self.tiles,
            losses: terms,
            elapsed: self.start.elapsed(),
            image: image.as_ref(),
        };
        self.observer.observe(&progress)
    }

    /// Tells the observer that a tile is done.
    fn tile(&mut self, progress: &TileProgress) -> Control {
        self.observer.tile(progress)
    }

    /// The run after an evaluation that did not return, with `iterations` done before it:
    /// stopped between two tiles, or failed.
    fn halted(mut self, halt: Halt, iterations: usize) -> Result<Stylized, RunError> {
        match halt {
            Halt::Stopped => self.finish(iterations, EndReason::Stopped),
            Halt::Failed(e) => Err(self.fail(e)),
        }
    }

    /// A failed run, carrying the last image whose losses were finite.
    fn fail(&mut self, error: Error) -> RunError {
        let image = self
            .last_finite
            .take()
            .and_then(|x| tensor_to_image(&x, self.convention).ok());
        RunError {
            error: Box::new(error),
            image,
        }
    }

    fn finish(self, iterations: usize, ended: EndReason) -> Result<Stylized, RunError> {
        let (_, x, losses) = self.best.ok_or_else(|| {
            RunError::from(match ended {
                EndReason::Stopped => Error::Stopped,
                _ => Error::InvalidConfig {
                    name: "iterations",
                    reason: "the run ended before any evaluation".into(),
                },
            })
        })?;
        let image = tensor_to_image(&x, self.convention)?;
        let pixels = tensor_to_pixels(&x, self.convention)?;
        Ok(Stylized {
            image,
            pixels,
            losses,
            iterations,
            evaluations: self.evaluations,
            scale: self.scale.0,
            ended,
        })
    }
}
