//! `stylize optimize` (also `stylize CONTENT STYLE...`): the optimization of a picture's
//! pixels through VGG19 (the library's `StyleTransfer`), in its steps: check everything cheap
//! first (flags, output path, then the settings against the content's size), load the
//! pictures, pick the starting image, read the weights, optimize, save and report.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use image::{GrayImage, RgbImage};
use style_transfer::burn::tensor::Device;
use style_transfer::fetch::{self, FastNetwork};
use style_transfer::image_io::{self, Size};
use style_transfer::{
    Backend, FastStyle, Init, MIN_INPUT_SIDE, OriginalColors, Pooling, RunError, Settings, Solver,
    StyleTransfer, Stylized, VggWeights,
};

use crate::cli::{ColorsArg, InitArg, OptimizeArgs, OptimizerArg, PoolingArg};
use crate::failure::{Failure, Kind};
use crate::output::{Output, is_stdout};
use crate::progress::{ProgressView, Reporter, clock};
use crate::record::{self, ModeFields, Record};

/// The output size when `--size` is not given: 512 pixels on the longest side.
pub const DEFAULT_SIZE: Size = Size::Longest(512);

/// The pictures of a run, loaded and checked against its settings.
struct Pictures {
    content: RgbImage,
    /// The style images with their blend weights.
    styles: Vec<(RgbImage, f32)>,
    /// The `--init` image, when one was given.
    init: Option<RgbImage>,
    /// The output's width and height.
    size: (u32, u32),
}

/// Runs `stylize optimize`.
pub fn run(args: OptimizeArgs) -> Result<ExitCode, Failure> {
    let started = Instant::now();
    check_flags(&args)?;
    let blend = blend_weights(&args)?;
    let output = Output::new(&args.common.output, &inputs(&args))?;
    let view = ProgressView::choose(args.common.quiet, args.print_every);
    let (mut pictures, settings) = load(&args, blend)?;
    let backend = args.common.backend()?;
    let device = backend.device().map_err(Failure::runtime)?;
    let init = start(&args, &mut pictures, &device, view)?;
    let engine = engine(&args, settings.with_init(init), &device, view)?;

    let interrupted = Arc::new(AtomicBool::new(false));
    stop_on_ctrl_c(interrupted.clone());
    view.say(&format!(
        "stylizing {} ({}x{}) with {} style image(s) on {backend}, {} iterations of {}",
        args.content.display(),
        pictures.size.0,
        pictures.size.1,
        pictures.styles.len(),
        args.iterations * args.scales as usize,
        match args.optimizer {
            OptimizerArg::Adam => "Adam",
            OptimizerArg::Lbfgs => "L-BFGS",
        }
    ));
    let mut reporter = Reporter::new(
        view,
        (args.iterations, args.scales as usize),
        args.save_every,
        &output,
        interrupted.clone(),
    );
    let styles: Vec<(&RgbImage, f32)> = pictures.styles.iter().map(|(s, w)| (s, *w)).collect();
    let result = engine.run(&pictures.content, &styles, &mut reporter);
    reporter.finish();
    let interrupted = interrupted.load(Ordering::SeqCst);
    finish(result, &args, &output, (backend, started, interrupted))
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

/// Every file the run reads, so that the output is none of them.
fn inputs(args: &OptimizeArgs) -> Vec<&Path> {
    let mut inputs: Vec<&Path> = vec![&args.content];
    inputs.extend(args.styles.iter().map(PathBuf::as_path));
    if let InitArg::Image(path) = &args.init {
        inputs.push(path);
    }
    inputs.extend(args.weights.as_deref());
    inputs.extend(
        (args.style_masks.iter().chain(&args.style_image_masks))
            .filter(|p| !is_none(p))
            .map(PathBuf::as_path),
    );
    inputs.extend(args.content_weight_map.as_deref());
    inputs
}

/// Loads the pictures and masks and checks every setting against the content's size before
/// the weights are read or fetched (an output below VGG19's 16 px, too many scales, style
/// images too small, masks of another shape or all black).
fn load(args: &OptimizeArgs, blend: Vec<f32>) -> Result<(Pictures, Settings), Failure> {
    let content = picture(&args.content)?;
    let settings = settings(args)
        .with_style_masks(masks(&args.style_masks, args.styles.len(), "--style-mask")?)
        .with_style_image_masks(masks(
            &args.style_image_masks,
            args.styles.len(),
            "--style-image-mask",
        )?)
        .with_content_weight_map(args.content_weight_map.as_deref().map(gray).transpose()?);
    settings
        .validate(content.width(), content.height())
        .map_err(Failure::input)?;
    let size = settings.output_size(content.width(), content.height());
    let styles = args
        .styles
        .iter()
        .map(|p| picture(p))
        .collect::<Result<Vec<_>, _>>()?;
    let init = match &args.init {
        InitArg::Image(path) => Some(picture(path)?),
        _ => None,
    };
    settings
        .validate_style_masks(&styles.iter().collect::<Vec<_>>())
        .map_err(Failure::input)?;
    let styles = styles.into_iter().zip(blend).collect();
    let pictures = Pictures {
        content,
        styles,
        init,
        size,
    };
    Ok((pictures, settings))
}

/// The run's settings from the flags (the starting image is added once it is known).
fn settings(args: &OptimizeArgs) -> Settings {
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
        .with_size(args.common.size.unwrap_or(DEFAULT_SIZE))
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
        .with_original_colors(args.common.original_colors.map(|c| match c {
            ColorsArg::Luminance => OriginalColors::Luminance,
            ColorsArg::Histogram => OriginalColors::Histogram,
        }))
}

/// The starting image: the `--init` picture (taken from `pictures`), noise, the content, or
/// one pass of the feed-forward network at the output size (fetched on first use).
fn start(
    args: &OptimizeArgs,
    pictures: &mut Pictures,
    device: &Device,
    view: ProgressView,
) -> Result<Init, Failure> {
    Ok(match (&args.init, pictures.init.take()) {
        (_, Some(image)) => Init::Image(image),
        (InitArg::Noise, None) => Init::Noise,
        (InitArg::Fast(choice), None) => {
            let model =
                fetch::fast_network_with_progress(FastNetwork::BuiltIn, &mut |msg| view.say(msg))
                    .map_err(Failure::input)?;
            let (width, height) = pictures.size;
            let fast = FastStyle::from_onnx(&model, device)
                .map_err(Failure::input)?
                .with_size(Some(Size::Exact { width, height }));
            Init::Image(
                fast.stylize(&pictures.content, choice)
                    .map_err(Failure::runtime)?,
            )
        }
        _ => Init::Content,
    })
}

/// The engine on `device`, with the `--weights` file or the fetched VGG19 weights.
fn engine(
    args: &OptimizeArgs,
    settings: Settings,
    device: &Device,
    view: ProgressView,
) -> Result<StyleTransfer, Failure> {
    let path = match &args.weights {
        Some(path) => path.clone(),
        None => fetch::fetch_weights(&fetch::cache_dir(), &mut |msg| view.say(msg))
            .map_err(Failure::input)?,
    };
    let weights = VggWeights::from_onnx(&path).map_err(Failure::input)?;
    // The engine holds its own copy of the network; the file's is dropped on return, so it
    // does not add to the peak.
    Ok(StyleTransfer::from_settings(&weights, settings, device))
}

/// First Ctrl-C: set `interrupted`, so that the run stops at the next iteration and saves.
/// Second: leave at once.
fn stop_on_ctrl_c(interrupted: Arc<AtomicBool>) {
    let _ = ctrlc::set_handler(move || {
        if interrupted.swap(true, Ordering::SeqCst) {
            std::process::exit(Kind::Interrupted.code().into());
        }
    });
}

/// Saves the result (or the last finite image of a failed run) and reports it: a `saved`
/// line on stderr, or the `--json` record on stdout.
fn finish(
    result: Result<Stylized, RunError>,
    args: &OptimizeArgs,
    output: &Output,
    (backend, started, interrupted): (Backend, Instant, bool),
) -> Result<ExitCode, Failure> {
    let stylized = match result {
        Ok(stylized) => stylized,
        Err(run_error) => {
            let mut failure = Failure::runtime(*run_error.error);
            if let Some(image) = run_error.image {
                output.save(&image, output.path())?;
                failure.message.push_str(&format!(
                    "\nthe last image with finite losses was saved to {}",
                    output.path().display()
                ));
            }
            return Err(failure);
        }
    };
    output.save(&stylized.image, output.path())?;
    if args.common.json {
        Record::new(
            (&args.content, output.path()),
            stylized.image.dimensions(),
            backend,
            started.elapsed(),
            record::ended(stylized.ended),
            ModeFields::Optimize {
                styles: args
                    .styles
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect(),
                iterations: stylized.iterations,
                scale: stylized.scale,
                scales: args.scales as usize,
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
            if interrupted {
                "interrupted: saved"
            } else {
                "saved"
            },
            output.path().display(),
            stylized.image.width(),
            stylized.image.height(),
            stylized.iterations,
            if args.scales > 1 {
                format!(" at scale {} of {}", stylized.scale, args.scales)
            } else {
                String::new()
            },
            stylized.losses.total,
            stylized.ended,
            clock(started.elapsed())
        );
    }
    Ok(if interrupted {
        ExitCode::from(Kind::Interrupted.code())
    } else {
        ExitCode::SUCCESS
    })
}

/// One blend weight per style image: equal by default, else as given (sum above 0).
fn blend_weights(args: &OptimizeArgs) -> Result<Vec<f32>, Failure> {
    let Some(weights) = &args.style_blend_weights else {
        return Ok(vec![1.0; args.styles.len()]);
    };
    if weights.len() != args.styles.len() {
        return Err(Failure::usage(format!(
            "--style-blend-weights has {} value(s) for {} style image(s); give one per style",
            weights.len(),
            args.styles.len()
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

/// Loads an input picture; too-small pictures are refused, with the file named.
fn picture(path: &Path) -> Result<RgbImage, Failure> {
    let image = image_io::load_image(path).map_err(Failure::input)?;
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
    Ok(image)
}
