//! Several styles at once: The Starry Night and The Scream blended with weights (here 3:1),
//! so that the Gram targets are the weighted mean of each painting's.
//!
//! ```text
//! cargo run --release --example blend_styles -- [SIZE] [ITERATIONS] [WEIGHT_STARRY] [WEIGHT_SCREAM] [OUTPUT.png]
//! ```

use std::path::Path;

use style_transfer::image_io::{self, Size};
use style_transfer::{Backend, Control, Progress, Settings, StyleTransfer, VggWeights, fetch};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let size = args.first().map_or(Ok(256), |s| s.parse())?;
    let iterations = args.get(1).map_or(Ok(100), |s| s.parse())?;
    let starry = args.get(2).map_or(Ok(3.0), |s| s.parse())?;
    let scream = args.get(3).map_or(Ok(1.0), |s| s.parse())?;
    let output = args.get(4).map_or("blend.png", String::as_str);
    run(size, iterations, [starry, scream], Path::new(output))
}

/// Stylizes the sample photo with both paintings, blended by `weights`, and saves it.
fn run(
    size: u32,
    iterations: usize,
    weights: [f32; 2],
    output: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let images = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/images");
    let content = image_io::load_image(images.join("tubingen.jpg"))?;
    let starry = image_io::load_image(images.join("starry_night.jpg"))?;
    let scream = image_io::load_image(images.join("the_scream.jpg"))?;

    let device = Backend::preferred()
        .ok_or("no backend compiled in")?
        .device()?;
    let vgg = VggWeights::from_onnx(fetch::default_weights()?)?;
    let engine = StyleTransfer::from_settings(
        &vgg,
        Settings::new()
            .with_size(Size::Longest(size))
            .with_iterations(iterations),
        &device,
    );
    let styles = [(&starry, weights[0]), (&scream, weights[1])];
    let result = engine.run(&content, &styles, &mut |p: &Progress<'_>| {
        if p.iteration.is_multiple_of(10) || p.iteration == p.iterations {
            eprintln!(
                "{}/{}: style loss {:.4e}",
                p.iteration, p.iterations, p.losses.style
            );
        }
        Control::Continue
    })?;
    image_io::save_image(&result.image, output)?;
    eprintln!("saved {}", output.display());
    Ok(())
}

#[test]
fn runs_at_a_tiny_size() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("blend.png");
    run(32, 2, [3.0, 1.0], &out).unwrap();
    assert_eq!(image_io::load_image(&out).unwrap().dimensions(), (32, 24));
}
