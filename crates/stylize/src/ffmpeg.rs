//! The `ffmpeg` program as `stylize video`'s decoder and encoder: found on PATH (or given by
//! `--ffmpeg`), its version checked, the source probed with `ffprobe` (beside it), frames read
//! from and written to pipes as raw RGB (no temporary images), the source's audio copied
//! unchanged into the result. Each child runs in its own process group, so that Ctrl-C
//! reaches `stylize` alone, which then closes the encoder's input and lets it finish a
//! playable file.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use image::RgbImage;

use crate::cli::H264Args;
use crate::failure::{Failure, Kind};

/// The oldest ffmpeg whose options these commands use (Debian 11 ships 4.3, 12 ships 5.1).
const OLDEST: (u32, u32) = (4, 3);

/// The ffmpeg and ffprobe programs, checked.
#[derive(Debug)]
pub struct Ffmpeg {
    ffmpeg: PathBuf,
    ffprobe: PathBuf,
}

/// What the source video holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Source {
    /// Frame width and height.
    pub size: (u32, u32),
    /// The frame rate as ffmpeg writes it (`30000/1001`), and its value.
    pub rate: (String, f64),
    /// The number of frames, when the container says.
    pub frames: Option<u64>,
    /// Whether there is an audio stream to copy.
    pub audio: bool,
}

/// A failure naming the missing or unusable program and the package that provides it.
fn missing(program: &Path, why: String) -> Failure {
    Failure {
        kind: Kind::Usage,
        message: format!(
            "{}: {why}; stylize video decodes and encodes through the ffmpeg program: install \
             it (Debian/Ubuntu: apt install ffmpeg) or give its path with --ffmpeg",
            program.display()
        ),
    }
}

/// A child process in its own process group, so that the terminal's Ctrl-C does not reach it.
fn command(program: &Path) -> Command {
    let mut command = Command::new(program);
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    command
}

impl Ffmpeg {
    /// `given`, else `ffmpeg` on PATH, with `ffprobe` beside it (or on PATH): both run and
    /// are at least ffmpeg 4.3.
    pub fn find(given: Option<&Path>) -> Result<Self, Failure> {
        let ffmpeg = given.map_or_else(|| PathBuf::from("ffmpeg"), Path::to_path_buf);
        let out = command(&ffmpeg)
            .arg("-version")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| missing(&ffmpeg, format!("cannot run it ({e})")))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let version = text
            .split_whitespace()
            .nth(2)
            .filter(|_| text.starts_with("ffmpeg version"))
            .ok_or_else(|| missing(&ffmpeg, "it does not say it is ffmpeg".into()))?;
        let mut numbers = version
            .trim_start_matches(|c: char| !c.is_ascii_digit())
            .split(|c: char| !c.is_ascii_digit())
            .map(|n| n.parse::<u32>().unwrap_or(0));
        let found = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
        if found < OLDEST {
            return Err(missing(
                &ffmpeg,
                format!(
                    "version {version} is older than {}.{}, the oldest these commands run on",
                    OLDEST.0, OLDEST.1
                ),
            ));
        }
        let beside = ffmpeg.with_file_name("ffprobe");
        let ffprobe = match ffmpeg.parent().is_some_and(|p| !p.as_os_str().is_empty()) {
            true if beside.exists() => beside,
            _ => PathBuf::from("ffprobe"),
        };
        Ok(Ffmpeg { ffmpeg, ffprobe })
    }

    /// The source's first video stream: size, frame rate, frame count, and whether it has
    /// audio. Not a video, or a video without frames, is an input failure (exit 3).
    pub fn probe(&self, input: &Path) -> Result<Source, Failure> {
        let bad = |why: String| Failure {
            kind: Kind::Input,
            message: format!("{}: {why}", input.display()),
        };
        if !input.is_file() {
            return Err(bad("no such file".into()));
        }
        let out = command(&self.ffprobe)
            .args(["-v", "error", "-show_entries"])
            .arg("stream=codec_type,width,height,r_frame_rate,avg_frame_rate,nb_frames")
            .args(["-of", "json"])
            .arg(input)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| missing(&self.ffprobe, format!("cannot run it ({e})")))?;
        if !out.status.success() {
            let why = String::from_utf8_lossy(&out.stderr);
            return Err(bad(format!(
                "not a video ffmpeg can read ({})",
                why.trim().lines().last().unwrap_or("no reason given")
            )));
        }
        let json: serde_json::Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| bad(format!("ffprobe's answer is not JSON ({e})")))?;
        let streams = json["streams"].as_array().cloned().unwrap_or_default();
        let video = streams
            .iter()
            .find(|s| s["codec_type"] == "video" && s["width"].as_u64().is_some_and(|w| w > 0))
            .ok_or_else(|| bad("has no video stream".into()))?;
        let audio = streams.iter().any(|s| s["codec_type"] == "audio");
        let rate = |key: &str| {
            let text = video[key].as_str().unwrap_or("0/0").to_string();
            let value = match text.split_once('/') {
                Some((n, d)) => n.parse::<f64>().unwrap_or(0.0) / d.parse::<f64>().unwrap_or(0.0),
                None => text.parse().unwrap_or(0.0),
            };
            (text, value)
        };
        // A variable frame rate is read as constant at its average (frames kept in order).
        let (real, average) = (rate("r_frame_rate"), rate("avg_frame_rate"));
        let rate = match average.1.is_finite() && average.1 > 0.0 {
            true => average,
            false => real,
        };
        if !(rate.1.is_finite() && rate.1 > 0.0) {
            return Err(bad("has no frame rate".into()));
        }
        let frames = video["nb_frames"]
            .as_str()
            .and_then(|n| n.parse::<u64>().ok());
        if frames == Some(0) {
            return Err(bad("has no frames".into()));
        }
        Ok(Source {
            size: (
                video["width"].as_u64().unwrap_or(0) as u32,
                video["height"].as_u64().unwrap_or(0) as u32,
            ),
            rate,
            frames,
            audio,
        })
    }

    /// Decodes `input`'s first video stream at `rate` frames a second (constant), scaled to
    /// `size`, as raw RGB frames.
    pub fn decode(&self, input: &Path, size: (u32, u32), rate: &str) -> Result<Decoder, Failure> {
        let mut child = command(&self.ffmpeg)
            .args(["-v", "error", "-nostdin", "-i"])
            .arg(input)
            .args(["-map", "0:v:0", "-r", rate, "-vf"])
            .arg(format!("scale={}:{}:flags=area", size.0, size.1))
            .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| missing(&self.ffmpeg, format!("cannot run it ({e})")))?;
        let stdout = child.stdout.take().expect("piped");
        Ok(Decoder {
            child,
            stdout,
            size,
        })
    }

    /// The number of frames [`Ffmpeg::decode`] yields from `input` at `rate`: every frame
    /// decoded (at a small size), since a container's count may be missing or differ from
    /// the frames at a constant rate. Shards agree on their chunks through it.
    pub fn count_frames(&self, input: &Path, rate: &str) -> Result<u64, Failure> {
        let mut decoder = self.decode(input, (16, 16), rate)?;
        let mut count = 0;
        while decoder.next_frame()?.is_some() {
            count += 1;
        }
        if count == 0 {
            return Err(Failure {
                kind: Kind::Input,
                message: format!("{}: has no frames", input.display()),
            });
        }
        Ok(count)
    }

    /// Encodes raw RGB frames of `size` at `rate` into `output` (H.264, yuv420p, at `h264`'s
    /// CRF and x264 preset), with `audio_from`'s audio copied unchanged when given.
    pub fn encode(
        &self,
        output: &Path,
        size: (u32, u32),
        rate: &str,
        audio_from: Option<&Path>,
        h264: &H264Args,
    ) -> Result<Encoder, Failure> {
        let mut cmd = command(&self.ffmpeg);
        cmd.args([
            "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s",
        ])
        .arg(format!("{}x{}", size.0, size.1))
        .args(["-r", rate, "-i", "-"]);
        if let Some(source) = audio_from {
            cmd.arg("-i")
                .arg(source)
                .args(["-map", "0:v", "-map", "1:a", "-c:a", "copy"]);
        }
        cmd.args([
            "-c:v",
            "libx264",
            "-preset",
            &h264.preset,
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-crf", &h264.crf.to_string()])
        .args(["-movflags", "+faststart"]);
        if audio_from.is_some() {
            cmd.arg("-shortest");
        }
        let mut child = cmd
            .arg(output)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| missing(&self.ffmpeg, format!("cannot run it ({e})")))?;
        let stdin = child.stdin.take().expect("piped");
        Ok(Encoder {
            child,
            stdin: Some(stdin),
            output: output.to_path_buf(),
        })
    }
}

/// The last lines of a finished child's standard error.
fn stderr_tail(child: &mut Child) -> String {
    let mut text = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.trim().lines().collect();
    lines[lines.len().saturating_sub(3)..].join("; ")
}

/// Raw frames from an ffmpeg decoding a video.
pub struct Decoder {
    child: Child,
    stdout: ChildStdout,
    size: (u32, u32),
}

impl Decoder {
    /// The next frame, `None` at the end; a failure when ffmpeg stopped with an error.
    pub fn next_frame(&mut self) -> Result<Option<RgbImage>, Failure> {
        let len = self.size.0 as usize * self.size.1 as usize * 3;
        let mut buffer = vec![0u8; len];
        let mut filled = 0;
        while filled < len {
            match self.stdout.read(&mut buffer[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(Failure {
                        kind: Kind::Runtime,
                        message: format!("reading frames from ffmpeg: {e}"),
                    });
                }
            }
        }
        if filled == len {
            return Ok(RgbImage::from_raw(self.size.0, self.size.1, buffer));
        }
        let status = self.child.wait().map_err(|e| Failure {
            kind: Kind::Runtime,
            message: format!("waiting for ffmpeg: {e}"),
        })?;
        if !status.success() || filled > 0 {
            return Err(Failure {
                kind: Kind::Input,
                message: format!(
                    "ffmpeg stopped decoding ({status}{}): {}",
                    if filled > 0 {
                        ", in the middle of a frame"
                    } else {
                        ""
                    },
                    stderr_tail(&mut self.child)
                ),
            });
        }
        Ok(None)
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An ffmpeg encoding raw frames into a video file.
pub struct Encoder {
    child: Child,
    stdin: Option<ChildStdin>,
    output: PathBuf,
}

impl Encoder {
    /// Writes one frame.
    pub fn write(&mut self, frame: &RgbImage) -> Result<(), Failure> {
        let stdin = self.stdin.as_mut().expect("open until finish");
        if let Err(e) = stdin.write_all(frame.as_raw()) {
            let _ = self.stdin.take();
            let _ = self.child.wait();
            return Err(Failure {
                kind: Kind::Runtime,
                message: format!(
                    "ffmpeg stopped encoding {} ({e}): {}",
                    self.output.display(),
                    stderr_tail(&mut self.child)
                ),
            });
        }
        Ok(())
    }

    /// Closes the input and waits for ffmpeg to finish the file.
    pub fn finish(mut self) -> Result<(), Failure> {
        drop(self.stdin.take());
        let status = self.child.wait().map_err(|e| Failure {
            kind: Kind::Runtime,
            message: format!("waiting for ffmpeg: {e}"),
        })?;
        if !status.success() {
            return Err(Failure {
                kind: Kind::Runtime,
                message: format!(
                    "ffmpeg could not finish {} ({status}): {}",
                    self.output.display(),
                    stderr_tail(&mut self.child)
                ),
            });
        }
        Ok(())
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        if self.stdin.is_some() {
            drop(self.stdin.take());
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
