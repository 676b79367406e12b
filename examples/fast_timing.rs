//! Times one pass of a feed-forward network alone (no decoding, resizing or encoding):
//! `FastStyle::stylize_tensor` on a `[1, 3, H, W]` input, a warm-up then RUNS timed passes;
//! prints the median and the fastest in seconds as one JSON line. NETWORK is `built-in` (the
//! 26-style network, style 7) or `arbitrary` (the style predictor on a 256x256 painting, then
//! the transformer at H x W). `benches/fast_side_by_side.sh` runs it beside onnxruntime's
//! `session.run`.
//!
//! ```text
//! cargo run --release --example fast_timing -- [WIDTH] [HEIGHT] [RUNS] [BACKEND] [NETWORK]   # 1024 768 5 flex built-in
//! ```

use std::time::Instant;

use style_transfer::burn::tensor::{Distribution, Tensor};
use style_transfer::fetch::{self, FastNetwork};
use style_transfer::{Backend, FastStyle, StyleChoice};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: usize| -> Result<usize, String> {
        args.get(i).map_or(Ok(default), |s| {
            s.parse().map_err(|_| format!("`{s}` is not a number"))
        })
    };
    let (width, height, runs) = (number(0, 1024)?, number(1, 768)?, number(2, 5)?.max(1));
    let backend: Backend = args.get(3).map_or("flex", String::as_str).parse()?;
    let device = backend.device()?;
    let network = args.get(4).map_or("built-in", String::as_str);
    let mut fast = FastStyle::from_onnx(fetch::fast_network(FastNetwork::BuiltIn)?, &device)?;
    let input = Tensor::<4>::random(
        [1, 3, height, width],
        Distribution::Uniform(0.0, 1.0),
        &device,
    );
    let style = match network {
        "built-in" => StyleChoice::BuiltIn(7),
        "arbitrary" => {
            fast = fast.with_arbitrary_networks(
                fetch::fast_network(FastNetwork::Predictor)?,
                fetch::fast_network(FastNetwork::Transformer)?,
            )?;
            let painting = image::RgbImage::from_fn(256, 256, |x, y| {
                image::Rgb([
                    (x * 7 % 256) as u8,
                    (y * 13 % 256) as u8,
                    ((x ^ y) % 256) as u8,
                ])
            });
            StyleChoice::Painting(painting)
        }
        other => return Err(format!("`{other}` is not built-in or arbitrary").into()),
    };
    let pass = || -> Result<f64, style_transfer::Error> {
        let start = Instant::now();
        let out = fast.stylize_tensor(input.clone(), &style)?;
        // Reading one value back waits for the device.
        let _ = out.slice([0..1, 0..1, 0..1, 0..1]).into_data();
        Ok(start.elapsed().as_secs_f64())
    };
    pass()?;
    let mut times = (0..runs).map(|_| pass()).collect::<Result<Vec<_>, _>>()?;
    times.sort_by(f64::total_cmp);
    println!(
        "{{\"engine\":\"style-transfer {backend}\",\"network\":\"{network}\",\"width\":{width},\"height\":{height},\"runs\":{runs},\"median_s\":{:.4},\"min_s\":{:.4}}}",
        times[runs / 2],
        times[0]
    );
    Ok(())
}
