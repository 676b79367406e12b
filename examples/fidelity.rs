//! Fidelity check against the independent PyTorch implementation: tubingen + starry_night,
//! both resized to exactly 256x256, init from content, alpha 1, beta 1e3, no TV, clamped during
//! optimization. Saves the result as PNG, then scores the saved file by recomputing its content
//! and style losses with the project's VGG19.
//!
//! ```text
//! cargo run --release --example fidelity -- [lbfgs|adam] [ITERATIONS] [OUTPUT.png]
//! ```
//! PyTorch with the same weights: L-BFGS 100 iterations: content 1.135e11, style 3.63e7,
//! total 1.498e11; Adam lr 10, 300 iterations: total 1.501e11.

use std::process::ExitCode;

use style_transfer::image_io::{self, Size};
use style_transfer::{
    Backend, Control, Progress, Settings, Solver, StyleTransfer, VggWeights, fetch,
};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let which = args.first().map(String::as_str).unwrap_or("lbfgs");
    let (solver, default_iterations, reference) = match which {
        "lbfgs" => (Solver::Lbfgs { history: 100 }, 100, 1.498e11),
        "adam" => (Solver::Adam { lr: 10.0 }, 300, 1.501e11),
        other => return Err(format!("unknown solver `{other}` (lbfgs or adam)").into()),
    };
    let iterations = args
        .get(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(default_iterations);
    let output = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| format!("fidelity_{which}.png"));
    let images = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/images");
    let content = image_io::load_image(format!("{images}/tubingen.jpg"))?;
    let style = image_io::load_image(format!("{images}/starry_night.jpg"))?;
    let size = Size::Exact {
        width: 256,
        height: 256,
    };

    let device = Backend::preferred()
        .ok_or("no backend compiled in")?
        .device()?;
    let weights = VggWeights::from_onnx(fetch::default_weights()?)?;
    let engine = StyleTransfer::from_settings(
        &weights,
        Settings::new()
            .with_size(size)
            .with_style_size(size)
            .with_content_weight(1.0)
            .with_style_weight(1e3)
            .with_solver(solver)
            .with_iterations(iterations),
        &device,
    );
    let mut observer = |p: &Progress<'_>| {
        if p.iteration.is_multiple_of(10) || p.iteration == p.iterations {
            eprintln!(
                "{which} {:>4}/{}: total {:.4e} (content {:.4e}, style {:.4e}), {:.2} s/it",
                p.iteration,
                p.iterations,
                p.losses.total,
                p.losses.content,
                p.losses.style,
                p.elapsed.as_secs_f64() / p.iteration as f64
            );
        }
        Control::Continue
    };
    let result = engine.run(&content, &[(&style, 1.0)], &mut observer)?;
    image_io::save_image(&result.image, &output)?;

    // Score the saved file, as a user would see it (8-bit, clamped).
    let saved = image_io::load_image(&output)?;
    let content_256 = image_io::resize(&content, size);
    let losses = engine.objective(&content_256, &[(&style, 1.0)])?;
    let scored = losses.terms(
        engine.vgg(),
        image_io::image_to_tensor(&saved, weights.convention(), &device),
    )?;
    println!("{which}, {} iterations, saved {output}", result.iterations);
    println!("solver's best: total {:.4e}", result.losses.total);
    println!(
        "saved PNG scores: content {:.4e}, style {:.4e}, total {:.4e} ({:+.2}% vs PyTorch's {reference:.4e})",
        scored.content,
        scored.style,
        scored.total,
        (scored.total / reference - 1.0) * 100.0
    );
    Ok(())
}
