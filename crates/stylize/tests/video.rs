//! `stylize video` from the real binary with the real ffmpeg: a short clip made here (a pan
//! over a real photo, with a sine tone) comes back with every frame, its frame rate, its
//! audio and even sides; bad inputs (not a video, no ffmpeg, an output that is not a video,
//! an output that exists) are refused with their exit codes, nothing left behind; the
//! optimization mode (`--optimize`) paints a frames folder in a chain and resumes it; shards
//! paint consecutive chunks that `stylize join` makes into the whole video; a video file
//! stopped by Ctrl-C is playable and the same command resumes it.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use image::RgbImage;
use style_transfer::image_io::{self, Size};
use tempfile::TempDir;

use support::{content, listing, s, stylize_in, succeeded};

/// A `frames`-frame clip of `w x h` at 12 frames a second panning over the example photo
/// (2 pixels a frame), with one second of a 440 Hz tone, H.264 and AAC in .mp4.
fn clip(dir: &Path, name: &str, (w, h): (u32, u32), frames: u32) -> PathBuf {
    let photo = image_io::resize(
        &image_io::load_image(content()).unwrap(),
        Size::Longest(256),
    );
    let path = dir.join(name);
    let mut child = Command::new("ffmpeg")
        .args([
            "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s",
        ])
        .arg(format!("{w}x{h}"))
        .args([
            "-r",
            "12",
            "-i",
            "-",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=1",
        ])
        .args([
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv444p",
            "-c:a",
            "aac",
            "-shortest",
        ])
        .arg(&path)
        .stdin(Stdio::piped())
        .spawn()
        .expect("ffmpeg (apt install ffmpeg) makes the test clip");
    let mut stdin = child.stdin.take().unwrap();
    for k in 0..frames {
        let frame = RgbImage::from_fn(w, h, |x, y| *photo.get_pixel(x + 2 * k, y + 20));
        stdin.write_all(frame.as_raw()).unwrap();
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
    path
}

/// ffprobe's view of a file's streams.
fn streams(path: &Path) -> Vec<serde_json::Value> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-show_entries"])
        .arg("stream=codec_type,codec_name,width,height,r_frame_rate,nb_read_frames,pix_fmt")
        .args(["-of", "json"])
        .arg(path)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json["streams"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_clip_comes_back_with_every_frame_its_rate_and_its_audio() {
    let dir = TempDir::new().unwrap();
    // Odd sides: H.264 needs even ones, so the last column and row are left out.
    let input = clip(dir.path(), "clip.mp4", (97, 65), 12);
    let args = [
        s(&input),
        "--style",
        "3",
        "-o",
        "out.mp4",
        "--json",
        "--quiet",
    ];
    let mut command = vec!["video"];
    command.extend(args);
    let stdout = succeeded(&command, &stylize_in(dir.path(), &command));
    let record: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(record["frames"], 12, "{record}");
    assert_eq!(
        (record["width"].as_u64(), record["height"].as_u64()),
        (Some(96), Some(64))
    );
    let streams = streams(&dir.path().join("out.mp4"));
    let video = streams.iter().find(|s| s["codec_type"] == "video").unwrap();
    assert_eq!(video["codec_name"], "h264", "{video}");
    assert_eq!(video["pix_fmt"], "yuv420p", "{video}");
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(96), Some(64))
    );
    assert_eq!(video["r_frame_rate"], "12/1", "{video}");
    assert_eq!(video["nb_read_frames"], "12", "{video}");
    let audio = streams.iter().find(|s| s["codec_type"] == "audio");
    assert_eq!(
        audio.map(|a| a["codec_name"].clone()),
        Some("aac".into()),
        "{streams:?}"
    );
    // Nothing but the clip and the result.
    assert_eq!(listing(dir.path()), ["clip.mp4", "out.mp4"]);
    // The encoder's settings, as x264 records them in the stream: `medium` by default, and
    // what --preset and --crf say.
    let options = x264_options(&dir.path().join("out.mp4"));
    assert!(
        options.contains(" subme=7 ") && options.contains(" crf=18.0 "),
        "{options}"
    );
    let command = [
        "video",
        s(&input),
        "-o",
        "fast.mp4",
        "--preset",
        "ultrafast",
        "--crf",
        "30",
        "--quiet",
    ];
    succeeded(&command, &stylize_in(dir.path(), &command));
    let options = x264_options(&dir.path().join("fast.mp4"));
    assert!(
        options.contains(" subme=0 ") && options.contains(" crf=30.0 "),
        "{options}"
    );
}

/// The options x264 writes into the stream it encodes (`cabac=1 ref=3 ...`).
fn x264_options(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    let key = b"options: ";
    let at = bytes
        .windows(key.len())
        .position(|w| w == key)
        .expect("x264's options in the stream");
    let rest = &bytes[at + key.len()..];
    let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    format!(" {} ", String::from_utf8_lossy(&rest[..end]))
}

#[test]
fn bad_inputs_are_refused_and_leave_nothing() {
    let dir = TempDir::new().unwrap();
    let input = clip(dir.path(), "clip.mp4", (48, 32), 3);
    std::fs::write(dir.path().join("notes.mp4"), "not a video").unwrap();
    std::fs::write(dir.path().join("taken.mp4"), "already here").unwrap();
    let before = listing(dir.path());
    let clip = s(&input);
    for (args, code, needle) in [
        (
            &["video", "notes.mp4", "-o", "out.mp4"][..],
            3,
            "not a video",
        ),
        (
            &["video", "missing.mp4", "-o", "out.mp4"],
            3,
            "no such file",
        ),
        (
            &[
                "video",
                clip,
                "-o",
                "out.mp4",
                "--ffmpeg",
                "/nonexistent/ffmpeg",
            ],
            2,
            "apt install ffmpeg",
        ),
        (&["video", clip, "-o", "out.png"], 2, "a video file"),
        (&["video", clip, "-o", "taken.mp4"], 2, "--overwrite"),
        (
            &["video", clip, "-o", "clip.mp4", "--overwrite"],
            2,
            "replace the input",
        ),
        (
            &["video", clip, "-o", "out.mp4", "--size", "10"],
            2,
            "too small",
        ),
    ] {
        let out = stylize_in(dir.path(), args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(listing(dir.path()), before, "{args:?} left files");
    }
}

/// `n` frames of a pan over the example photo, as `frame_1.png`... in `dir`.
fn frames_folder(dir: &Path, n: u32, size: (u32, u32)) -> PathBuf {
    let photo = image_io::resize(
        &image_io::load_image(content()).unwrap(),
        Size::Longest(256),
    );
    std::fs::create_dir_all(dir).unwrap();
    for k in 0..n {
        let frame = RgbImage::from_fn(size.0, size.1, |x, y| *photo.get_pixel(x + 2 * k, y + 20));
        image_io::save_image(&frame, dir.join(format!("shot_{}.png", k + 1))).unwrap();
    }
    dir.to_path_buf()
}

#[test]
fn a_frames_folder_in_a_frames_folder_out_and_a_rerun_resumes() {
    let dir = TempDir::new().unwrap();
    let input = frames_folder(&dir.path().join("in"), 6, (64, 48));
    let args = [
        "video",
        s(&input),
        "--style",
        "5",
        "-o",
        "out",
        "--json",
        "--quiet",
    ];
    let record = |out: String| -> serde_json::Value { serde_json::from_str(out.trim()).unwrap() };
    let first = record(succeeded(&args, &stylize_in(dir.path(), &args)));
    assert_eq!(
        (first["frames"].as_u64(), first["frames_stylized"].as_u64()),
        (Some(6), Some(6))
    );
    let names = listing(&dir.path().join("out"));
    assert_eq!(names.len(), 6, "{names:?}");
    assert_eq!(names[0], "frame_000001.png");
    // Frames 4 to 6 lost (a run cut short): the rerun makes only those, the same as before.
    let fifth = std::fs::read(dir.path().join("out/frame_000005.png")).unwrap();
    for k in 4..=6 {
        std::fs::remove_file(dir.path().join(format!("out/frame_{k:06}.png"))).unwrap();
    }
    let again = record(succeeded(&args, &stylize_in(dir.path(), &args)));
    assert_eq!(again["frames_stylized"].as_u64(), Some(3), "{again}");
    assert_eq!(listing(&dir.path().join("out")).len(), 6);
    let redone = std::fs::read(dir.path().join("out/frame_000005.png")).unwrap();
    assert_eq!(
        fifth, redone,
        "the resumed chain gives the frames the first run gave"
    );
}

#[test]
fn frames_folders_with_gaps_or_mixed_sizes_are_refused() {
    let dir = TempDir::new().unwrap();
    let gaps = frames_folder(&dir.path().join("gaps"), 4, (64, 48));
    std::fs::remove_file(gaps.join("shot_3.png")).unwrap();
    let mixed = frames_folder(&dir.path().join("mixed"), 3, (64, 48));
    frames_folder(&dir.path().join("other"), 1, (48, 48));
    std::fs::rename(
        dir.path().join("other/shot_1.png"),
        mixed.join("shot_4.png"),
    )
    .unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    for (input, needle) in [
        (&gaps, "a frame is missing"),
        (&mixed, "one size"),
        (&empty, "holds no frames"),
    ] {
        let args = ["video", s(input), "-o", "out", "--quiet"];
        let out = stylize_in(dir.path(), &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn the_optimization_mode_chains_frames_and_a_rerun_resumes() {
    let dir = TempDir::new().unwrap();
    let input = frames_folder(&dir.path().join("in"), 4, (48, 32));
    let style = support::style();
    let args = [
        "video",
        s(&input),
        "--optimize",
        "--style-image",
        s(&style),
        "--size",
        "48x32",
        "--iterations",
        "4",
        "--later-iterations",
        "2",
        // Held to two frames back too: the rerun must restart the chain from both.
        "--long-term",
        "2",
        "-o",
        "out",
        "--json",
        "--quiet",
    ];
    let record = |out: String| -> serde_json::Value { serde_json::from_str(out.trim()).unwrap() };
    let first = record(succeeded(&args, &stylize_in(dir.path(), &args)));
    assert_eq!(first["frames_stylized"].as_u64(), Some(4), "{first}");
    assert_eq!(first["optimize"].as_bool(), Some(true), "{first}");
    assert_eq!(first["long_term"], serde_json::json!([2]), "{first}");
    let frame =
        |k: u32| image_io::load_image(dir.path().join(format!("out/frame_{k:06}.png"))).unwrap();
    assert_eq!(frame(1).dimensions(), (48, 32));
    // Painted, not copied: every frame differs from its input.
    let shot = image_io::load_image(input.join("shot_2.png")).unwrap();
    assert_ne!(frame(2), shot);
    let fourth = std::fs::read(dir.path().join("out/frame_000004.png")).unwrap();
    for k in 3..=4 {
        std::fs::remove_file(dir.path().join(format!("out/frame_{k:06}.png"))).unwrap();
    }
    let again = record(succeeded(&args, &stylize_in(dir.path(), &args)));
    assert_eq!(again["frames_stylized"].as_u64(), Some(2), "{again}");
    let redone = std::fs::read(dir.path().join("out/frame_000004.png")).unwrap();
    assert_eq!(
        fourth, redone,
        "the resumed chain gives the frames the first run gave"
    );
    // --optimize needs the painting.
    let bare = ["video", s(&input), "--optimize", "-o", "other"];
    let out = stylize_in(dir.path(), &bare);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--style-image"));
    assert!(!dir.path().join("other").exists());
}

#[test]
fn shards_paint_consecutive_chunks_and_join_makes_the_whole_video() {
    let dir = TempDir::new().unwrap();
    let input = clip(dir.path(), "clip.mp4", (64, 48), 20);
    let clip = s(&input);
    let record = |out: String| -> serde_json::Value { serde_json::from_str(out.trim()).unwrap() };
    let shard = |which: &str| {
        let args = [
            "video",
            clip,
            "--style",
            "5",
            "--shard",
            which,
            "--overlap",
            "3",
            "-o",
            "frames",
            "--json",
            "--quiet",
        ];
        record(succeeded(&args, &stylize_in(dir.path(), &args)))
    };
    // Chunks of 20 frames in 3: 1-6, 7-13 (lead-in 4-6), 14-20 (lead-in 11-13).
    let last = shard("2/3");
    assert_eq!(
        (last["first_frame"].as_u64(), last["lead_frames"].as_u64()),
        (Some(14), Some(3)),
        "{last}"
    );
    assert_eq!(last["frames_stylized"].as_u64(), Some(10), "{last}");
    let first = shard("0/3");
    assert_eq!(first["lead_frames"].as_u64(), Some(0), "{first}");
    assert_eq!(first["frames_stylized"].as_u64(), Some(6), "{first}");
    // Joining before every chunk is there names the frames missing, and writes nothing.
    let join = [
        "join",
        "frames",
        "--source",
        clip,
        "-o",
        "styled.mp4",
        "--json",
        "--quiet",
    ];
    let early = stylize_in(dir.path(), &join);
    let stderr = String::from_utf8_lossy(&early.stderr);
    assert_eq!(early.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("7 of the 20 frames are missing (frame 7 to 13)"),
        "{stderr}"
    );
    assert!(!dir.path().join("styled.mp4").exists());
    shard("1/3");
    let names = listing(&dir.path().join("frames"));
    let leads: Vec<&String> = names.iter().filter(|n| n.starts_with("lead_")).collect();
    assert_eq!(
        leads,
        [
            "lead_000004.png",
            "lead_000005.png",
            "lead_000006.png",
            "lead_000011.png",
            "lead_000012.png",
            "lead_000013.png"
        ]
    );
    assert_eq!(names.len(), 26, "{names:?}");

    // The first chunk is the whole video's chain from its start: the same frames.
    let whole = ["video", clip, "--style", "5", "-o", "whole", "--quiet"];
    succeeded(&whole, &stylize_in(dir.path(), &whole));
    let bytes = |path: &str| std::fs::read(dir.path().join(path)).unwrap();
    for k in 1..=6 {
        let name = format!("frame_{k:06}.png");
        assert!(
            bytes(&format!("frames/{name}")) == bytes(&format!("whole/{name}")),
            "{name}"
        );
    }
    // A chunk cut short resumes where it stopped, with the frames it gave before.
    let twelfth = bytes("frames/frame_000012.png");
    for k in [12, 13] {
        std::fs::remove_file(dir.path().join(format!("frames/frame_{k:06}.png"))).unwrap();
    }
    let resumed = shard("1/3");
    assert_eq!(resumed["frames_stylized"].as_u64(), Some(2), "{resumed}");
    assert!(bytes("frames/frame_000012.png") == twelfth);

    let joined = record(succeeded(&join, &stylize_in(dir.path(), &join)));
    assert_eq!(
        (joined["frames"].as_u64(), joined["lead_frames"].as_u64()),
        (Some(20), Some(6)),
        "{joined}"
    );
    let streams = streams(&dir.path().join("styled.mp4"));
    let video = streams.iter().find(|s| s["codec_type"] == "video").unwrap();
    assert_eq!(video["nb_read_frames"], "20", "{video}");
    assert_eq!(video["r_frame_rate"], "12/1", "{video}");
    assert!(
        streams.iter().any(|s| s["codec_type"] == "audio"),
        "the source's audio: {streams:?}"
    );

    // A shard writing a video file, and a shard without frames (20 frames in 30 shards: the
    // first has none).
    let to_file = ["video", clip, "--shard", "0/2", "-o", "part.mp4", "--quiet"];
    let out = stylize_in(dir.path(), &to_file);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("stylize join"), "{stderr}");
    let empty = [
        "video", clip, "--shard", "0/30", "-o", "sparse", "--json", "--quiet",
    ];
    let none = record(succeeded(&empty, &stylize_in(dir.path(), &empty)));
    assert_eq!(none["frames_stylized"].as_u64(), Some(0), "{none}");
    assert!(!dir.path().join("sparse").exists());
    assert!(!dir.path().join("part.mp4").exists());
}

#[test]
fn a_video_stopped_by_ctrl_c_is_playable_and_the_same_command_resumes_it() {
    let dir = TempDir::new().unwrap();
    clip(dir.path(), "clip.mp4", (48, 32), 6);
    let style = support::style();
    let args = [
        "video",
        "clip.mp4",
        "--optimize",
        "--style-image",
        s(&style),
        "--size",
        "48x32",
        "--iterations",
        "60",
        "--later-iterations",
        "30",
        "-o",
        "out.mp4",
    ];
    // Without a terminal the progress comes as lines: stop after the first frame's.
    let mut command = Command::new(env!("CARGO_BIN_EXE_stylize"));
    command.args(args).current_dir(dir.path());
    let (code, seen) = support::interrupted(command, "frame 1 done");
    assert_eq!(code, Some(130), "{seen}");
    assert!(seen.contains("the same command again goes on"), "{seen}");
    let frames = |path: &str| -> u64 {
        let streams = streams(&dir.path().join(path));
        let video = streams.iter().find(|s| s["codec_type"] == "video").unwrap();
        video["nb_read_frames"].as_str().unwrap().parse().unwrap()
    };
    let kept = frames("out.mp4");
    assert!((1..6).contains(&kept), "{kept} frames kept\n{seen}");

    // Another command does not take the interrupted video over.
    let mut other = args.to_vec();
    other.extend(["--temporal-weight", "0"]);
    let refused = stylize_in(dir.path(), &other);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("give that command again"), "{stderr}");
    assert_eq!(frames("out.mp4"), kept);

    // The same command goes on after the frames kept, and the video ends whole, with audio.
    let resumed = stylize_in(dir.path(), &args);
    let stderr = succeeded(&args, &resumed);
    let stderr = stderr + &String::from_utf8_lossy(&resumed.stderr);
    assert!(
        stderr.contains(&format!("resuming after the {kept} frames done")),
        "{stderr}"
    );
    let streams = streams(&dir.path().join("out.mp4"));
    let video = streams.iter().find(|s| s["codec_type"] == "video").unwrap();
    assert_eq!(video["nb_read_frames"], "6", "{video}");
    assert_eq!(video["r_frame_rate"], "12/1", "{video}");
    assert!(streams.iter().any(|s| s["codec_type"] == "audio"));
    assert_eq!(listing(dir.path()), ["clip.mp4", "out.mp4"]);
}
