//! A custom [`Observer`]: saves a frame of the optimization every N iterations (for a
//! time-lapse), prints a line per frame, and stops early once the loss stops improving.
//!
//! ```text
//! cargo run --release --example save_frames -- [SIZE] [ITERATIONS] [EVERY] [FRAMES_DIR]
//! ```
//! `ffmpeg -framerate 10 -i frames/frame_%04d.png timelapse.mp4` turns the frames into a video.

use std::path::{Path, PathBuf};

use style_transfer::image_io::{self, Size};
use style_transfer::{
    Backend, Control, Observer, Progress, Settings, StyleTransfer, VggWeights, fetch,
};

/// Saves every `every`-th image into `dir`; stops when the total loss improved by less than
/// `min_gain` (relative) over the last `every` iterations.
struct FrameSaver {
    dir: PathBuf,
    every: usize,
    min_gain: f64,
    last_total: Option<f64>,
    saved: Vec<PathBuf>,
}

impl Observer for FrameSaver {
    fn wants_image(&mut self, iteration: usize) -> bool {
        iteration.is_multiple_of(self.every)
    }

    fn observe(&mut self, p: &Progress<'_>) -> Control {
        let Some(image) = p.image else {
            return Control::Continue;
        };
        let path = self
            .dir
            .join(format!("frame_{:04}.png", self.saved.len() + 1));
        if let Err(e) = image_io::save_image(image, &path) {
            eprintln!("cannot save a frame, stopping: {e}");
            return Control::Stop;
        }
        eprintln!(
            "iteration {:>4}: total {:.4e} -> {}",
            p.iteration,
            p.losses.total,
            path.display()
        );
        self.saved.push(path);
        let gain = self
            .last_total
            .map_or(1.0, |last| (last - p.losses.total) / last);
        self.last_total = Some(p.losses.total);
        if gain < self.min_gain {
            eprintln!("loss improved by {:.2e} only: stopping", gain);
            return Control::Stop;
        }
        Control::Continue
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let size = args.first().map_or(Ok(256), |s| s.parse())?;
    let iterations = args.get(1).map_or(Ok(200), |s| s.parse())?;
    let every = args.get(2).map_or(Ok(10), |s| s.parse())?;
    let dir = PathBuf::from(args.get(3).map_or("frames", String::as_str));
    std::fs::create_dir_all(&dir)?;
    let frames = run(size, iterations, every, &dir)?;
    eprintln!("{} frames in {}", frames.len(), dir.display());
    Ok(())
}

/// Runs Adam (whose steady steps make smooth time-lapses) and returns the frames saved.
fn run(
    size: u32,
    iterations: usize,
    every: usize,
    dir: &Path,
) -> Result<Vec<PathBuf>, Box<dyn std::error::Error>> {
    let images = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/images");
    let content = image_io::load_image(images.join("golden_gate.jpg"))?;
    let style = image_io::load_image(images.join("the_scream.jpg"))?;
    let device = Backend::preferred()
        .ok_or("no backend compiled in")?
        .device()?;
    let weights = VggWeights::from_onnx(fetch::default_weights()?)?;
    let engine = StyleTransfer::from_settings(
        &weights,
        Settings::new()
            .with_size(Size::Longest(size))
            .with_solver(style_transfer::Solver::Adam { lr: 10.0 })
            .with_iterations(iterations),
        &device,
    );
    let mut saver = FrameSaver {
        dir: dir.to_path_buf(),
        every,
        min_gain: 1e-3,
        last_total: None,
        saved: Vec::new(),
    };
    engine.run(&content, &[(&style, 1.0)], &mut saver)?;
    Ok(saver.saved)
}

#[test]
fn saves_frames_at_a_tiny_size() {
    let dir = tempfile::tempdir().unwrap();
    let frames = run(32, 4, 2, dir.path()).unwrap();
    assert_eq!(frames.len(), 2);
    for frame in frames {
        assert_eq!(image_io::load_image(&frame).unwrap().dimensions(), (32, 24));
    }
}
