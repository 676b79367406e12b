//! The Rust side of the side-by-side benchmark (`benches/side_by_side.sh`): times one
//! iteration of style transfer and prints one JSON line in the same format as
//! `benches/pytorch_side_by_side.py`.
//!
//! Content tubingen and style starry_night, both resized to exactly SIZE x SIZE; init from
//! content; alpha 1, beta 1e3; content conv4_2, style conv1_1..conv5_1 (1/5 each).
//! * `adam`: one iteration of the engine's own Adam loop (lr 10): forward, backward, Adam
//!   step, projection into pixel range, loss read back, best image kept;
//! * `lbfgs-eval`: one L-BFGS function evaluation: forward, backward, gradient copied to
//!   the host;
//! * `run`: a whole run of the engine with L-BFGS for K iterations (no warm-up): its wall time
//!   and final total loss.
//!
//! Every mode also reports the time from the process start (`START_NS` in the environment,
//! nanoseconds since the epoch, set by the caller just before starting it; else the program's
//! own start) to the end of the first iteration, start-up and autotuning included.
//!
//! ```text
//! cargo run --release --example iteration_timing -- [--mode adam|lbfgs-eval|run] [--size N]
//!     [--iterations K] [--warmup W] [--backend flex|ndarray|wgpu|cuda] [--no-winograd]
//!     [--convolution burn|im2col|winograd2|winograd4|f16]
//! cargo run --release --example iteration_timing -- --list-backends
//! ```
//!
//! `--no-winograd` times Burn's own convolutions and autodiff instead of the Winograd CPU
//! path (the before/after of docs/performance.md). `--convolution` (or the environment's
//! `STYLE_TRANSFER_CONVOLUTION`; the flag wins) picks how the tensor path computes VGG19's
//! convolutions (`Settings::with_convolution`, the GPU candidates of
//! `benches/gpu_candidates.sh`). `run` also reports the objective's evaluations.

use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use style_transfer::image_io::{self, Size};
use style_transfer::{
    Backend, Control, Convolution, Progress, Settings, Solver, StyleTransfer, VggWeights, fetch,
};

/// Nanoseconds since the epoch.
fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let start_ns: u128 = match std::env::var("START_NS") {
        Ok(v) => v.parse()?,
        Err(_) => now_ns(),
    };
    let (mut mode, mut size, mut iterations, mut warmup) = ("adam".to_string(), 256u32, 10, 2);
    let mut backend = Backend::preferred().ok_or("no backend compiled in")?;
    let mut winograd = true;
    let mut convolution: Convolution = match std::env::var("STYLE_TRANSFER_CONVOLUTION") {
        Ok(name) => name.parse()?,
        Err(_) => Convolution::default(),
    };
    let mut evaluations = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--mode" => mode = value()?,
            "--size" => size = value()?.parse()?,
            "--iterations" => iterations = value()?.parse()?,
            "--warmup" => warmup = value()?.parse()?,
            "--backend" => backend = value()?.parse()?,
            "--no-winograd" => winograd = false,
            "--convolution" => convolution = value()?.parse()?,
            "--list-backends" => {
                Backend::available().iter().for_each(|b| println!("{b}"));
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if !["adam", "lbfgs-eval", "run"].contains(&mode.as_str()) {
        return Err(format!("--mode {mode}: use adam, lbfgs-eval or run").into());
    }

    let device = backend.device()?;
    let weights = VggWeights::from_onnx(fetch::default_weights()?)?;
    // The repository's images; a binary copied to another machine (benches/gpu_candidates.sh)
    // finds them under the current folder.
    let images = [Path::new(env!("CARGO_MANIFEST_DIR")), Path::new(".")]
        .map(|root| root.join("examples/images"))
        .into_iter()
        .find(|dir| dir.is_dir())
        .ok_or("examples/images not found: run from the repository's root")?;
    let exact = Size::Exact {
        width: size,
        height: size,
    };
    let content = image_io::resize(&image_io::load_image(images.join("tubingen.jpg"))?, exact);
    let style = image_io::load_image(images.join("starry_night.jpg"))?;
    let convention = weights.convention();
    let settings = Settings::new()
        .with_winograd(winograd)
        .with_convolution(convolution)
        .with_size(exact)
        .with_style_size(exact);
    let settings = match mode.as_str() {
        "run" => (settings.with_solver(Solver::Lbfgs { history: 100 })).with_iterations(iterations),
        "adam" => {
            (settings.with_solver(Solver::Adam { lr: 10.0 })).with_iterations(warmup + iterations)
        }
        _ => settings,
    };
    let engine = StyleTransfer::from_settings(&weights, settings, &device);
    // The engine holds what it needs; the loaded file's copy would only add to the peak.
    drop(weights);
    let (mut totals, mut times) = (Vec::new(), Vec::new());
    let mut first_ns = None;
    if mode == "run" {
        let begin = Instant::now();
        let result = engine.run(&content, &[(&style, 1.0)], &mut |p: &Progress<'_>| {
            first_ns.get_or_insert_with(now_ns);
            totals.push(p.losses.total);
            Control::Continue
        })?;
        times.push(begin.elapsed().as_secs_f64());
        totals.push(result.losses.total);
        evaluations = Some(result.evaluations);
        (warmup, iterations) = (0, result.iterations);
    } else if mode == "adam" {
        // The engine's own loop, timed between consecutive iterations by the observer.
        let mut last = None;
        engine.run(&content, &[(&style, 1.0)], &mut |p: &Progress<'_>| {
            if let Some(last) = last.filter(|_| p.iteration > warmup) {
                times.push((p.elapsed - last).as_secs_f64());
            }
            last = Some(p.elapsed);
            first_ns.get_or_insert_with(now_ns);
            totals.push(p.losses.total);
            Control::Continue
        })?;
    } else {
        let losses = engine.objective(&content, &[(&style, 1.0)])?;
        let x = image_io::image_to_tensor(&content, convention, &device);
        for i in 0..warmup + iterations {
            let start = Instant::now();
            let (terms, grad) = losses.evaluate(engine.vgg(), x.clone(), i + 1)?;
            let host: Vec<f32> = grad
                .into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .map_err(|e| format!("{e:?}"))?;
            std::hint::black_box(host);
            if i >= warmup {
                times.push(start.elapsed().as_secs_f64());
            }
            first_ns.get_or_insert_with(now_ns);
            totals.push(terms.total);
        }
    }
    let mean = times.iter().sum::<f64>() / times.len().max(1) as f64;
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let median = match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    };
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let threads = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    println!(
        "{{\"impl\": \"style-transfer\", \"backend\": \"{backend}\", \"mode\": \"{mode}\", \"winograd\": {winograd}, \"convolution\": \"{convolution}\", \"evaluations\": {}, \"size\": {size}, \"threads\": {threads}, \"warmup\": {warmup}, \"iterations\": {iterations}, \"seconds_per_iteration\": {{\"mean\": {mean}, \"median\": {median}}}, \"total_loss_first\": {}, \"total_loss_last\": {}, \"peak_rss_kib\": {peak_kib}, \"first_iteration_seconds\": {}, \"wall_seconds\": {}}}",
        evaluations.map_or("null".to_string(), |n| n.to_string()),
        totals.first().copied().unwrap_or(f64::NAN),
        totals.last().copied().unwrap_or(f64::NAN),
        first_ns.map_or(f64::NAN, |t| t.saturating_sub(start_ns) as f64 / 1e9),
        now_ns().saturating_sub(start_ns) as f64 / 1e9,
    );
    Ok(())
}
