//! `stylize fast`: one pass of a pretrained feed-forward network per picture (the library's
//! `FastStyle`), for one photo, several, a folder, or standard input.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use image::{Rgb, RgbImage};
use style_transfer::fetch::{self, FastNetwork};
use style_transfer::image_io::{self, Size};
use style_transfer::{BUILT_IN_STYLES, Error, FastStyle, StyleChoice};

use crate::cli::FastArgs;
use crate::failure::{Failure, Kind};
use crate::output::Output;

/// Image file extensions taken from a folder.
const IMAGE_EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "png", "webp", "bmp", "tif"];

/// One picture to stylize: where it comes from and where its result goes.
struct Job {
    input: PathBuf,
    output: PathBuf,
}

/// Runs `stylize fast`.
pub fn run(args: FastArgs) -> Result<ExitCode, Failure> {
    let jobs = jobs(&args)?;
    let backend = crate::chosen_backend(args.backend)?;
    let say = |msg: &str| {
        if !args.quiet {
            eprintln!("{msg}");
        }
    };
    // Everything the user gave is read before any network is fetched.
    let (style, label) = match &args.style_image {
        Some(path) => (
            StyleChoice::Painting(image_io::load_image(path).map_err(Failure::input)?),
            path.display().to_string(),
        ),
        None if args.sheet => (args.style.clone(), "sheet".to_string()),
        None => (args.style.clone(), args.style.to_string()),
    };
    let network = |given: &Option<PathBuf>, network: FastNetwork| match given {
        Some(path) => Ok(path.clone()),
        None => {
            fetch::fast_network_with_progress(network, &mut |msg| say(msg)).map_err(Failure::input)
        }
    };
    let model = network(&args.model, FastNetwork::BuiltIn)?;
    let device = backend.device().map_err(Failure::runtime)?;
    let mut fast = FastStyle::from_onnx(&model, &device)
        .map_err(Failure::input)?
        .with_strength(args.strength)
        .with_original_colors(args.original_colors)
        // A sheet's tiles are 256 px whatever --size says.
        .with_size(if args.sheet { None } else { args.size });
    if args.style_image.is_some() {
        let predictor = network(&args.predictor, FastNetwork::Predictor)?;
        let transformer = network(&args.transformer, FastNetwork::Transformer)?;
        fast = fast
            .with_arbitrary_networks(predictor, transformer)
            .map_err(Failure::input)?;
    }
    for job in &jobs {
        let started = Instant::now();
        let photo = read_input(&job.input)?;
        let result = if args.sheet {
            sheet(&fast, &photo)?
        } else {
            fast.stylize(&photo, &style).map_err(|e| match e {
                // Too small a picture or painting is the input's fault, not the run's.
                Error::ImageTooSmall { .. } => Failure::input(e),
                e => Failure::runtime(e),
            })?
        };
        write_output(&result, &job.output)?;
        let seconds = started.elapsed().as_secs_f64();
        if args.json {
            println!(
                "{{\"input\":{},\"output\":{},\"width\":{},\"height\":{},\"style\":{},\"strength\":{},\"seconds\":{seconds:.3},\"backend\":\"{backend}\"}}",
                json_string(&job.input.display().to_string()),
                json_string(&job.output.display().to_string()),
                result.width(),
                result.height(),
                json_string(&label),
                args.strength,
            );
        } else {
            say(&format!(
                "saved {} ({}x{}, style {label}) in {seconds:.2} s",
                job.output.display(),
                result.width(),
                result.height(),
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The pictures and their outputs: one input to one file (or `-`), several inputs or folders
/// to a folder (created if missing; each result keeps its input's stem, as PNG unless the
/// folder's files are asked otherwise).
fn jobs(args: &FastArgs) -> Result<Vec<Job>, Failure> {
    let mut inputs = Vec::new();
    for input in &args.inputs {
        if input.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(input)
                .map_err(|e| io_failure(Kind::Input, input, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_lowercase().as_str()))
                })
                .collect();
            if found.is_empty() {
                return Err(Failure {
                    kind: Kind::Input,
                    message: format!("{}: no image files in this folder", input.display()),
                });
            }
            found.sort();
            inputs.extend(found);
        } else {
            inputs.push(input.clone());
        }
    }
    let to_folder = inputs.len() > 1 || args.inputs.iter().any(|p| p.is_dir());
    if !to_folder {
        let input = inputs.remove(0);
        if args.output != Path::new("-") {
            let refs: Vec<&Path> = if input == Path::new("-") {
                vec![]
            } else {
                vec![input.as_path()]
            };
            Output::new(&args.output, &refs)?;
        }
        return Ok(vec![Job {
            input,
            output: args.output.clone(),
        }]);
    }
    if args.output == Path::new("-") || inputs.iter().any(|p| p == Path::new("-")) {
        return Err(Failure::usage(
            "`-` (standard input or output) takes one picture; give an output folder for several",
        ));
    }
    if args.output.exists() && !args.output.is_dir() {
        return Err(Failure::usage(format!(
            "{}: several pictures need an output folder, and this is a file",
            args.output.display()
        )));
    }
    std::fs::create_dir_all(&args.output).map_err(|e| {
        Failure::usage(format!(
            "{}: cannot create the output folder: {e}",
            args.output.display()
        ))
    })?;
    let mut jobs: Vec<Job> = Vec::new();
    for input in inputs {
        let stem = input
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let output = args.output.join(format!("{stem}.png"));
        if jobs.iter().any(|j| j.output == output) {
            return Err(Failure::usage(format!(
                "two inputs would both be written to {}; rename one",
                output.display()
            )));
        }
        if output.canonicalize().ok() == input.canonicalize().ok() && output.exists() {
            return Err(Failure::usage(format!(
                "{} would overwrite its input",
                output.display()
            )));
        }
        jobs.push(Job { input, output });
    }
    Ok(jobs)
}

/// A failure to read or write `path`.
fn io_failure(kind: Kind, path: &Path, error: std::io::Error) -> Failure {
    Failure {
        kind,
        message: format!("{}: {error}", path.display()),
    }
}

/// Loads a picture from a file, or from standard input for `-`.
fn read_input(path: &Path) -> Result<RgbImage, Failure> {
    if path != Path::new("-") {
        return image_io::load_image(path).map_err(Failure::input);
    }
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .map_err(|e| io_failure(Kind::Input, Path::new("standard input"), e))?;
    image_io::decode_image_bytes(&bytes).map_err(|e| Failure {
        kind: Kind::Input,
        message: format!("standard input: cannot read image: {e}"),
    })
}

/// Saves a result to a file (atomically), or as PNG to standard output for `-`.
fn write_output(image: &RgbImage, path: &Path) -> Result<(), Failure> {
    if path != Path::new("-") {
        return image_io::save_image(image, path).map_err(Failure::runtime);
    }
    let mut png = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| {
            Failure::runtime(style_transfer::Error::ImageEncode {
                path: "-".into(),
                source: e,
            })
        })?;
    std::io::stdout()
        .write_all(&png)
        .and_then(|_| std::io::stdout().flush())
        .map_err(|e| io_failure(Kind::Runtime, Path::new("standard output"), e))
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

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
