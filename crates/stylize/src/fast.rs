//! `stylize fast`: one pass of a pretrained feed-forward network per picture (the library's
//! `FastStyle`), for one photo, several, a folder, or standard input.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use std::sync::atomic::Ordering;

use image::{Rgb, Rgb32FImage, RgbImage};
use style_transfer::fetch::{self, FastNetwork};
use style_transfer::image_io::{self, Picture, Size};
use style_transfer::{BUILT_IN_STYLES, Backend, Error, FastStyle, StyleChoice};

use crate::batch::{self, Batch, Job, Painted, is_stdin};
use crate::cli::{ColorsArg, CommonArgs, FastArgs, NetworkArgs};
use crate::failure::{Failure, Kind};
use crate::output::{self, FinalResult};
use crate::plan;
use crate::record::{ModeFields, Record};

/// What every picture of a run is painted with.
struct Painter {
    fast: FastStyle,
    style: StyleChoice,
    /// The style as the `saved` line and the JSON record name it.
    label: String,
    backend: Backend,
}

/// Runs `stylize fast`.
pub fn run(args: FastArgs) -> Result<ExitCode, Failure> {
    args.common.check()?;
    let keep_colors = keep_colors(args.common.original_colors)?;
    let read: Vec<&Path> = [
        &args.style_image,
        &args.networks.model,
        &args.networks.predictor,
        &args.networks.transformer,
    ]
    .into_iter()
    .filter_map(Option::as_deref)
    .collect();
    let Some(batch) = Batch::start(&args.inputs, &args.common, &read)? else {
        return Ok(ExitCode::SUCCESS);
    };
    let backend = args.common.backend()?;
    // Everything the user gave is read before any network is fetched.
    let (style, label) = match &args.style_image {
        Some(path) => (
            StyleChoice::Painting(
                image_io::load_picture(path, args.common.limits())
                    .map_err(Failure::input)?
                    .image,
            ),
            path.display().to_string(),
        ),
        None if args.sheet => (args.style.clone(), "sheet".to_string()),
        None => (args.style.clone(), args.style.to_string()),
    };
    let painter = Painter {
        fast: networks(&args, backend, keep_colors)?,
        style,
        label,
        backend,
    };
    // One picture is one pass: Ctrl-C ends it as usual; a batch stops between pictures.
    let interrupted = match batch.into_folder {
        true => batch::stop_signal(),
        false => Default::default(),
    };
    batch.run(|job| match interrupted.load(Ordering::SeqCst) {
        true => Ok(Painted::Interrupted),
        false => paint(job, &painter, &args),
    })
}

/// `--original-colors` for the network, which keeps the photo's colours by luminance only.
fn keep_colors(colors: Option<ColorsArg>) -> Result<bool, Failure> {
    match colors {
        None => Ok(false),
        Some(ColorsArg::Luminance) => Ok(true),
        Some(ColorsArg::Histogram) => Err(Failure::usage(
            "--original-colors=histogram recolours the style images before an optimization; \
             stylize fast keeps the photo's colours by luminance only: use --original-colors \
             (or --original-colors=luminance)",
        )),
    }
}

/// The networks on `backend`: the 26-style network always (from --model, else fetched), the
/// arbitrary-style ones with --style-image.
fn networks(args: &FastArgs, backend: Backend, keep_colors: bool) -> Result<FastStyle, Failure> {
    let painting = args.style_image.is_some();
    let fast = load_networks(&args.networks, painting, backend, &|msg| {
        args.common.say(msg)
    })?;
    Ok(fast
        .with_strength(args.strength)
        .with_original_colors(keep_colors)
        .with_tiling(args.common.tile.unwrap_or_default())
        // A sheet's tiles are 256 px whatever --size says.
        .with_size(if args.sheet { None } else { args.common.size }))
}

/// The networks on `backend` from the files given, fetched where not given (`say` reports
/// the downloads): the 26-style network always, the arbitrary-style ones for a `painting`.
pub fn load_networks(
    files: &NetworkArgs,
    painting: bool,
    backend: Backend,
    say: &dyn Fn(&str),
) -> Result<FastStyle, Failure> {
    let network = |given: &Option<PathBuf>, network: FastNetwork| match given {
        Some(path) => Ok(path.clone()),
        None => {
            fetch::fast_network_with_progress(network, &mut |msg| say(msg)).map_err(Failure::input)
        }
    };
    let model = network(&files.model, FastNetwork::BuiltIn)?;
    let device = backend.device().map_err(Failure::runtime)?;
    let fast = FastStyle::from_onnx(&model, &device).map_err(Failure::input)?;
    if !painting {
        return Ok(fast);
    }
    let predictor = network(&files.predictor, FastNetwork::Predictor)?;
    let transformer = network(&files.transformer, FastNetwork::Transformer)?;
    fast.with_arbitrary_networks(predictor, transformer)
        .map_err(Failure::input)
}

/// Paints one picture, writes it, and reports it (a `saved` line, or the `--json` record).
fn paint(job: &Job, painter: &Painter, args: &FastArgs) -> Result<Painted, Failure> {
    let started = Instant::now();
    let photo = read_input(&job.input, &args.common)?;
    if !args.sheet {
        let (w, h) = photo.image.dimensions();
        let plan = (painter.fast)
            .plan(w, h, &painter.style)
            .map_err(|e| with_input(e, &job.input))?;
        if let Some(planned) = plan::show(&plan, job, &args.common)? {
            return Ok(planned);
        }
    }
    let result = if args.sheet {
        color_pixels(&sheet(&painter.fast, &photo.image)?)
    } else {
        painter
            .fast
            .stylize_pixels(&photo.image, &painter.style)
            .map_err(|e| match e {
                // Too small a picture or painting is the input's fault, not the run's.
                Error::ImageTooSmall { .. } => Failure::input(e),
                e => Failure::runtime(e),
            })?
    };
    output::write(
        &FinalResult {
            pixels: &result,
            depth: args.common.depth_for(&job.output),
            icc_profile: photo.icc_profile.as_deref(),
        },
        &job.output,
    )?;
    if args.common.json {
        Record::new(
            (&job.input, &job.output),
            result.dimensions(),
            painter.backend,
            started.elapsed(),
            "done",
            ModeFields::Fast {
                style: painter.label.clone(),
                strength: args.strength,
            },
        )
        .print();
    } else {
        args.common.say(&format!(
            "saved {} ({}x{}, style {}) in {:.2} s",
            job.output.display(),
            result.width(),
            result.height(),
            painter.label,
            started.elapsed().as_secs_f64(),
        ));
    }
    Ok(Painted::Written)
}

/// A library error about one picture, the picture named.
fn with_input(error: Error, input: &Path) -> Failure {
    let mut failure = Failure::input(error);
    failure.message = format!("{}: {}", input.display(), failure.message);
    failure
}

/// An 8-bit picture as floats 0-1 (the sheet, drawn in 8 bits).
fn color_pixels(image: &RgbImage) -> Rgb32FImage {
    image::DynamicImage::ImageRgb8(image.clone()).into_rgb32f()
}

/// Loads a picture from a file (under the --large-input limits, with its colour profile), or
/// from standard input for `-`.
fn read_input(path: &Path, common: &CommonArgs) -> Result<Picture, Failure> {
    if !is_stdin(path) {
        return image_io::load_picture(path, common.limits()).map_err(Failure::input);
    }
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::io(Kind::Input, Path::new("standard input"), e))?;
    let image = image_io::decode_image_bytes(&bytes).map_err(|e| Failure {
        kind: Kind::Input,
        message: format!("standard input: cannot read image: {e}"),
    })?;
    Ok(Picture {
        image,
        icc_profile: None,
    })
}

/// Every built-in style on `photo` (scaled to 256 px on its longest side), with the photo
/// first, seven to a row, each tile labelled with its index.
fn sheet(fast: &FastStyle, photo: &RgbImage) -> Result<RgbImage, Failure> {
    const COLUMNS: u32 = 7;
    const PAD: u32 = 6;
    const LABEL: u32 = 19;
    let tile = image_io::resize(photo, Size::Longest(256));
    let (tw, th) = tile.dimensions();
    let tiles = BUILT_IN_STYLES as u32 + 1;
    let rows = tiles.div_ceil(COLUMNS);
    let mut sheet = RgbImage::from_pixel(
        COLUMNS * (tw + PAD) + PAD,
        rows * (th + LABEL + PAD) + PAD,
        Rgb([255, 255, 255]),
    );
    for n in 0..tiles {
        let image = if n == 0 {
            tile.clone()
        } else {
            fast.stylize(&tile, &StyleChoice::BuiltIn(n as usize - 1))
                .map_err(Failure::runtime)?
        };
        let (x, y) = (
            PAD + (n % COLUMNS) * (tw + PAD),
            PAD + (n / COLUMNS) * (th + LABEL + PAD),
        );
        image::imageops::replace(&mut sheet, &image, x as i64, (y + LABEL) as i64);
        if n > 0 {
            draw_number(&mut sheet, n - 1, x + 2, y + 2);
        }
    }
    Ok(sheet)
}

/// Draws `number` in black at (`x`, `y`) with a 3x5 pixel font scaled 3 times (digits only).
fn draw_number(image: &mut RgbImage, number: u32, x: u32, y: u32) {
    // Rows of each digit, 3 bits per row, most significant bit on the left.
    const FONT: [[u8; 5]; 10] = [
        [7, 5, 5, 5, 7],
        [2, 6, 2, 2, 7],
        [7, 1, 7, 4, 7],
        [7, 1, 7, 1, 7],
        [5, 5, 7, 1, 1],
        [7, 4, 7, 1, 7],
        [7, 4, 7, 5, 7],
        [7, 1, 1, 1, 1],
        [7, 5, 7, 5, 7],
        [7, 5, 7, 1, 7],
    ];
    const SCALE: u32 = 3;
    for (k, digit) in number.to_string().bytes().enumerate() {
        let glyph = FONT[(digit - b'0') as usize];
        let left = x + k as u32 * 4 * SCALE;
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..3u32 {
                if bits >> (2 - col) & 1 == 1 {
                    for dy in 0..SCALE {
                        for dx in 0..SCALE {
                            let (px, py) = (left + col * SCALE + dx, y + row as u32 * SCALE + dy);
                            if px < image.width() && py < image.height() {
                                image.put_pixel(px, py, Rgb([0, 0, 0]));
                            }
                        }
                    }
                }
            }
        }
    }
}
