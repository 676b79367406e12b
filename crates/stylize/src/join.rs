//! `stylize join`: the frames folder that the shards of `stylize video --shard I/N` painted,
//! made into one video with the source's frame rate and audio.
//!
//! Every frame must be there (a missing one names the frames to paint again); where a shard
//! painted a lead-in (`lead_NNNNNN.png`, the frames before its chunk painted to warm its
//! temporal chain), the video fades over those frames from the previous chunk's frames to
//! the lead-in's, which the next chunk continues, so the border between chunks does not jump.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use image::RgbImage;
use style_transfer::image_io;

use crate::cli::JoinArgs;
use crate::failure::{Failure, Kind};
use crate::ffmpeg::Ffmpeg;
use crate::video::{check_output, frame_name, input_failure, lead_name, progress_bar, round};

/// Runs `stylize join`.
pub fn run(args: JoinArgs) -> Result<ExitCode, Failure> {
    let say = |message: &str| {
        if !args.quiet {
            eprintln!("{message}");
        }
    };
    let dir = &args.frames;
    if !dir.is_dir() {
        return Err(input(format!(
            "{}: not a folder of frames (the -o of `stylize video --shard`)",
            dir.display()
        )));
    }
    let source = args.source.as_deref();
    let partial = check_output(&args.output, false, source.unwrap_or(dir), args.overwrite)?;
    let ffmpeg = Ffmpeg::find(args.ffmpeg.as_deref())?;
    let (rate, audio, total) = match source {
        Some(video) => {
            let probed = ffmpeg.probe(video)?;
            let total = ffmpeg.count_frames(video, &probed.rate.0)?;
            (probed.rate, probed.audio, Some(total))
        }
        None => {
            if !(args.rate.is_finite() && args.rate > 0.0) {
                return Err(Failure::usage(format!(
                    "--rate {}: give a number of frames a second above 0",
                    args.rate
                )));
            }
            ((format!("{}", args.rate), args.rate), false, None)
        }
    };
    let numbers = numbered(dir, "frame_")?;
    let frames = check_complete(dir, &numbers, total)?;
    let leads = numbered(dir, "lead_")?;
    let first = load(&dir.join(frame_name(1)))?;
    let size = first.dimensions();
    say(&format!(
        "joining {frames} frames of {} ({}x{}, {} fading over lead-ins) at {} fps{} into {}",
        dir.display(),
        size.0,
        size.1,
        leads.len(),
        round(rate.1),
        if audio {
            " with the source's audio"
        } else {
            ""
        },
        args.output.display()
    ));
    let started = Instant::now();
    let mut encoder = ffmpeg.encode(
        &partial,
        size,
        &rate.0,
        audio.then_some(source).flatten(),
        &args.h264,
    )?;
    let bar = progress_bar(Some(frames), args.quiet);
    let written = (|| -> Result<(), Failure> {
        for number in 1..=frames {
            let path = dir.join(frame_name(number));
            let mut frame = load(&path)?;
            if frame.dimensions() != size {
                return Err(input(format!(
                    "{}: {}x{}, while frame 1 is {}x{}: the frames of a video have one size",
                    path.display(),
                    frame.width(),
                    frame.height(),
                    size.0,
                    size.1
                )));
            }
            if let Some(t) = fade(&leads, number) {
                let lead_path = dir.join(lead_name(number));
                let lead = load(&lead_path)?;
                if lead.dimensions() != size {
                    return Err(input(format!(
                        "{}: {}x{}, while the frames are {}x{}",
                        lead_path.display(),
                        lead.width(),
                        lead.height(),
                        size.0,
                        size.1
                    )));
                }
                blend(&mut frame, &lead, t);
            }
            encoder.write(&frame)?;
            bar.inc(1);
        }
        Ok(())
    })();
    bar.finish_and_clear();
    let finished = written.and_then(|()| encoder.finish());
    if let Err(failure) = finished {
        let _ = std::fs::remove_file(&partial);
        return Err(failure);
    }
    std::fs::rename(&partial, &args.output)
        .map_err(|e| Failure::io(Kind::Runtime, &args.output, e))?;
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        let record = serde_json::json!({
            "mode": "join",
            "frames_folder": dir.display().to_string(),
            "output": args.output.display().to_string(),
            "frames": frames,
            "lead_frames": leads.len(),
            "width": size.0,
            "height": size.1,
            "rate": rate.0,
            "audio": audio,
            "seconds": seconds,
        });
        println!("{record}");
    } else {
        say(&format!(
            "saved {} ({frames} frames) in {seconds:.1} s",
            args.output.display()
        ));
    }
    Ok(ExitCode::SUCCESS)
}

fn input(message: String) -> Failure {
    Failure {
        kind: Kind::Input,
        message,
    }
}

fn load(path: &Path) -> Result<RgbImage, Failure> {
    image_io::load_image(path).map_err(|e| input_failure(path, e))
}

/// The numbers of the files `PREFIXNNNNNN.png` in `dir`.
fn numbered(dir: &Path, prefix: &str) -> Result<BTreeSet<u64>, Failure> {
    let entries = std::fs::read_dir(dir).map_err(|e| Failure::io(Kind::Input, dir, e))?;
    Ok(entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let digits = name.strip_prefix(prefix)?.strip_suffix(".png")?;
            digits.parse::<u64>().ok().filter(|&n| n > 0)
        })
        .collect())
}

/// The number of frames, checked: `1..=total` all there (`total` the source's count, else
/// the highest number), none past it; a missing frame is named, with what to do.
fn check_complete(dir: &Path, numbers: &BTreeSet<u64>, total: Option<u64>) -> Result<u64, Failure> {
    let Some(&highest) = numbers.last() else {
        return Err(input(format!(
            "{}: holds no frames (frame_000001.png...): run `stylize video --shard I/N -o {}` \
             for each shard first",
            dir.display(),
            dir.display()
        )));
    };
    let total = total.unwrap_or(highest);
    if highest > total {
        return Err(input(format!(
            "{}: holds frame {highest}, past the source's {total} frames: the frames of another \
             video? Give the source they were painted from, or a folder of its frames only",
            dir.display()
        )));
    }
    let missing: Vec<u64> = (1..=total).filter(|n| !numbers.contains(n)).collect();
    if let (Some(first), Some(last)) = (missing.first(), missing.last()) {
        return Err(input(format!(
            "{}: {} of the {total} frames are missing (frame {first}{}): run the shards that \
             paint them again (the same `stylize video` command with their --shard resumes \
             where it stopped)",
            dir.display(),
            missing.len(),
            if first == last {
                String::new()
            } else {
                format!(" to {last}")
            }
        )));
    }
    Ok(total)
}

/// How much of frame `number`'s lead-in goes into it, when it has one: the lead-ins before
/// a chunk (consecutive numbers) fade in over their run, `k / (n + 1)` at the k-th of `n`,
/// so the chunk's first frame continues from the lead-in at nearly full weight.
fn fade(leads: &BTreeSet<u64>, number: u64) -> Option<f32> {
    if !leads.contains(&number) {
        return None;
    }
    let mut start = number;
    while start > 1 && leads.contains(&(start - 1)) {
        start -= 1;
    }
    let mut end = number;
    while leads.contains(&(end + 1)) {
        end += 1;
    }
    Some((number - start + 1) as f32 / (end - start + 2) as f32)
}

/// `frame` becomes `(1 - t) frame + t other`, rounded.
fn blend(frame: &mut RgbImage, other: &RgbImage, t: f32) {
    for (a, b) in frame.as_mut().iter_mut().zip(other.as_raw()) {
        *a = ((1.0 - t) * f32::from(*a) + t * f32::from(*b)).round() as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn lead_ins_fade_in_over_their_run() {
        let leads: BTreeSet<u64> = [5, 6, 7, 20].into_iter().collect();
        assert_eq!(fade(&leads, 4), None);
        assert_eq!(fade(&leads, 5), Some(0.25));
        assert_eq!(fade(&leads, 6), Some(0.5));
        assert_eq!(fade(&leads, 7), Some(0.75));
        assert_eq!(fade(&leads, 20), Some(0.5));
        assert_eq!(fade(&leads, 21), None);
    }

    #[test]
    fn missing_and_extra_frames_are_named() {
        let dir = PathBuf::from("frames");
        let some: BTreeSet<u64> = [1, 2, 4, 5].into_iter().collect();
        let e = check_complete(&dir, &some, None).unwrap_err();
        assert_eq!(e.kind, Kind::Input);
        assert!(
            e.message
                .contains("1 of the 5 frames are missing (frame 3)"),
            "{}",
            e.message
        );
        let e = check_complete(&dir, &some, Some(8)).unwrap_err();
        assert!(
            e.message
                .contains("4 of the 8 frames are missing (frame 3 to 8)"),
            "{}",
            e.message
        );
        let e = check_complete(&dir, &some, Some(4)).unwrap_err();
        assert!(
            e.message.contains("past the source's 4 frames"),
            "{}",
            e.message
        );
        let all: BTreeSet<u64> = (1..=5).collect();
        assert_eq!(check_complete(&dir, &all, Some(5)).unwrap(), 5);
        assert_eq!(check_complete(&dir, &all, None).unwrap(), 5);
        let e = check_complete(&dir, &BTreeSet::new(), None).unwrap_err();
        assert!(e.message.contains("holds no frames"), "{}", e.message);
    }

    #[test]
    fn a_blend_weighs_both_frames() {
        let mut a = RgbImage::from_pixel(2, 1, image::Rgb([0, 100, 255]));
        let b = RgbImage::from_pixel(2, 1, image::Rgb([100, 0, 255]));
        blend(&mut a, &b, 0.25);
        assert_eq!(a.get_pixel(1, 0).0, [25, 75, 255]);
    }
}
