//! `stylize optimize` (also `stylize CONTENT STYLE...`): the optimization of a picture's
//! pixels through VGG19 (the library's `StyleTransfer`), in its steps: check everything cheap
//! first (flags, the batch and its outputs, the style images and masks), then for each photo
//! load it and check the settings against its size, pick the starting image, read the
//! weights (once), optimize, save and report.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use image::{GrayImage, RgbImage};
use style_transfer::burn::tensor::Device;
use style_transfer::fetch::{self, FastNetwork};
use style_transfer::image_io::{self, DecodeLimits, Picture, Size};
use style_transfer::{
    Backend, Error, FastStyle, Init, MIN_INPUT_SIDE, OriginalColors, Pooling, RunError, Settings,
    Solver, StyleTransfer, Stylized, Tiling, VggWeights,
};

use crate::batch::{self, Batch, Job, Painted};
use crate::cli::{ColorsArg, EngineArgs, InitArg, OptimizeArgs, OptimizerArg, PoolingArg, Spill};
use crate::failure::{Failure, Kind};
use crate::output::{FinalResult, Output, is_stdout};
use crate::plan;
use crate::progress::{ProgressView, Reporter, clock};
use crate::record::{self, ModeFields, Record};

/// The output size when `--size` is not given: 512 pixels on the longest side.
pub const DEFAULT_SIZE: Size = Size::Longest(512);

/// What every picture of a run shares, loaded and checked before the first: the style images
/// with their blend weights, the `--init` image, and the settings (masks included).
struct Shared {
    /// The style images with their blend weights.
    styles: Vec<(RgbImage, f32)>,
    /// The `--init` image, when one was given.
    init: Option<RgbImage>,
    settings: Settings,
}

/// Runs `stylize optimize`: plans the batch (one photo or many, this process's part), loads
/// what the pictures share, then paints each.
pub fn run(args: OptimizeArgs) -> Result<ExitCode, Failure> {
    check_flags(&args)?;
    let (photos, styles) = args.photos_and_styles()?;
    let blend = blend_weights(&args, styles.len())?;
    let read = inputs(&args, &styles);
    let Some(batch) = Batch::start(&photos, &args.common, &read)? else {
        return Ok(ExitCode::SUCCESS);
    };
    let mut shared = load(&args, &styles, blend)?;
    let backend = args.common.backend()?;
    if backend == Backend::Wgpu {
        // The host path exists on the CPU backends only: plan for Burn's (tiles run on both).
        shared.settings = shared.settings.with_winograd(false);
    }
    let mut painter = Painter {
        args: &args,
        styles: &styles,
        read: &read,
        shared,
        view: ProgressView::choose(args.common.quiet, args.print_every),
        backend,
        device: backend.device().map_err(Failure::runtime)?,
        engine: None,
        fast: None,
        interrupted: batch::stop_signal(),
        into_folder: batch.into_folder,
        count: (0, batch.jobs.len()),
    };
    batch.run(|job| painter.paint(job))
}

/// Paints the pictures of a run one after the other, with one engine: the weights are read
/// (or fetched) once, when the first picture has been read and checked.
struct Painter<'a> {
    args: &'a OptimizeArgs,
    styles: &'a [PathBuf],
    /// Every file the run reads besides the photos, so that no output replaces one.
    read: &'a [&'a Path],
    shared: Shared,
    view: ProgressView,
    backend: Backend,
    device: Device,
    engine: Option<StyleTransfer>,
    /// The feed-forward network of `--init fast`, once loaded.
    fast: Option<FastStyle>,
    /// Set by Ctrl-C or SIGTERM.
    interrupted: Arc<AtomicBool>,
    into_folder: bool,
    /// Pictures begun, of how many.
    count: (usize, usize),
}

impl Painter<'_> {
    /// Paints one picture: reads and checks it against the settings, picks its starting
    /// image, optimizes, then saves and reports it ([`finish`]).
    fn paint(&mut self, job: &Job) -> Result<Painted, Failure> {
        if self.interrupted.load(Ordering::SeqCst) {
            return Ok(Painted::Interrupted);
        }
        let started = Instant::now();
        self.count.0 += 1;
        let args = self.args;
        let mut read = self.read.to_vec();
        read.push(&job.input);
        let output = Output::new(&job.output, &read)?;
        let Picture {
            image: content,
            icc_profile,
        } = picture(&job.input, args.common.limits())?;
        let (width, height) = content.dimensions();
        let settings = &self.shared.settings;
        settings.validate(width, height).map_err(Failure::input)?;
        let plan = settings.plan_on(&self.device, width, height).map_err(|e| {
            let mut failure = Failure::input(e);
            failure.message = format!("{}: {}", job.input.display(), failure.message);
            failure
        })?;
        if let Some(planned) = plan::show(&plan, job, &args.common)? {
            return Ok(planned);
        }
        let size = settings.output_size(width, height);
        let init = self.start(&content, size)?;
        // This picture's settings: its plan's tiles (and L-BFGS history), its start.
        let settings = (self.shared.settings.clone())
            .planned(&plan)
            .with_init(init);
        let engine = match self.engine.take() {
            Some(engine) => engine.with_settings(settings).map_err(Failure::runtime)?,
            None => {
                let view = self.view;
                let weights = args.engine.weights.as_deref();
                engine(weights, settings, &self.device, &|msg| view.say(msg))?
            }
        };
        let engine = self.engine.insert(engine);
        let (n, of) = self.count;
        self.view.say(&format!(
            "{}stylizing {} ({}x{}) with {} style image(s) on {}, {} iterations of {}",
            if self.into_folder {
                format!("[{n}/{of}] ")
            } else {
                String::new()
            },
            job.input.display(),
            size.0,
            size.1,
            self.shared.styles.len(),
            self.backend,
            args.engine.iterations * args.engine.scales as usize,
            match args.engine.optimizer {
                OptimizerArg::Adam => "Adam",
                OptimizerArg::Lbfgs => "L-BFGS",
            }
        ));
        let mut reporter = Reporter::new(
            self.view,
            (args.engine.iterations, args.engine.scales as usize),
            args.save_every,
            &output,
            self.interrupted.clone(),
        );
        let styles: Vec<(&RgbImage, f32)> =
            self.shared.styles.iter().map(|(s, w)| (s, *w)).collect();
        let result = engine.run(&content, &styles, &mut reporter);
        reporter.finish();
        let interrupted = self.interrupted.load(Ordering::SeqCst);
        if interrupted && self.into_folder {
            // Not finished: not written, so that the same command again redoes it.
            return Ok(Painted::Interrupted);
        }
        let how = Finish {
            input: &job.input,
            styles: self.styles,
            backend: self.backend,
            started,
            interrupted,
            keep_failed: !self.into_folder,
            icc_profile: icc_profile.as_deref(),
        };
        finish(result, args, &output, how)
    }

    /// The starting image of a picture of `size`: the `--init` picture, noise, the content,
    /// or one pass of the feed-forward network at that size (fetched on first use).
    fn start(&mut self, content: &RgbImage, (width, height): (u32, u32)) -> Result<Init, Failure> {
        Ok(match (&self.args.init, &self.shared.init) {
            (_, Some(image)) => Init::Image(image.clone()),
            (InitArg::Noise, None) => Init::Noise,
            (InitArg::Fast(choice), None) => {
                let fast = match self.fast.take() {
                    Some(fast) => fast,
                    None => {
                        let view = self.view;
                        let model =
                            fetch::fast_network_with_progress(FastNetwork::BuiltIn, &mut |msg| {
                                view.say(msg)
                            })
                            .map_err(Failure::input)?;
                        FastStyle::from_onnx(&model, &self.device).map_err(Failure::input)?
                    }
                };
                let fast = self
                    .fast
                    .insert(fast.with_size(Some(Size::Exact { width, height })));
                Init::Image(fast.stylize(content, choice).map_err(Failure::runtime)?)
            }
            _ => Init::Content,
        })
    }
}

/// The flags checked against each other, before any file is read.
fn check_flags(args: &OptimizeArgs) -> Result<(), Failure> {
    args.common.check()?;
    if args.save_every.is_some() && is_stdout(&args.common.output) {
        return Err(Failure::usage(
            "--save-every writes files beside the output; give an output file, not `-`",
        ));
    }
    Ok(())
}

/// Every file the run reads besides the photos, so that no output is one of them.
fn inputs<'a>(args: &'a OptimizeArgs, styles: &'a [PathBuf]) -> Vec<&'a Path> {
    let mut inputs: Vec<&Path> = styles.iter().map(PathBuf::as_path).collect();
    if let InitArg::Image(path) = &args.init {
        inputs.push(path);
    }
    inputs.extend(args.engine.weights.as_deref());
    inputs.extend(
        (args.style_masks.iter().chain(&args.style_image_masks))
            .filter(|p| !is_none(p))
            .map(PathBuf::as_path),
    );
    inputs.extend(args.content_weight_map.as_deref());
    inputs
}

/// Loads what every picture shares, the style images, masks and `--init` image, and checks
/// the settings that do not depend on a photo, before the weights are read or fetched (each
/// photo is checked against them in turn: an output below VGG19's 16 px, too many scales,
/// masks of another shape).
fn load(args: &OptimizeArgs, styles: &[PathBuf], blend: Vec<f32>) -> Result<Shared, Failure> {
    let settings = settings(args)
        .with_style_masks(masks(&args.style_masks, styles.len(), "--style-mask")?)
        .with_style_image_masks(masks(
            &args.style_image_masks,
            styles.len(),
            "--style-image-mask",
        )?)
        .with_content_weight_map(args.content_weight_map.as_deref().map(gray).transpose()?);
    let images = styles
        .iter()
        .map(|p| picture(p, args.common.limits()).map(|p| p.image))
        .collect::<Result<Vec<_>, _>>()?;
    let init = match &args.init {
        InitArg::Image(path) => Some(picture(path, args.common.limits())?.image),
        _ => None,
    };
    settings
        .validate_style_masks(&images.iter().collect::<Vec<_>>())
        .map_err(Failure::input)?;
    Ok(Shared {
        styles: images.into_iter().zip(blend).collect(),
        init,
        settings,
    })
}

/// The run's settings from the flags (the starting image is added once it is known).
fn settings(args: &OptimizeArgs) -> Settings {
    let settings = engine_settings(&args.engine);
    let settings = match &args.tile_spill {
        Some(Spill(folder)) => settings.with_tile_spill(folder.clone()),
        None => settings,
    };
    settings
        .with_size(args.common.size.unwrap_or(DEFAULT_SIZE))
        .with_tile_halo(args.tile_halo.unwrap_or(style_transfer::DEFAULT_TILE_HALO))
        .with_tile_shift(args.tile_shift)
        .with_tiling(match args.common.tile {
            // A number is rows for stylize fast, a tile's side here.
            Some(Tiling::Rows(side)) => Tiling::Tiles(side),
            other => other.unwrap_or_default(),
        })
        .with_original_colors(args.common.original_colors.map(|c| match c {
            ColorsArg::Luminance => OriginalColors::Luminance,
            ColorsArg::Histogram => OriginalColors::Histogram,
        }))
}

/// The settings of the optimization's own flags (solver, weights, layers, scales), shared
/// with `stylize video --optimize`.
pub fn engine_settings(args: &EngineArgs) -> Settings {
    let pooling = match args.pooling {
        PoolingArg::Max => Pooling::Max,
        PoolingArg::Avg => Pooling::Average,
    };
    let solver = match args.optimizer {
        OptimizerArg::Adam => Solver::Adam { lr: args.lr },
        OptimizerArg::Lbfgs => Solver::Lbfgs {
            history: args.history,
        },
    };
    let style_layers = args
        .style_layers
        .weighted(1.0 / args.style_layers.0.len() as f32);
    Settings::new()
        .with_pooling(pooling)
        .with_winograd(!args.no_winograd)
        .with_iterations(args.iterations)
        .with_solver(solver)
        .with_content_weight(args.content_weight)
        .with_style_weight(args.style_weight)
        .with_tv_weight(args.tv_weight)
        .with_content_layers(&args.content_layers.weighted(1.0))
        .with_style_layers(&style_layers)
        .with_style_scale(args.style_scale)
        .with_seed(args.seed)
        .with_scales(args.scales as usize)
}

/// The engine on `device`, with the `weights` file or the fetched VGG19 weights (`say`
/// shows the download's progress).
pub fn engine(
    weights: Option<&Path>,
    settings: Settings,
    device: &Device,
    say: &dyn Fn(&str),
) -> Result<StyleTransfer, Failure> {
    let path = match weights {
        Some(path) => path.to_path_buf(),
        None => fetch::fetch_weights(&fetch::cache_dir(), &mut |msg| say(msg))
            .map_err(Failure::input)?,
    };
    let weights = VggWeights::from_onnx(&path).map_err(Failure::input)?;
    // The engine holds its own copy of the network; the file's is dropped on return, so it
    // does not add to the peak.
    Ok(StyleTransfer::from_settings(&weights, settings, device))
}

/// How a picture's run is saved and reported by [`finish`].
struct Finish<'a> {
    input: &'a Path,
    styles: &'a [PathBuf],
    backend: Backend,
    started: Instant,
    /// Ctrl-C or SIGTERM stopped the run (one picture: its image so far is saved).
    interrupted: bool,
    /// Save the last finite image of a failed run (one picture; a batch writes nothing for
    /// it, so that the same command again retries it).
    keep_failed: bool,
    /// The photo's colour profile, embedded in the result.
    icc_profile: Option<&'a [u8]>,
}

/// Saves the result (or the last finite image of a failed run) and reports it: a `saved`
/// line on stderr, or the `--json` record on stdout.
fn finish(
    result: Result<Stylized, RunError>,
    args: &OptimizeArgs,
    output: &Output,
    how: Finish<'_>,
) -> Result<Painted, Failure> {
    let stylized = match result {
        Ok(stylized) => stylized,
        Err(run_error) if how.interrupted && matches!(*run_error.error, Error::Stopped) => {
            // Ctrl-C during the first evaluation (in tiles): no image to save.
            return Err(Failure {
                kind: Kind::Interrupted,
                message: format!(
                    "{}: interrupted before the first iteration finished: nothing saved",
                    how.input.display()
                ),
            });
        }
        Err(run_error) => {
            let mut failure = Failure::runtime(*run_error.error);
            failure.message = format!("{}: {}", how.input.display(), failure.message);
            if let Some(image) = run_error.image.filter(|_| how.keep_failed) {
                output.save(&image, output.path())?;
                failure.message.push_str(&format!(
                    "\nthe last image with finite losses was saved to {}",
                    output.path().display()
                ));
            }
            return Err(failure);
        }
    };
    output.save_result(&FinalResult {
        pixels: &stylized.pixels,
        depth: args.common.depth_for(output.path()),
        icc_profile: how.icc_profile,
    })?;
    if args.common.json {
        Record::new(
            (how.input, output.path()),
            stylized.image.dimensions(),
            how.backend,
            how.started.elapsed(),
            record::ended(stylized.ended),
            ModeFields::Optimize {
                styles: how.styles.iter().map(|p| p.display().to_string()).collect(),
                iterations: stylized.iterations,
                scale: stylized.scale,
                scales: args.engine.scales as usize,
                losses: (&stylized.losses).into(),
                reason: stylized.ended.to_string(),
            },
        )
        .print();
    } else if !args.common.quiet {
        // e.g. "saved out.png (512x384, 500 iterations, total loss 1.2e11; all iterations
        // done) in 4:10"; the reason is also "stopped" (Ctrl-C) or "converged (...)", naming
        // L-BFGS's stopping rule.
        eprintln!(
            "{} {} ({}x{}, {} iterations{}, total loss {:.4e}; {}) in {}",
            if how.interrupted {
                "interrupted: saved"
            } else {
                "saved"
            },
            output.path().display(),
            stylized.image.width(),
            stylized.image.height(),
            stylized.iterations,
            if args.engine.scales > 1 {
                format!(" at scale {} of {}", stylized.scale, args.engine.scales)
            } else {
                String::new()
            },
            stylized.losses.total,
            stylized.ended,
            clock(how.started.elapsed())
        );
    }
    Ok(match how.interrupted {
        true => Painted::Interrupted,
        false => Painted::Written,
    })
}

/// One blend weight per style image: equal by default, else as given (sum above 0).
fn blend_weights(args: &OptimizeArgs, styles: usize) -> Result<Vec<f32>, Failure> {
    let Some(weights) = &args.style_blend_weights else {
        return Ok(vec![1.0; styles]);
    };
    if weights.len() != styles {
        return Err(Failure::usage(format!(
            "--style-blend-weights has {} value(s) for {styles} style image(s); give one per style",
            weights.len(),
        )));
    }
    if weights.iter().sum::<f64>() <= 0.0 {
        return Err(Failure::usage(
            "--style-blend-weights are all 0; give at least one weight above 0",
        ));
    }
    Ok(weights.iter().map(|&w| w as f32).collect())
}

/// Whether a mask flag's value is the word `none` (a file of that name is `./none`).
fn is_none(path: &Path) -> bool {
    path.as_os_str() == "none"
}

/// The masks given with `flag` (`none` for a style without one): none at all, or one per
/// style image.
fn masks(paths: &[PathBuf], styles: usize, flag: &str) -> Result<Vec<Option<GrayImage>>, Failure> {
    if !paths.is_empty() && paths.len() != styles {
        return Err(Failure::usage(format!(
            "{flag} is given {} time(s) for {styles} style image(s); give it once per style image, in order (`none` for a style without a mask)",
            paths.len()
        )));
    }
    paths
        .iter()
        .map(|p| match is_none(p) {
            true => Ok(None),
            false => gray(p).map(Some),
        })
        .collect()
}

/// Loads a mask as gray levels, the file named in errors.
fn gray(path: &Path) -> Result<GrayImage, Failure> {
    let image = image_io::load_image(path).map_err(Failure::input)?;
    Ok(image::DynamicImage::ImageRgb8(image).to_luma8())
}

/// Loads an input picture under `limits`; too-small pictures are refused, with the file named.
fn picture(path: &Path, limits: DecodeLimits) -> Result<Picture, Failure> {
    let picture = image_io::load_picture(path, limits).map_err(Failure::input)?;
    let image = &picture.image;
    let (w, h) = image.dimensions();
    if (w.min(h) as usize) < MIN_INPUT_SIDE {
        return Err(Failure {
            kind: Kind::Input,
            message: format!(
                "{}: image of {w}x{h} is too small; VGG19 needs at least {MIN_INPUT_SIDE}x{MIN_INPUT_SIDE} pixels",
                path.display()
            ),
        });
    }
    Ok(picture)
}
