//! `stylize`: neural style transfer from the command line.
//!
//! ```text
//! stylize CONTENT STYLE [STYLE...] -o OUTPUT [flags]
//! stylize fast CONTENT... [--style N[:W,...]] -o OUTPUT [flags]
//! stylize fetch-weights [--dir DIR]
//! ```
//! `stylize --help` lists every flag with its default; the exit codes are in [`failure::Kind`].

mod cli;
mod failure;
mod fast;
mod output;
mod progress;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use clap::Parser;
use image::{GrayImage, RgbImage};
use style_transfer::image_io::{self, Size};
use style_transfer::{
    Backend, FastStyle, Init, MIN_INPUT_SIDE, OriginalColors, Pooling, Settings, Solver,
    StyleTransfer, VggWeights, fetch,
};

use cli::{Cli, ColorsArg, Command, InitArg, OptimizerArg, PoolingArg, RunArgs};
use failure::{Failure, Kind};
use output::Output;
use progress::{Display, Reporter, clock};

fn main() -> ExitCode {
    quiet_worker_panics();
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::FetchWeights { dir }) => fetch_weights(dir),
        Some(Command::Fast(args)) => fast::run(args),
        None => stylize(cli.run),
    };
    match result {
        Ok(code) => code,
        Err(failure) => failure.report(),
    }
}

/// GPU autotuning benchmarks candidate kernels on worker threads, and a candidate that does not
/// fit the device panics there and is dropped: the run goes on with the others and succeeds,
/// so the panic's message and backtrace would only alarm users. Panics on other threads than
/// the main one are silent unless `RUST_BACKTRACE` is set; the main thread's are reported as
/// usual.
fn quiet_worker_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let main = std::thread::current().name() == Some("main");
        if main || std::env::var_os("RUST_BACKTRACE").is_some() {
            default(info);
        }
    }));
}

/// The backend asked for, else the preferred one compiled in.
fn chosen_backend(asked: Option<Backend>) -> Result<Backend, Failure> {
    asked
        .or_else(Backend::preferred)
        .ok_or_else(|| Failure::usage("no backend is compiled into this build"))
}

fn fetch_weights(dir: Option<PathBuf>) -> Result<ExitCode, Failure> {
    let dir = dir.unwrap_or_else(fetch::cache_dir);
    let path = fetch::fetch_weights(&dir, &mut |msg| eprintln!("{msg}")).map_err(Failure::input)?;
    println!("{}", path.display());
    Ok(ExitCode::SUCCESS)
}

/// The whole run: check everything cheap first (flags, output path, then the settings against
/// the content's size), then load the styles and the weights, then optimize, then save.
fn stylize(args: RunArgs) -> Result<ExitCode, Failure> {
    let started = Instant::now();
    let content_path = args.content.clone().expect("clap requires CONTENT");
    let output_path = args.output.clone().expect("clap requires --output");
    let blend = blend_weights(&args)?;
    let init_path = match &args.init {
        InitArg::Image(path) => Some(path.as_path()),
        _ => None,
    };
    let mut inputs: Vec<&Path> = vec![&content_path];
    inputs.extend(args.styles.iter().map(PathBuf::as_path));
    inputs.extend(init_path);
    inputs.extend(args.weights.as_deref());
    inputs.extend(
        (args.style_masks.iter().chain(&args.style_image_masks))
            .filter(|p| p.as_os_str() != "none")
            .map(PathBuf::as_path),
    );
    inputs.extend(args.content_weight_map.as_deref());
    let output = Output::new(&output_path, &inputs)?;
    let display = Display::choose(args.quiet, args.print_every);

    let content = load(&content_path)?;
    // Every setting is checked against the content's size before the weights are read or
    // fetched (an output below VGG19's 16 px, too many scales, style images too small, masks
    // of another shape or all black).
    let settings = settings(&args)
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
    let (width, height) = settings.output_size(content.width(), content.height());
    let styles = args
        .styles
        .iter()
        .map(|p| load(p))
        .collect::<Result<Vec<_>, _>>()?;
    let init_image = init_path.map(load).transpose()?;
    let style_refs: Vec<&RgbImage> = styles.iter().collect();
    settings
        .validate_style_masks(&style_refs)
        .map_err(Failure::input)?;

    let backend = chosen_backend(args.backend)?;
    let device = backend.device().map_err(Failure::runtime)?;
    let init = match (&args.init, init_image) {
        (_, Some(image)) => Init::Image(image),
        (InitArg::Noise, None) => Init::Noise,
        (InitArg::Fast(choice), None) => {
            // One pass of the feed-forward network at the output size starts the optimization.
            let model =
                fetch::fast_network_with_progress(fetch::FastNetwork::BuiltIn, &mut |msg| {
                    display.say(msg)
                })
                .map_err(Failure::input)?;
            let fast = FastStyle::from_onnx(&model, &device)
                .map_err(Failure::input)?
                .with_size(Some(Size::Exact { width, height }));
            Init::Image(fast.stylize(&content, choice).map_err(Failure::runtime)?)
        }
        _ => Init::Content,
    };
    let weights_path = match &args.weights {
        Some(path) => path.clone(),
        None => fetch::fetch_weights(&fetch::cache_dir(), &mut |msg| display.say(msg))
            .map_err(Failure::input)?,
    };
    let weights = VggWeights::from_onnx(&weights_path).map_err(Failure::input)?;

    let engine = StyleTransfer::from_settings(&weights, settings.with_init(init), &device);
    // The engine holds its own copy of the network; the file's would only add to the peak.
    drop(weights);

    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = interrupted.clone();
    // First Ctrl-C: stop at the next iteration and save. Second: leave at once.
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(Kind::Interrupted.code().into());
        }
    });
    display.say(&format!(
        "stylizing {} ({width}x{height}) with {} style image(s) on {backend}, {} iterations of {}",
        content_path.display(),
        styles.len(),
        args.iterations * args.scales as usize,
        match args.optimizer {
            OptimizerArg::Adam => "Adam",
            OptimizerArg::Lbfgs => "L-BFGS",
        }
    ));
    let mut reporter = Reporter::new(
        display,
        (args.iterations, args.scales as usize),
        args.save_every,
        &output,
        interrupted.clone(),
    );
    let style_refs: Vec<(&RgbImage, f32)> =
        styles.iter().zip(&blend).map(|(s, w)| (s, *w)).collect();
    let result = engine.run(&content, &style_refs, &mut reporter);
    reporter.finish();
    match result {
        Ok(stylized) => {
            output.save(&stylized.image, output.path())?;
            let interrupted = interrupted.load(Ordering::SeqCst);
            if !args.quiet {
                // e.g. "saved out.png (512x384, 500 iterations, total loss 1.2e11; all
                // iterations done) in 4:10"; the reason is also "stopped" (Ctrl-C) or
                // "converged (...)", naming L-BFGS's stopping rule.
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
        Err(run_error) => {
            let mut failure = Failure::runtime(*run_error.error);
            if let Some(image) = run_error.image {
                output.save(&image, output.path())?;
                failure.message.push_str(&format!(
                    "\nthe last image with finite losses was saved to {}",
                    output.path().display()
                ));
            }
            Err(failure)
        }
    }
}

/// The run's settings from the flags (the starting image is added once it is loaded).
fn settings(args: &RunArgs) -> Settings {
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
        .with_size(args.size)
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
        .with_original_colors(args.original_colors.map(|c| match c {
            ColorsArg::Luminance => OriginalColors::Luminance,
            ColorsArg::Histogram => OriginalColors::Histogram,
        }))
}

/// One blend weight per style image: equal by default, else as given (sum above 0).
fn blend_weights(args: &RunArgs) -> Result<Vec<f32>, Failure> {
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
        .map(|p| match p.as_os_str() == "none" {
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

/// Loads an input image; too-small images are refused, with the file named.
fn load(path: &Path) -> Result<RgbImage, Failure> {
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
