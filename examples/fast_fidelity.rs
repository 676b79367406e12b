//! How close the feed-forward network comes to onnxruntime's outputs for the same file, on
//! every backend compiled in (and on the CPU backends with Burn's operations too): the
//! largest difference on the 0-1 scale over the references in `tests/reference/fast/`
//! (tubingen at 64x48; style 0, style 7, a 50/50 blend of 3 and 12; written by
//! `benches/fast_reference.py`). The test suite asserts the same comparison below 1e-4.
//! Then the int8 arbitrary-style networks: the predictor's style vector of the reference
//! painting (mean and largest difference, and how many of the 100 numbers differ by a
//! quantization step), and the transformer's output on the reference photo with the
//! reference vector (8x8 block means, and the stored 64x64 crop pixel by pixel).
//!
//! ```text
//! cargo run --release --example fast_fidelity --features wgpu
//! ```

use std::path::Path;

use style_transfer::burn::tensor::{Tensor, TensorData};
use style_transfer::fetch::{self, FastNetwork};
use style_transfer::{Backend, FastStyle, StyleChoice};

type Failure = Box<dyn std::error::Error>;

fn reference_bytes(name: &str) -> Result<Vec<u8>, Failure> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/reference/fast")
        .join(name);
    Ok(std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?)
}

fn reference(name: &str) -> Result<Vec<f32>, Failure> {
    Ok(reference_bytes(name)?
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

fn host(t: Tensor<4>) -> Result<Vec<f32>, Failure> {
    Ok(t.to_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| format!("{e:?}"))?)
}

/// Mean and largest absolute difference.
fn mean_max(a: &[f32], b: &[f32]) -> (f32, f32) {
    let diffs = a.iter().zip(b).map(|(x, y)| (x - y).abs());
    let (sum, max) = diffs.fold((0.0, 0.0f32), |(s, m), d| (s + d, m.max(d)));
    (sum / a.len() as f32, max)
}

/// The arbitrary-style networks against the references.
fn arbitrary(backend: Backend) -> Result<(), Failure> {
    let device = backend.device()?;
    let fast = FastStyle::from_onnx(fetch::fast_network(FastNetwork::BuiltIn)?, &device)?
        .with_arbitrary_networks(
            fetch::fast_network(FastNetwork::Predictor)?,
            fetch::fast_network(FastNetwork::Transformer)?,
        )?;
    let painting = image::RgbImage::from_raw(256, 256, reference_bytes("predict_input_u8.bin")?)
        .ok_or("predict_input_u8.bin is not 256x256x3")?;
    let vector = fast.style_vector(&painting)?;
    let expected = reference("predict_vector.bin")?;
    let (mean, max) = mean_max(&vector, &expected);
    let steps = vector
        .iter()
        .zip(&expected)
        .filter(|(a, b)| (*a - *b).abs() > 0.01)
        .count();
    println!(
        "{backend} predictor: style vector mean difference {mean:.4}, largest {max:.4}; {steps} of 100 off by a step or more"
    );
    let side = 384;
    let n = side * side;
    let photo = reference_bytes("transform_input_u8.bin")?;
    let mut planar = vec![0.0f32; 3 * n];
    for (i, p) in photo.chunks_exact(3).enumerate() {
        for c in 0..3 {
            planar[c * n + i] = p[c] as f32 / 255.0;
        }
    }
    let input = Tensor::<4>::from_data(TensorData::new(planar, [1, 3, side, side]), &device);
    let out = host(fast.stylize_tensor(input, &StyleChoice::Vector(expected))?)?;
    let blocks = side / 8;
    let mut means = vec![0.0f32; blocks * blocks * 3];
    for c in 0..3 {
        for y in 0..side {
            for x in 0..side {
                means[((y / 8) * blocks + x / 8) * 3 + c] += out[c * n + y * side + x] / 64.0;
            }
        }
    }
    let (block_mean, block_max) = mean_max(&means, &reference("transform_out_box8.bin")?);
    let crop = reference_bytes("transform_out_crop_u8.bin")?;
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for y in 0..64 {
        for x in 0..64 {
            for c in 0..3 {
                ours.push(out[c * n + (96 + y) * side + 160 + x]);
                theirs.push(crop[(y * 64 + x) * 3 + c] as f32 / 256.0);
            }
        }
    }
    let (crop_mean, crop_max) = mean_max(&ours, &theirs);
    println!(
        "{backend} transformer: 8x8 block means differ by {block_mean:.4} on average, {block_max:.4} at most; \
         crop pixels by {crop_mean:.4} on average, {crop_max:.4} at most"
    );
    Ok(())
}

fn main() -> Result<(), Failure> {
    let model = fetch::fast_network(FastNetwork::BuiltIn)?;
    let input = reference("ms26_input.bin")?;
    for backend in Backend::available() {
        let device = backend.device()?;
        for cpu_kernels in [true, false] {
            if !cpu_kernels && backend == Backend::Wgpu {
                continue;
            }
            let fast = FastStyle::from_onnx(&model, &device)?.with_cpu_kernels(cpu_kernels);
            let mut largest = 0.0f32;
            for (name, choice) in [
                ("s0", StyleChoice::BuiltIn(0)),
                ("s7", StyleChoice::BuiltIn(7)),
                ("s3_12", "3:0.5,12:0.5".parse()?),
            ] {
                let x =
                    Tensor::<4>::from_data(TensorData::new(input.clone(), [1, 3, 48, 64]), &device);
                let out = fast.stylize_tensor(x, &choice)?;
                let out = host(out)?;
                let expected = reference(&format!("ms26_out_{name}.bin"))?;
                for (a, b) in out.iter().zip(&expected) {
                    largest = largest.max((a - b).abs());
                }
            }
            let path = match (backend, cpu_kernels) {
                (Backend::Wgpu, _) => "Burn's operations",
                (_, true) => "CPU kernels",
                (_, false) => "Burn's operations",
            };
            println!("{backend} ({path}): largest difference {largest:.2e}");
        }
    }
    for backend in Backend::available() {
        arbitrary(backend)?;
    }
    Ok(())
}
