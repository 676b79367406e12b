//! How close the feed-forward network comes to onnxruntime's outputs for the same file, on
//! every backend compiled in (and on the CPU backends with Burn's operations too): the
//! largest difference on the 0-1 scale over the references in `tests/reference/fast/`
//! (tubingen at 64x48; style 0, style 7, a 50/50 blend of 3 and 12; written by
//! `benches/fast_reference.py`). The test suite asserts the same comparison below 1e-4.
//!
//! ```text
//! cargo run --release --example fast_fidelity --features wgpu
//! ```

use std::path::Path;

use style_transfer::burn::tensor::{Tensor, TensorData};
use style_transfer::{Backend, FastStyle, StyleChoice, fetch};

fn reference(name: &str) -> Result<Vec<f32>, Box<dyn std::error::Error>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/reference/fast")
        .join(name);
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let model = fetch::fast_style_model()?;
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
                let out: Vec<f32> = out
                    .to_data()
                    .convert::<f32>()
                    .try_into_vec::<f32>()
                    .map_err(|e| format!("{e:?}"))?;
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
    Ok(())
}
