//! `stylize video`: a video stylized frame by frame with the feed-forward networks, each
//! output made consistent with the previous one by optical flow (the library's
//! `Stabilizer`), or optimized frame by frame through VGG19 (`--optimize`), each frame
//! started from the previous output moved by the flow with a temporal term (the library's
//! `FrameChain`); decoded and encoded through ffmpeg ([`crate::ffmpeg`]) with the frame rate
//! kept and the audio copied. With a shard (`--shard I/N`, or a scheduler's array) a run
//! paints one chunk of consecutive frames into a frames folder, after a lead-in of a few
//! frames; `stylize join` ([`crate::join`]) makes the folder a video.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use image::RgbImage;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use style_transfer::image_io::{self, Size};
use style_transfer::{
    Backend, Control, FastStyle, FrameChain, Init, OriginalColors, Progress, Settings, Stabilizer,
    StyleChoice, StyleTransfer,
};

use crate::batch;
use crate::cli::VideoArgs;
use crate::failure::{Failure, Kind};
use crate::fast::load_networks;
use crate::ffmpeg::{Decoder, Encoder, Ffmpeg, Source};
use crate::optimize::{engine, engine_settings};
use crate::shard::{self, Chunk, Shard};

/// How each frame is painted.
enum Painter {
    /// The feed-forward networks, stabilized by the flow.
    Networks {
        fast: FastStyle,
        style: StyleChoice,
        stabilizer: Stabilizer,
    },
    /// The optimization, chained by the flow.
    Optimize {
        /// The engine, between frames (each frame's settings are set on it).
        engine: Option<StyleTransfer>,
        settings: Settings,
        painting: RgbImage,
        /// The chain, or `None` for frames optimized on their own (`--temporal-weight 0`).
        chain: Option<FrameChain>,
        /// Iterations of the frames after the first.
        later: usize,
        interrupted: Arc<AtomicBool>,
    },
}

impl Painter {
    /// Restarts the chain from an earlier frame and its output (a resumed video: each of the
    /// last [`Painter::reach`] frames done, in order).
    fn restart(&mut self, frame: &RgbImage, output: &RgbImage) {
        match self {
            Painter::Networks { stabilizer, .. } => stabilizer.restart(frame, output),
            Painter::Optimize { chain, .. } => {
                if let Some(chain) = chain {
                    chain.done(frame, output);
                }
            }
        }
    }

    /// How many earlier frames a resumed run gives [`Painter::restart`], oldest first.
    fn reach(&self) -> usize {
        match self {
            Painter::Optimize {
                chain: Some(chain), ..
            } => chain.reach(),
            _ => 1,
        }
    }

    /// The output of input `frame`; `None` when Ctrl-C stopped its optimization (not
    /// written).
    fn paint(&mut self, frame: &RgbImage, first: bool) -> Result<Option<RgbImage>, Failure> {
        // (The networks' stabilizer records its own output; the chain records it in `done`.)
        match self {
            Painter::Networks {
                fast,
                style,
                stabilizer,
            } => {
                let out = stabilizer
                    .next_with(frame, || fast.stylize_pixels(frame, style))
                    .map_err(Failure::runtime)?;
                Ok(Some(out))
            }
            Painter::Optimize {
                engine,
                settings,
                painting,
                chain,
                later,
                interrupted,
            } => {
                let start = chain.as_ref().and_then(|c| c.start(frame));
                let mut frame_settings = settings.clone();
                if !first {
                    frame_settings = frame_settings.with_iterations(*later);
                }
                if let Some(start) = start {
                    frame_settings = frame_settings
                        .with_init(Init::Image(start.init))
                        .with_temporal(Some(start.temporal));
                }
                let run = engine
                    .take()
                    .expect("the engine is put back after each frame");
                let run = run
                    .with_settings(frame_settings)
                    .map_err(Failure::runtime)?;
                let mut observer = |_: &Progress<'_>| match interrupted.load(Ordering::SeqCst) {
                    true => Control::Stop,
                    false => Control::Continue,
                };
                let result = run.run(frame, &[(painting, 1.0)], &mut observer);
                *engine = Some(run);
                let stylized = result.map_err(|e| Failure::runtime(*e.error))?;
                if interrupted.load(Ordering::SeqCst) {
                    return Ok(None);
                }
                if let Some(chain) = chain {
                    chain.done(frame, &stylized.image);
                }
                Ok(Some(stylized.image))
            }
        }
    }
}

/// The containers the result may be written in (H.264 fits each).
const CONTAINERS: [&str; 3] = ["mp4", "mkv", "mov"];

/// Where the frames come from.
enum Frames {
    /// Decoded by ffmpeg from a video file.
    Video(Decoder),
    /// Image files, in name order (the next one's index), all of the first's size,
    /// resized to the frame size.
    Folder {
        files: Vec<PathBuf>,
        next: usize,
        first: (u32, u32),
        size: (u32, u32),
    },
}

impl Frames {
    /// The next frame, `None` at the end.
    fn next_frame(&mut self) -> Result<Option<RgbImage>, Failure> {
        match self {
            Frames::Video(decoder) => decoder.next_frame(),
            Frames::Folder {
                files,
                next,
                first,
                size,
            } => {
                let Some(path) = files.get(*next) else {
                    return Ok(None);
                };
                *next += 1;
                let image = image_io::load_image(path).map_err(|e| input_failure(path, e))?;
                if image.dimensions() != *first {
                    return Err(Failure {
                        kind: Kind::Input,
                        message: format!(
                            "{}: {}x{}, while the first frame ({}) is {}x{}: the frames of a \
                             folder have one size",
                            path.display(),
                            image.width(),
                            image.height(),
                            files[0].display(),
                            first.0,
                            first.1
                        ),
                    });
                }
                let (width, height) = *size;
                Ok(Some(image_io::resize(
                    &image,
                    Size::Exact { width, height },
                )))
            }
        }
    }
}

/// Where the frames go.
enum Sink {
    /// Encoded by ffmpeg into a temporary file, renamed into place at the end.
    Video(Encoder, PathBuf),
    /// PNG files `frame_000001.png`... in a folder.
    Folder(PathBuf),
}

impl Sink {
    /// Writes frame `number` (a frames folder names it by `span`).
    fn write(&mut self, frame: &RgbImage, number: u64, span: &Span) -> Result<(), Failure> {
        match self {
            Sink::Video(encoder, _) => encoder.write(frame),
            Sink::Folder(dir) => {
                let path = dir.join(span.name(number));
                image_io::save_image(frame, &path).map_err(|e| Failure {
                    kind: Kind::Runtime,
                    message: format!("{}: {e}", path.display()),
                })
            }
        }
    }
}

/// The name of output frame `number` (from 1) in a frames folder.
pub fn frame_name(number: u64) -> String {
    format!("frame_{number:06}.png")
}

/// The name of frame `number` painted as a shard's lead-in, beside the previous chunk's own
/// `frame_` file; `stylize join` fades from one to the other.
pub fn lead_name(number: u64) -> String {
    format!("lead_{number:06}.png")
}

/// The frames a run paints, numbered from 1: from `lead` on, its own from `first` (the
/// frames before are a shard's lead-in), to `last` (the end of the video without a shard).
#[derive(Clone, Copy, Debug)]
struct Span {
    lead: u64,
    first: u64,
    last: Option<u64>,
}

impl Span {
    /// Every frame, without a shard.
    const WHOLE: Span = Span {
        lead: 1,
        first: 1,
        last: None,
    };

    /// The file name of frame `number` in a frames folder.
    fn name(&self, number: u64) -> String {
        match number < self.first {
            true => lead_name(number),
            false => frame_name(number),
        }
    }

    /// How many frames it paints, when known.
    fn len(&self, frames: Option<u64>) -> Option<u64> {
        let last = self.last.or(frames)?;
        Some((last + 1).saturating_sub(self.lead))
    }

    /// How many of its frames an output folder already holds, from the first it paints on
    /// without a gap.
    fn done(&self, dir: &Path) -> u64 {
        let mut n = 0;
        while self.last.is_none_or(|last| self.lead + n <= last)
            && dir.join(self.name(self.lead + n)).is_file()
        {
            n += 1;
        }
        n
    }
}

/// An input failure (exit 3) that names the file.
pub fn input_failure(path: &Path, e: style_transfer::Error) -> Failure {
    let mut failure = Failure::input(e);
    failure.message = format!("{}: {}", path.display(), failure.message);
    failure
}

/// Runs `stylize video`.
pub fn run(args: VideoArgs) -> Result<ExitCode, Failure> {
    let say = |message: &str| {
        if !args.quiet {
            eprintln!("{message}");
        }
    };
    let to_folder = is_folder_output(&args.output);
    // A video file this command left on Ctrl-C is resumed rather than refused as existing.
    let record = match to_folder || args.overwrite {
        true => None,
        false => earlier_run(&args.output)?,
    };
    let partial = check_output(
        &args.output,
        to_folder,
        &args.input,
        args.overwrite || record.is_some(),
    )?;
    let from_folder = args.input.is_dir();
    let ffmpeg = match (from_folder, to_folder) {
        (true, true) => None,
        _ => Some(Ffmpeg::find(args.ffmpeg.as_deref())?),
    };
    let source = match (&ffmpeg, from_folder) {
        (_, true) => folder_source(&args.input, args.rate)?,
        (Some(ffmpeg), false) => (ffmpeg.probe(&args.input)?, Vec::new()),
        (None, false) => unreachable!("ffmpeg is found for a video input"),
    };
    let (source, files) = source;
    let size = frame_size(&args, &source)?;
    let shard = shard::choose(args.shard, args.shards, &|name| std::env::var(name).ok())?;
    let span = match &shard {
        None => Span::WHOLE,
        Some(shard) => {
            if !to_folder {
                return Err(Failure::usage(format!(
                    "{}: a shard ({shard}) writes its frames into a folder (a path without an \
                     extension, the same for every shard), which `stylize join` then makes into \
                     a video",
                    args.output.display()
                )));
            }
            let total = match (&ffmpeg, from_folder) {
                (Some(ffmpeg), false) => ffmpeg.count_frames(&args.input, &source.rate.0)?,
                _ => files.len() as u64,
            };
            match shard::chunk(total, shard, args.overlap) {
                Some(Chunk { lead, first, last }) => Span {
                    lead,
                    first,
                    last: Some(last),
                },
                None => return Ok(empty_shard(&args, shard, total, &say)),
            }
        }
    };
    let backend = args
        .backend
        .or_else(Backend::preferred)
        .ok_or_else(|| Failure::usage("no backend is compiled into this build"))?;
    // Frames already in an output folder are not redone: the chain restarts after them.
    // So are those of a video file a Ctrl-C left: they are read back and encoded again, the
    // chain restarting from the last.
    let mut kept = match (&ffmpeg, record) {
        (Some(ffmpeg), Some(frames)) => {
            Some(kept_frames(ffmpeg, &args.output, frames, size, &source)?)
        }
        _ => None,
    };
    let done = match (to_folder, record) {
        (true, _) => span.done(&args.output),
        (false, Some(frames)) => frames,
        (false, None) => 0,
    };
    let interrupted = batch::stop_signal();
    let mut painter = painter(&args, backend, size, interrupted.clone(), &say)?;
    say(&format!(
        "stylizing {}{} ({}x{} at {} fps{}, {} frames) at {}x{} on {}, {}{}",
        args.input.display(),
        match (&shard, span.last) {
            (Some(shard), Some(last)) if span.lead < span.first => format!(
                ", frames {}-{} of {shard} after a lead-in from frame {}",
                span.first, last, span.lead
            ),
            (Some(shard), Some(last)) => format!(", frames {}-{last} of {shard}", span.first),
            _ => String::new(),
        },
        source.size.0,
        source.size.1,
        round(source.rate.1),
        if source.audio { ", with audio" } else { "" },
        source.frames.map_or("?".to_string(), |n| n.to_string()),
        size.0,
        size.1,
        backend.name(),
        match args.optimize {
            true => format!("optimized, temporal weight {:e}", args.temporal_weight),
            false => format!("temporal {}", args.temporal),
        },
        if done > 0 {
            format!("; resuming after the {done} frames done")
        } else {
            String::new()
        }
    ));
    let started = Instant::now();
    let mut frames_in = match &ffmpeg {
        Some(ffmpeg) if !from_folder => {
            Frames::Video(ffmpeg.decode(&args.input, size, &source.rate.0)?)
        }
        _ => Frames::Folder {
            files,
            next: 0,
            first: source.size,
            size,
        },
    };
    let mut sink = match (&ffmpeg, to_folder) {
        (_, true) => {
            std::fs::create_dir_all(&args.output)
                .map_err(|e| Failure::io(Kind::Runtime, &args.output, e))?;
            Sink::Folder(args.output.clone())
        }
        (Some(ffmpeg), false) => {
            let audio = source.audio.then_some(args.input.as_path());
            let encoder = ffmpeg.encode(&partial, size, &source.rate.0, audio, &args.h264)?;
            Sink::Video(encoder, partial.clone())
        }
        (None, false) => unreachable!("ffmpeg is found for a video output"),
    };
    let bar = progress_bar(span.len(source.frames), args.quiet);
    // Without a terminal (a log file, a batch job) the bar is hidden: lines instead.
    let mut log = (!args.quiet && !std::io::stderr().is_terminal()).then(|| FrameLog {
        total: span.len(source.frames),
        started: Instant::now(),
        last: None,
    });
    // `number`: the frames decoded; `frames`: those of the span done, before or now.
    let (mut number, mut frames) = (0u64, 0u64);
    let result = (|| -> Result<(), Failure> {
        while !interrupted.load(Ordering::SeqCst) && span.last.is_none_or(|last| number < last) {
            let Some(frame) = frames_in.next_frame()? else {
                break;
            };
            number += 1;
            if number < span.lead {
                continue;
            }
            bar.inc(1);
            if number < span.lead + done {
                frames += 1;
                let output = match &mut kept {
                    Some(decoder) => {
                        let output = decoder.next_frame()?.ok_or_else(|| Failure {
                            kind: Kind::Runtime,
                            message: format!(
                                "{}: ended before its {done} frames",
                                args.output.display()
                            ),
                        })?;
                        sink.write(&output, number, &span)?;
                        Some(output)
                    }
                    None => None,
                };
                if number + painter.reach() as u64 >= span.lead + done {
                    let output = match output {
                        Some(output) => output,
                        None => {
                            let path = args.output.join(span.name(number));
                            image_io::load_image(&path).map_err(|e| input_failure(&path, e))?
                        }
                    };
                    painter.restart(&frame, &output);
                }
                continue;
            }
            match painter.paint(&frame, number == span.lead)? {
                Some(out) => sink.write(&out, number, &span)?,
                // Stopped mid-frame: the frames before it stay.
                None => break,
            }
            frames += 1;
            if let Some(log) = &mut log {
                log.frame(number, frames, frames - done);
            }
        }
        Ok(())
    })();
    bar.finish_and_clear();
    drop(frames_in);
    let discard = |sink: Sink| {
        if let Sink::Video(encoder, partial) = sink {
            drop(encoder);
            let _ = std::fs::remove_file(partial);
        }
    };
    if let Err(failure) = result {
        discard(sink);
        return Err(failure);
    }
    if number == 0 {
        discard(sink);
        return Err(Failure {
            kind: Kind::Input,
            message: format!("{}: no frames", args.input.display()),
        });
    }
    let stopped = interrupted.load(Ordering::SeqCst);
    if stopped && frames < done {
        // Stopped while the kept frames were being copied: the output stays as it was.
        discard(sink);
        return Err(Failure {
            kind: Kind::Interrupted,
            message: format!(
                "interrupted before any new frame; {} is left as it was",
                args.output.display()
            ),
        });
    }
    let made = frames.saturating_sub(done);
    drop(kept);
    if let Sink::Video(encoder, partial) = sink {
        if let Err(failure) = encoder.finish() {
            let _ = std::fs::remove_file(&partial);
            return Err(failure);
        }
        std::fs::rename(&partial, &args.output)
            .map_err(|e| Failure::io(Kind::Runtime, &args.output, e))?;
        let record = record_path(&args.output);
        match stopped {
            true => {
                let text = serde_json::json!({ "command": this_command(), "frames": frames });
                std::fs::write(&record, text.to_string())
                    .map_err(|e| Failure::io(Kind::Runtime, &record, e))?;
            }
            false => {
                let _ = std::fs::remove_file(&record);
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        let record = serde_json::json!({
            "mode": "video",
            "input": args.input.display().to_string(),
            "output": args.output.display().to_string(),
            "frames": frames,
            "frames_stylized": made,
            "width": size.0,
            "height": size.1,
            "rate": source.rate.0,
            "audio": source.audio,
            "optimize": args.optimize,
            "temporal": args.temporal,
            "temporal_weight": args.optimize.then_some(args.temporal_weight),
            "long_term": &args.long_term,
            "shard": shard.as_ref().map(|s| format!("{}/{}", s.index, s.count)),
            "first_frame": span.first,
            "lead_frames": span.first - span.lead,
            "backend": backend.name(),
            "seconds": seconds,
            "frames_per_second": made as f64 / seconds,
            "interrupted": stopped,
        });
        println!("{record}");
    } else {
        say(&format!(
            "saved {} ({frames} frames, {}x{}) in {seconds:.1} s, {:.2} frames/s{}",
            args.output.display(),
            size.0,
            size.1,
            made as f64 / seconds,
            if stopped {
                "; interrupted: the frames done, playable"
            } else {
                ""
            }
        ));
    }
    match stopped {
        true => Err(Failure {
            kind: Kind::Interrupted,
            message: format!(
                "interrupted after {frames} frames; {} holds them{}",
                args.output.display(),
                match to_folder {
                    true => "; the same command again goes on after them",
                    false => ", playable; the same command again goes on after them",
                }
            ),
        }),
        false => Ok(ExitCode::SUCCESS),
    }
}

/// How the frames are painted: the networks (loaded or fetched) with the stabilizer, or the
/// optimization (the VGG19 weights loaded or fetched) with the chain.
fn painter(
    args: &VideoArgs,
    backend: Backend,
    (width, height): (u32, u32),
    interrupted: Arc<AtomicBool>,
    say: &dyn Fn(&str),
) -> Result<Painter, Failure> {
    if !args.optimize {
        let style = match &args.style_image {
            Some(path) => {
                StyleChoice::Painting(image_io::load_image(path).map_err(Failure::input)?)
            }
            None => args.style.clone(),
        };
        let painting = args.style_image.is_some();
        let fast = load_networks(&args.networks, painting, backend, say)?
            .with_strength(args.strength)
            .with_original_colors(args.original_colors);
        return Ok(Painter::Networks {
            fast,
            style,
            stabilizer: Stabilizer::new(args.temporal),
        });
    }
    let path = args
        .style_image
        .as_ref()
        .expect("clap requires --style-image");
    let painting = image_io::load_image(path).map_err(|e| input_failure(path, e))?;
    let settings = engine_settings(&args.engine)
        .with_size(Size::Exact { width, height })
        .with_original_colors(args.original_colors.then_some(OriginalColors::Luminance));
    settings.validate(width, height).map_err(Failure::input)?;
    let settings = match backend {
        // The host path exists on the CPU backends only.
        Backend::Wgpu => settings.with_winograd(false),
        _ => settings,
    };
    let device = backend.device().map_err(Failure::runtime)?;
    let engine = engine(
        args.engine.weights.as_deref(),
        settings.clone(),
        &device,
        say,
    )?;
    let weight = args.temporal_weight;
    Ok(Painter::Optimize {
        engine: Some(engine),
        settings,
        painting,
        chain: (weight > 0.0).then(|| FrameChain::new(weight).with_long_term(&args.long_term)),
        later: args
            .later_iterations
            .unwrap_or(args.engine.iterations.div_ceil(2)),
        interrupted,
    })
}

/// Whether the output is a folder of frames: an existing folder, or a path without a
/// file extension.
fn is_folder_output(output: &Path) -> bool {
    output.is_dir() || output.extension().is_none()
}

/// The record beside a video-file output that a run stopped by Ctrl-C left playable: the
/// command that made it and its frames, so that the same command resumes it.
fn record_path(output: &Path) -> PathBuf {
    let name = output
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("video");
    output.with_file_name(format!(".{name}.resume.json"))
}

/// What identifies a run for resuming: the current folder and the arguments.
fn this_command() -> Vec<String> {
    let here = std::env::current_dir().map(|d| d.display().to_string());
    std::iter::once(here.unwrap_or_default())
        .chain(std::env::args().skip(1))
        .collect()
}

/// The frames of an interrupted run of this command that `output` holds, from its record;
/// `None` without one (an output made otherwise, or finished). A record of another command
/// is refused: the output is that command's to resume.
fn earlier_run(output: &Path) -> Result<Option<u64>, Failure> {
    let record = record_path(output);
    if !output.is_file() {
        return Ok(None);
    }
    let Ok(text) = std::fs::read_to_string(&record) else {
        return Ok(None);
    };
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let command: Option<Vec<String>> = json["command"].as_array().map(|a| {
        a.iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect()
    });
    let frames = json["frames"].as_u64();
    match (command, frames) {
        (Some(command), Some(frames)) if command == this_command() => Ok(Some(frames)),
        (Some(command), Some(frames)) => Err(Failure::usage(format!(
            "{} holds the first {frames} frames of an interrupted `stylize {}` (in {}): give \
             that command again to go on with it, or --overwrite to start this one",
            output.display(),
            command.get(1..).unwrap_or_default().join(" "),
            command.first().map_or("", String::as_str)
        ))),
        _ => Err(Failure::usage(format!(
            "{}: its resume record {} is unreadable; give --overwrite to start again",
            output.display(),
            record.display()
        ))),
    }
}

/// The frames of an interrupted video-file output to resume, checked against its record
/// (`frames`), as a decoder that reads them again.
fn kept_frames(
    ffmpeg: &Ffmpeg,
    output: &Path,
    frames: u64,
    size: (u32, u32),
    source: &Source,
) -> Result<Decoder, Failure> {
    let count = ffmpeg.count_frames(output, &source.rate.0)?;
    if count != frames {
        return Err(Failure::usage(format!(
            "{} holds {count} frames, while its resume record says {frames}: it changed since; \
             give --overwrite to start again",
            output.display()
        )));
    }
    ffmpeg.decode(output, size, &source.rate.0)
}

/// Progress as lines on standard error when it is not a terminal: the first frame painted,
/// then one line every [`FrameLog::EVERY`] seconds, and the last.
struct FrameLog {
    total: Option<u64>,
    started: Instant,
    last: Option<Instant>,
}

impl FrameLog {
    const EVERY: f64 = 5.0;

    /// Frame `number` of the video written, the run's `frames`-th, `made` of them painted now.
    fn frame(&mut self, number: u64, frames: u64, made: u64) {
        if self
            .last
            .is_some_and(|t| t.elapsed().as_secs_f64() < Self::EVERY)
            && self.total != Some(frames)
        {
            return;
        }
        self.last = Some(Instant::now());
        let seconds = self.started.elapsed().as_secs_f64();
        eprintln!(
            "frame {number} done ({frames}{}), {:.2} frames/s",
            self.total.map_or(String::new(), |t| format!(" of {t}")),
            made as f64 / seconds
        );
    }
}

/// A shard with no frames (more shards than frames): nothing to do, said.
fn empty_shard(args: &VideoArgs, shard: &Shard, total: u64, say: &dyn Fn(&str)) -> ExitCode {
    say(&format!(
        "{shard} has no frames: {} has {total}, fewer than the shards",
        args.input.display()
    ));
    if args.json {
        let record = serde_json::json!({
            "mode": "video",
            "input": args.input.display().to_string(),
            "output": args.output.display().to_string(),
            "shard": format!("{}/{}", shard.index, shard.count),
            "frames": 0,
            "frames_stylized": 0,
        });
        println!("{record}");
    }
    ExitCode::SUCCESS
}

/// The frames of a folder (image files in name order, numbered without gaps where their
/// names end in numbers) as a source at `rate` frames a second.
fn folder_source(dir: &Path, rate: f64) -> Result<(Source, Vec<PathBuf>), Failure> {
    let bad = |message: String| Failure {
        kind: Kind::Input,
        message,
    };
    if !(rate.is_finite() && rate > 0.0) {
        return Err(Failure::usage(format!(
            "--rate {rate}: give a number of frames a second above 0"
        )));
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Failure::io(Kind::Input, dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let ext = (p.extension().and_then(|e| e.to_str()))
                .map(str::to_ascii_lowercase)
                .unwrap_or_default();
            p.is_file()
                && ["png", "jpg", "jpeg", "webp", "tif", "tiff", "bmp"].contains(&ext.as_str())
        })
        .collect();
    files.sort();
    let Some(first) = files.first() else {
        return Err(bad(format!(
            "{}: holds no frames (PNG, JPEG, WebP, TIFF or BMP files)",
            dir.display()
        )));
    };
    // A gap in the numbering is a frame missing: refused rather than played too fast.
    let number = |p: &PathBuf| {
        let stem = p.file_stem()?.to_str()?;
        let digits: String = stem
            .chars()
            .rev()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.chars().rev().collect::<String>().parse::<u64>().ok()
    };
    let numbers: Vec<Option<u64>> = files.iter().map(number).collect();
    if numbers.iter().all(Option::is_some) {
        for (k, pair) in numbers.windows(2).enumerate() {
            if let [Some(a), Some(b)] = pair
                && *b != a + 1
            {
                return Err(bad(format!(
                    "{}: frame {b} follows frame {a} ({}): a frame is missing; number the \
                     frames without gaps",
                    dir.display(),
                    files[k + 1].display()
                )));
            }
        }
    }
    let image = image_io::load_image(first).map_err(|e| input_failure(first, e))?;
    Ok((
        Source {
            size: image.dimensions(),
            rate: (format!("{rate}"), rate),
            frames: Some(files.len() as u64),
            audio: false,
        },
        files,
    ))
}

/// A frame rate to two decimals, without trailing zeros.
pub fn round(rate: f64) -> String {
    let text = format!("{rate:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Refuses an output that is not a video container (or a folder), is the `input`, or is a
/// video that exists (without `overwrite`); returns the temporary file a video is written
/// to first, beside it.
pub fn check_output(
    out: &Path,
    to_folder: bool,
    input: &Path,
    overwrite: bool,
) -> Result<PathBuf, Failure> {
    if to_folder {
        if out.exists() && !out.is_dir() {
            return Err(Failure::usage(format!(
                "{} is a file, not a folder of frames",
                out.display()
            )));
        }
        return Ok(out.to_path_buf());
    }
    let ext = (out.extension().and_then(|e| e.to_str()))
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    if !CONTAINERS.contains(&ext.as_str()) {
        return Err(Failure::usage(format!(
            "{}: the result is a video file (give it one of the extensions {}) or a folder \
             of frames (a path without an extension)",
            out.display(),
            CONTAINERS.join(", ")
        )));
    }
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same(out, input) {
        return Err(Failure::usage(format!(
            "{}: the output would replace the input; give another path",
            out.display()
        )));
    }
    if out.exists() && !overwrite {
        return Err(Failure::usage(format!(
            "{} exists; give another path or --overwrite",
            out.display()
        )));
    }
    let name = out.file_name().and_then(|n| n.to_str()).unwrap_or("video");
    Ok(out.with_file_name(format!(".{name}.partial.{ext}")))
}

/// The frames' size: `--size` of the source's, sides rounded down to even (H.264's 4:2:0
/// needs them even: the odd last row or column is left out by the scaling).
fn frame_size(args: &VideoArgs, source: &Source) -> Result<(u32, u32), Failure> {
    let (w, h) = source.size;
    let size = match args.optimize {
        true => Some(args.size.unwrap_or(crate::optimize::DEFAULT_SIZE)),
        false => args.size,
    };
    let (w, h) = size.map_or((w, h), |s| s.dimensions(w, h));
    let (w, h) = (w & !1, h & !1);
    if w.min(h) < 16 {
        return Err(Failure::usage(format!(
            "frames of {w}x{h} are too small for the networks (16 pixels a side at least); \
             ask for a larger --size"
        )));
    }
    Ok((w, h))
}

/// A bar of frames with frames per second and the time left (a spinner when the count is
/// unknown), hidden with `--quiet`.
pub fn progress_bar(frames: Option<u64>, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = match frames {
        Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
    };
    let template = match frames {
        Some(_) => "{bar:30} {pos}/{len} frames, {per_sec}, {eta} left",
        None => "{spinner} {pos} frames, {per_sec}",
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_records_of_other_commands_or_broken_are_refused_without_a_panic() {
        let dir = tempfile::TempDir::new().unwrap();
        let output = dir.path().join("out.mp4");
        assert_eq!(earlier_run(&output).unwrap(), None, "no output, no record");
        std::fs::write(&output, "a video").unwrap();
        assert_eq!(
            earlier_run(&output).unwrap(),
            None,
            "an output without a record"
        );
        for (record, needle) in [
            (r#"{"command":[],"frames":3}"#, "interrupted `stylize `"),
            (
                r#"{"command":["/elsewhere","video","a.mp4"],"frames":3}"#,
                "`stylize video a.mp4` (in /elsewhere)",
            ),
            ("not json", "unreadable"),
        ] {
            std::fs::write(record_path(&output), record).unwrap();
            let failure = earlier_run(&output).unwrap_err();
            assert_eq!(failure.kind, Kind::Usage, "{record}");
            assert!(
                failure.message.contains(needle),
                "{record}: {}",
                failure.message
            );
        }
        let this = serde_json::json!({ "command": this_command(), "frames": 3 });
        std::fs::write(record_path(&output), this.to_string()).unwrap();
        assert_eq!(earlier_run(&output).unwrap(), Some(3));
    }
}
