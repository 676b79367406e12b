//! The smallest complete program: one photo, one painting, one output, default settings
//! (L-BFGS, alpha 1, beta 1e3, content conv4_2, style conv1_1..conv5_1).
//!
//! ```text
//! cargo run --release --example minimal -- [SIZE] [ITERATIONS] [OUTPUT.png]
//! ```

use std::path::Path;

use style_transfer::image_io::{self, Size};
use style_transfer::{Backend, Control, Progress, Settings, StyleTransfer, VggWeights, fetch};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let size = args.first().map_or(Ok(256), |s| s.parse())?;
    let iterations = args.get(1).map_or(Ok(100), |s| s.parse())?;
    let output = args.get(2).map_or("minimal.png", String::as_str);
    run(size, iterations, Path::new(output))
}

/// Stylizes the sample photo with The Starry Night at `size` px and saves it to `output`.
fn run(size: u32, iterations: usize, output: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let images = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/images");
    let content = image_io::load_image(images.join("tubingen.jpg"))?;
    let style = image_io::load_image(images.join("starry_night.jpg"))?;

    let device = Backend::preferred()
        .ok_or("no backend compiled in")?
        .device()?;
    let weights = VggWeights::from_onnx(fetch::default_weights()?)?;
    let engine = StyleTransfer::from_settings(
        &weights,
        Settings::new()
            .with_size(Size::Longest(size))
            .with_iterations(iterations),
        &device,
    );
    let result = engine.run(&content, &[(&style, 1.0)], &mut |p: &Progress<'_>| {
        eprintln!(
            "{}/{}: total loss {:.4e}",
            p.iteration, p.iterations, p.losses.total
        );
        Control::Continue
    })?;
    image_io::save_image(&result.image, output)?;
    eprintln!("saved {}", output.display());
    Ok(())
}

#[test]
fn runs_at_a_tiny_size() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("minimal.png");
    run(32, 2, &out).unwrap();
    assert_eq!(image_io::load_image(&out).unwrap().dimensions(), (32, 24));
}
