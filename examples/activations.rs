//! Prints VGG19's activation statistics for an image: the shape, mean, max and fraction of
//! active (non-zero) units of each layer's post-ReLU features, and the Gram statistics used
//! by the style loss.
//!
//! ```text
//! cargo run --release --example activations -- [IMAGE] [--size N] [--backend flex|ndarray|wgpu]
//! ```
//! The weights are fetched and converted on first use.

use std::process::ExitCode;

use style_transfer::image_io::{self, Size};
use style_transfer::{Backend, Layer, Pooling, Vgg19, VggWeights, fetch};

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
    let mut args = std::env::args().skip(1);
    let (mut image, mut size, mut backend) = (
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples/images/tubingen.jpg").to_string(),
        Size::Longest(256),
        None,
    );
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--size" => size = args.next().ok_or("--size needs a value")?.parse()?,
            "--backend" => {
                backend = Some(
                    args.next()
                        .ok_or("--backend needs a value")?
                        .parse::<Backend>()?,
                )
            }
            "-h" | "--help" => {
                println!("usage: activations [IMAGE] [--size N|WxH] [--backend flex|ndarray|wgpu]");
                return Ok(());
            }
            _ => image = arg,
        }
    }
    let backend = backend
        .or_else(Backend::preferred)
        .ok_or("no backend compiled in")?;
    let device = backend.device()?;
    let weights = VggWeights::from_onnx(fetch::default_weights()?)?;
    let vgg = Vgg19::new(&weights, Pooling::Max, &device);
    let picture = image_io::resize(&image_io::load_image(&image)?, size);
    println!(
        "{image}: {}x{} on {backend}, {} convention",
        picture.width(),
        picture.height(),
        weights.convention()
    );
    let input = image_io::image_to_tensor(&picture, weights.convention(), &device);
    let start = std::time::Instant::now();
    let features = vgg.forward(input, &Layer::ALL)?;
    println!(
        "{:<8} {:>18} {:>12} {:>12} {:>8} {:>14}",
        "layer", "shape", "mean", "max", "active", "gram trace"
    );
    for (layer, f) in features.iter() {
        let dims = f.dims();
        let values = f.clone().into_data().convert::<f32>().try_to_vec::<f32>()?;
        let n = values.len() as f64;
        let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
        let max = values.iter().copied().fold(0.0f32, f32::max);
        let active = values.iter().filter(|&&v| v > 0.0).count() as f64 / n;
        // The Gram trace is the sum of squared activations.
        let trace: f64 = values.iter().map(|&v| (v as f64) * (v as f64)).sum();
        let shape = format!("{dims:?}");
        println!(
            "{layer:<8} {shape:>18} {mean:>12.3} {max:>12.2} {:>7.1}% {trace:>14.4e}",
            active * 100.0
        );
    }
    println!(
        "forward pass through all 16 layers: {:.2} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
