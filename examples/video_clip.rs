//! The video benchmark's clip and its measures (docs/video.md): a camera pan over a real
//! photo with an object moving across it, every motion known.
//!
//! ```text
//! cargo run --release --example video_clip -- make clip.mp4 [WIDTHxHEIGHT] [FRAMES]
//! cargo run --release --example video_clip -- measure styled.mp4 [WIDTHxHEIGHT] [FRAMES] [--gap K]
//! cargo run --release --example video_clip -- flow [WIDTHxHEIGHT] [--dump DIR] [--finest N]
//! cargo run --release --example video_clip -- flows VIDEO WIDTHxHEIGHT DIR
//! ```
//!
//! `make` writes the clip (H.264 at 24 frames a second, through the ffmpeg program).
//! `measure` decodes a stylized copy of it and prints, as JSON, the mean warping error
//! between consecutive frames (Lai et al. 2018: mean squared difference, 0-1 values, between
//! each frame and the previous one moved by the true motion, over the pixels visible in both)
//! and the mean sharpness (mean gradient magnitude), and each pair's error; with `--gap K`,
//! between each frame and the one K before it (long-term consistency). `flow` times the
//! optical flow on one frame pair of the clip and prints its endpoint error against the true
//! motion. `flows` writes our flow between the consecutive frames of any video (for
//! `benches/real_clip_floor.py`).
//!
//! The clip: the window pans 3 pixels a frame to the right and 1 down over
//! `examples/images/tubingen.jpg` (the scene moves left and up), while a 64-pixel square cut
//! from `the_scream.jpg` moves 5 pixels a frame to the right and 2 down over it.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

use image::RgbImage;
use style_transfer::image_io::{self, Size};
use style_transfer::video::flow::{Dis, Flow, Gray};
use style_transfer::video::temporal::{sharpness, warping_error};

const PAN: (f32, f32) = (3.0, 1.0);
const OBJECT: (f32, f32) = (5.0, 2.0);
const SIDE: u32 = 64;

/// The scene: the photo, large enough for the pan, and the object.
struct Scene {
    photo: RgbImage,
    object: RgbImage,
}

impl Scene {
    fn new((w, h): (u32, u32), frames: u32) -> Self {
        let need = (
            w + (PAN.0 * frames as f32) as u32 + 8,
            h + (PAN.1 * frames as f32) as u32 + 8,
        );
        let photo = image_io::load_image("examples/images/tubingen.jpg").expect("the photo");
        let scale =
            (need.0 as f32 / photo.width() as f32).max(need.1 as f32 / photo.height() as f32);
        let size = Size::Exact {
            width: (photo.width() as f32 * scale).ceil() as u32,
            height: (photo.height() as f32 * scale).ceil() as u32,
        };
        let object = image_io::resize(
            &image_io::load_image("examples/images/the_scream.jpg").expect("the painting"),
            Size::Exact {
                width: SIDE,
                height: SIDE,
            },
        );
        Scene {
            photo: image_io::resize(&photo, size),
            object,
        }
    }

    /// The object's top-left corner in frame `k`.
    fn object_at(k: u32) -> (i64, i64) {
        (
            20 + (OBJECT.0 * k as f32) as i64,
            30 + (OBJECT.1 * k as f32) as i64,
        )
    }

    fn frame(&self, (w, h): (u32, u32), k: u32) -> RgbImage {
        let (px, py) = ((PAN.0 * k as f32) as u32, (PAN.1 * k as f32) as u32);
        let (ox, oy) = Self::object_at(k);
        RgbImage::from_fn(w, h, |x, y| {
            let (dx, dy) = (x as i64 - ox, y as i64 - oy);
            if (0..SIDE as i64).contains(&dx) && (0..SIDE as i64).contains(&dy) {
                *self.object.get_pixel(dx as u32, dy as u32)
            } else {
                *self.photo.get_pixel(x + px, y + py)
            }
        })
    }

    /// The true motion from frame `k` back to frame `k - gap`, and where it is visible in
    /// both (away from the object's edges and the frame's).
    fn back(&self, (w, h): (u32, u32), k: u32, gap: u32) -> (Flow, Vec<f32>) {
        let mut flow = Flow::zero(w as usize, h as usize);
        let mut mask = vec![0.0; (w * h) as usize];
        let inside = |(x, y): (i64, i64), (ox, oy): (i64, i64), margin: i64| {
            (x - ox >= -margin && x - ox < SIDE as i64 + margin)
                && (y - oy >= -margin && y - oy < SIDE as i64 + margin)
        };
        let (now, before) = (Self::object_at(k), Self::object_at(k - gap));
        let g = gap as f32;
        for y in 0..h as i64 {
            for x in 0..w as i64 {
                let i = (y * w as i64 + x) as usize;
                let on_object = inside((x, y), now, 0);
                let (u, v) = match on_object {
                    true => (-OBJECT.0 * g, -OBJECT.1 * g),
                    false => (PAN.0 * g, PAN.1 * g),
                };
                flow.u[i] = u;
                flow.v[i] = v;
                let (sx, sy) = (x as f32 + u, y as f32 + v);
                let in_frame = sx >= 0.0 && sy >= 0.0 && sx < (w - 1) as f32 && sy < (h - 1) as f32;
                let object_then = inside((sx as i64, sy as i64), before, 0);
                let near_edge = inside((x, y), now, 3) && !inside((x, y), now, -3);
                if in_frame && on_object == object_then && !near_edge {
                    mask[i] = 1.0;
                }
            }
        }
        (flow, mask)
    }
}

fn size_arg(arg: Option<&String>) -> (u32, u32) {
    arg.and_then(|s| s.split_once('x'))
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .unwrap_or((480, 272))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let size = size_arg(args.get(2));
    let frames: u32 = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(48);
    let scene = Scene::new(size, frames);
    match args.first().map(String::as_str) {
        Some("make") => {
            let mut child = Command::new("ffmpeg")
                .args([
                    "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s",
                ])
                .arg(format!("{}x{}", size.0, size.1))
                .args([
                    "-r", "24", "-i", "-", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "12",
                ])
                .arg(&args[1])
                .stdin(Stdio::piped())
                .spawn()
                .expect("ffmpeg");
            let mut stdin = child.stdin.take().expect("piped");
            for k in 0..frames {
                stdin
                    .write_all(scene.frame(size, k).as_raw())
                    .expect("ffmpeg reads");
            }
            drop(stdin);
            assert!(child.wait().expect("ffmpeg").success());
        }
        Some("measure") => {
            // `--gap K`: each frame against the frame K before it (long-term consistency).
            let gap: usize = match args.iter().position(|a| a == "--gap") {
                Some(i) => args
                    .get(i + 1)
                    .and_then(|v| v.parse().ok())
                    .filter(|&g| g > 0)
                    .expect("--gap takes a number of frames"),
                None => 1,
            };
            let decoded = decode(&args[1], size);
            let pairs = decoded.len().saturating_sub(gap).max(1) as f64;
            let errors: Vec<f64> = (gap..decoded.len())
                .map(|k| {
                    let (back, mask) = scene.back(size, k as u32, gap as u32);
                    warping_error(&decoded[k], &decoded[k - gap], &back, &mask)
                })
                .collect();
            let error = errors.iter().sum::<f64>() / pairs;
            let sharp = decoded.iter().map(sharpness).sum::<f64>() / decoded.len().max(1) as f64;
            let each: Vec<String> = errors.iter().map(|e| format!("{e:.6}")).collect();
            println!(
                "{{\"frames\":{},\"warping_error\":{error:.6},\"sharpness\":{sharp:.4},\"pairs\":[{}]}}",
                decoded.len(),
                each.join(",")
            );
        }
        Some("flow") => {
            let size = size_arg(args.get(1));
            let scene = Scene::new(size, 12);
            let (a, b) = (scene.frame(size, 10), scene.frame(size, 11));
            let (ga, gb) = (Gray::from_rgb(&a), Gray::from_rgb(&b));
            // `--finest N`: the finest pyramid level searched (default: `Dis::default()`'s 1,
            // the networks' stabilizer; 0 is the optimization's chain).
            let finest = args.iter().position(|a| a == "--finest").map(|i| {
                args.get(i + 1)
                    .and_then(|v| v.parse().ok())
                    .expect("--finest takes a level")
            });
            let dis = Dis {
                finest: finest.unwrap_or(Dis::default().finest),
                ..Dis::default()
            };
            let _ = dis.flow(&gb, &ga);
            let start = Instant::now();
            let runs = 5;
            let mut flow = None;
            for _ in 0..runs {
                flow = Some(dis.flow(&gb, &ga));
            }
            let ms = start.elapsed().as_secs_f64() * 1000.0 / runs as f64;
            let (truth, mask) = scene.back(size, 11, 1);
            // `--dump DIR`: the pair and the truth for another flow method (the benchmark's
            // OpenCV DIS): a.png, b.png, truth_u.f32, truth_v.f32, mask.f32 (little-endian,
            // row by row; the flow takes b's pixels back to a's).
            if let (Some("--dump"), Some(dir)) = (args.get(2).map(String::as_str), args.get(3)) {
                let dir = std::path::Path::new(dir);
                std::fs::create_dir_all(dir).expect("the dump folder");
                a.save(dir.join("a.png")).expect("a.png");
                b.save(dir.join("b.png")).expect("b.png");
                let raw = |values: &[f32]| -> Vec<u8> {
                    values.iter().flat_map(|v| v.to_le_bytes()).collect()
                };
                for (name, values) in [
                    ("truth_u", &truth.u),
                    ("truth_v", &truth.v),
                    ("mask", &mask),
                ] {
                    std::fs::write(dir.join(format!("{name}.f32")), raw(values)).expect("dump");
                }
            }
            let epe = flow
                .expect("ran")
                .endpoint_error(&truth, |x, y| mask[y * size.0 as usize + x] > 0.0);
            println!(
                "{{\"size\":\"{}x{}\",\"ms_per_pair\":{ms:.1},\"endpoint_error\":{epe:.3}}}",
                size.0, size.1
            );
        }
        Some("flows") => {
            // `flows VIDEO WIDTHxHEIGHT DIR`: the flow from each frame k of any video to frame
            // k - 1 (as the stabilizer computes it), for benches/real_clip_floor.py:
            // DIR/back_K.f32, u then v, little-endian, row by row.
            let dir = std::path::Path::new(args.get(3).expect("the flows' folder"));
            std::fs::create_dir_all(dir).expect("the flows' folder");
            let grays: Vec<Gray> = decode(&args[1], size).iter().map(Gray::from_rgb).collect();
            for k in 1..grays.len() {
                let back = Dis::default().flow(&grays[k], &grays[k - 1]);
                let raw: Vec<u8> = back
                    .u
                    .iter()
                    .chain(&back.v)
                    .flat_map(|v| v.to_le_bytes())
                    .collect();
                std::fs::write(dir.join(format!("back_{k}.f32")), raw).expect("a flow");
            }
        }
        _ => eprintln!(
            "usage: video_clip make|measure PATH [WIDTHxHEIGHT] [FRAMES] [--gap K], video_clip flow \
             [WIDTHxHEIGHT] [--dump DIR] [--finest N], video_clip flows VIDEO WIDTHxHEIGHT DIR"
        ),
    }
}

/// Every frame of a `w x h` video, decoded by the ffmpeg program.
fn decode(path: &str, (w, h): (u32, u32)) -> Vec<RgbImage> {
    let mut child = Command::new("ffmpeg")
        .args([
            "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("ffmpeg");
    let mut raw = Vec::new();
    child
        .stdout
        .take()
        .expect("piped")
        .read_to_end(&mut raw)
        .expect("frames");
    assert!(
        child.wait().expect("ffmpeg").success(),
        "ffmpeg could not decode"
    );
    raw.chunks_exact((w * h * 3) as usize)
        .map(|c| RgbImage::from_raw(w, h, c.to_vec()).expect("a frame"))
        .collect()
}
