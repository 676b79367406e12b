//! Where one evaluation's time goes on the Winograd CPU path: each layer's forward pass, loss
//! terms, ReLU mask, pooling and input gradient, the copies, and the optimizer, with the
//! GFLOP/s each convolution reaches against this machine's own matrix-multiply speed.
//! Prints a markdown table (the profile in docs/performance.md).
//!
//! ```text
//! cargo run --profile profiling --example profile -- [--size N] [--runs R]
//! ```
//!
//! Content tubingen and style starry_night at N x N (default 256), the engine's defaults
//! (content conv4_2, style conv1_1..conv5_1); the median of R profiled evaluations (default 5)
//! after one warm-up.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use style_transfer::image_io::{self, Size};
use style_transfer::{
    Backend, Control, Progress, Settings, Solver, StepTime, StyleTransfer, VggWeights, fetch,
};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// GFLOP/s of one single-precision 2048 x 2048 matrix multiply with every thread, by the
/// `gemm` crate (the kernels both Burn's flex and the Winograd path use); best of 3.
fn matmul_gflops() -> f64 {
    let n = 2048;
    let a: Vec<f32> = (0..n * n).map(|i| (i % 7) as f32 * 0.1).collect();
    let b = a.clone();
    let mut c = vec![0.0f32; n * n];
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let start = Instant::now();
        // SAFETY: three n x n row-major matrices.
        unsafe {
            gemm::gemm(
                n,
                n,
                n,
                c.as_mut_ptr(),
                1,
                n as isize,
                false,
                a.as_ptr(),
                1,
                n as isize,
                b.as_ptr(),
                1,
                n as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::Rayon(0),
            );
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    std::hint::black_box(&c);
    2.0 * (n as f64).powi(3) / best / 1e9
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut size, mut runs) = (256u32, 5usize);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--size" => size = value()?.parse()?,
            "--runs" => runs = value()?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let device = Backend::preferred()
        .ok_or("no backend compiled in")?
        .device()?;
    let weights = VggWeights::from_onnx(fetch::default_weights()?)?;
    let images = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/images");
    let exact = Size::Exact {
        width: size,
        height: size,
    };
    let content = image_io::resize(&image_io::load_image(images.join("tubingen.jpg"))?, exact);
    let style = image_io::load_image(images.join("starry_night.jpg"))?;
    let engine = StyleTransfer::from_settings(
        &weights,
        Settings::new().with_size(exact).with_style_size(exact),
        &device,
    );
    let objective = engine.objective(&content, &[(&style, 1.0)])?;
    let x = image_io::image_to_tensor(&content, weights.convention(), &device);

    // Whole evaluations, then profiled ones.
    objective.evaluate(engine.vgg(), x.clone(), 1)?;
    let mut whole = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        objective.evaluate(engine.vgg(), x.clone(), 1)?;
        whole.push(start.elapsed().as_secs_f64());
    }
    let mut per_step: BTreeMap<usize, (StepTime, Vec<f64>)> = BTreeMap::new();
    for _ in 0..runs {
        for (i, step) in objective.profile(x.clone())?.into_iter().enumerate() {
            let entry = per_step
                .entry(i)
                .or_insert_with(|| (step.clone(), Vec::new()));
            entry.1.push(step.seconds);
        }
    }
    // Adam iterations of the engine's own loop: evaluation plus step, projection, bookkeeping.
    let adam_its = runs + 1;
    let mut stamps = Vec::new();
    let settings = (engine.settings().clone())
        .with_solver(Solver::Adam { lr: 10.0 })
        .with_iterations(adam_its);
    StyleTransfer::from_settings(&weights, settings, &device).run(
        &content,
        &[(&style, 1.0)],
        &mut |p: &Progress<'_>| {
            stamps.push(p.elapsed.as_secs_f64());
            Control::Continue
        },
    )?;
    let adam = median(stamps.windows(2).map(|w| w[1] - w[0]).collect());
    let peak = matmul_gflops();

    let eval = median(whole);
    println!(
        "host path (Winograd), {size}x{size}, {} threads; median of {runs}. One evaluation (forward + gradient): {:.1} ms; one Adam iteration: {:.1} ms. 2048^2 sgemm (gemm crate): {peak:.0} GFLOP/s.\n",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        eval * 1e3,
        adam * 1e3,
    );
    println!("| step | ms | share | direct GFLOP | GEMM GFLOP | GEMM GFLOP/s | % of sgemm |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut groups: BTreeMap<&str, f64> = BTreeMap::new();
    let mut total = 0.0;
    for (step, times) in per_step.values() {
        let t = median(times.clone());
        total += t;
        let group = match step.step.as_str() {
            s if s.ends_with(" forward") => "convolutions, forward",
            s if s.ends_with(" input gradient") => "convolutions, input gradient",
            s if s.ends_with(" losses") => "loss terms and their gradients (Grams)",
            s if s.ends_with(" relu mask") || s.contains("pool") => "ReLU masks, pooling",
            _ => "copies, total variation",
        };
        *groups.entry(group).or_default() += t;
        let rate = step.gemm_flop / t / 1e9;
        let (direct, gemm, rate, share_of_peak) = if step.gemm_flop > 0.0 {
            (
                format!("{:.2}", step.direct_flop / 1e9),
                format!("{:.2}", step.gemm_flop / 1e9),
                format!("{rate:.0}"),
                format!("{:.0}%", 100.0 * rate / peak),
            )
        } else {
            Default::default()
        };
        println!(
            "| {} | {:.2} | {:.1}% | {direct} | {gemm} | {rate} | {share_of_peak} |",
            step.step,
            t * 1e3,
            100.0 * t / eval,
        );
    }
    println!("\n| part of one Adam iteration | ms | share |");
    println!("|---|---:|---:|");
    for (group, t) in &groups {
        println!("| {group} | {:.1} | {:.1}% |", t * 1e3, 100.0 * t / adam);
    }
    println!(
        "| Adam step, projection, loss read-back, best image kept | {:.1} | {:.1}% |",
        (adam - total).max(0.0) * 1e3,
        100.0 * (adam - total).max(0.0) / adam
    );
    Ok(())
}
