//! Helpers of the integration tests: the per-backend test macro, the weights (through the same
//! fetch path users get), the sample images and the VGG19 reference values (both in the
//! repository: `examples/images/`, `tests/reference/vgg19/`).
#![allow(dead_code)] // Each test binary uses a different subset.

use std::path::PathBuf;
use std::sync::OnceLock;

use safetensors::SafeTensors;
use style_transfer::burn::tensor::{Device, Tensor, TensorData};
use style_transfer::{VggWeights, fetch};

#[macro_use]
mod backend_tests;

/// The project's VGG19 weights, fetched and converted on first use (never skipped: a
/// failed fetch fails the test with its reason).
pub fn weights() -> &'static VggWeights {
    static WEIGHTS: OnceLock<VggWeights> = OnceLock::new();
    WEIGHTS.get_or_init(|| {
        let path = fetch::default_weights()
            .unwrap_or_else(|e| panic!("fetching the VGG19 weights failed: {e}"));
        VggWeights::from_onnx(&path).unwrap_or_else(|e| panic!("loading {}: {e}", path.display()))
    })
}

/// A sample image of `examples/images/` (tubingen.jpg, starry_night.jpg, the_scream.jpg,
/// golden_gate.jpg; its README gives sources and licences), decoded. The tests read the
/// examples' copies: everything a test reads is in the repository.
pub fn image(name: &str) -> image::RgbImage {
    let path = repository().join("examples/images").join(name);
    style_transfer::image_io::load_image(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The repository's root (the root package's manifest folder).
pub fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The bytes of `tests/reference/vgg19/vgg19_tubingen64.safetensors`: VGG19 inputs,
/// activations, Gram matrices and Gatys losses for 64x64 images, computed in PyTorch (its
/// README names every tensor and gives its provenance).
pub fn reference_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let path = repository().join("tests/reference/vgg19/vgg19_tubingen64.safetensors");
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    })
}

/// One reference tensor as f64 values with its shape.
pub fn reference(name: &str) -> (Vec<f64>, Vec<usize>) {
    let st = SafeTensors::deserialize(reference_bytes()).expect("reference file parses");
    let view = st
        .tensor(name)
        .unwrap_or_else(|e| panic!("reference tensor {name}: {e}"));
    let data = view.data();
    let values = match view.dtype() {
        safetensors::Dtype::F32 => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
            .collect(),
        safetensors::Dtype::F64 => data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        safetensors::Dtype::U8 => data.iter().map(|&v| v as f64).collect(),
        other => panic!("reference tensor {name} has unexpected dtype {other:?}"),
    };
    (values, view.shape().to_vec())
}

/// A reference scalar.
pub fn reference_scalar(name: &str) -> f64 {
    reference(name).0[0]
}

/// A 4-d reference tensor loaded onto `device`.
pub fn reference_tensor4(name: &str, device: &Device) -> Tensor<4> {
    let (values, shape) = reference(name);
    let shape: [usize; 4] = shape.try_into().expect("4-d reference tensor");
    let values: Vec<f32> = values.into_iter().map(|v| v as f32).collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// A point away from an image's own loss targets: the image in the weights' convention plus a
/// fixed pattern of up to 11 units, as flat `[3][h][w]` values.
pub fn perturbed(image: &image::RgbImage, device: &Device) -> Vec<f32> {
    let x = style_transfer::image_io::image_to_tensor(image, weights().convention(), device);
    values(&x)
        .iter()
        .enumerate()
        .map(|(i, v)| *v as f32 + ((i * 37 % 23) as f32 - 11.0))
        .collect()
}

/// Values of a tensor as f64.
pub fn values<const D: usize>(t: &Tensor<D>) -> Vec<f64> {
    let data = t.to_data().convert::<f32>();
    data.as_slice::<f32>()
        .expect("f32 data")
        .iter()
        .map(|&v| v as f64)
        .collect()
}

/// Asserts `max |ours - ref| <= rel * max |ref|` and returns the ratio
/// `max |ours - ref| / max |ref|`.
pub fn assert_close(what: &str, ours: &[f64], reference: &[f64], rel: f64) -> f64 {
    assert_eq!(
        ours.len(),
        reference.len(),
        "{what}: {} values, reference has {}",
        ours.len(),
        reference.len()
    );
    let scale = reference.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let diff = ours
        .iter()
        .zip(reference)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    let ratio = diff / scale;
    assert!(
        ratio <= rel,
        "{what}: max |ours - ref| = {diff:e}, {ratio:e} of max |ref| = {scale:e} (allowed {rel:e})"
    );
    ratio
}

/// The seed corpus of a fuzz target (docs/fuzzing.md), generated into a temporary folder and
/// then checked against what is committed under `fuzz/seeds/<target>`: every generated file
/// must be there with the same bytes, so the corpus follows the formats the tests build. With
/// `WRITE_FUZZ_SEEDS=1` the generated files are written there instead.
pub struct FuzzSeeds {
    temp: tempfile::TempDir,
    committed: PathBuf,
}

impl FuzzSeeds {
    /// An empty temporary folder for `target`'s seeds.
    pub fn new(target: &str) -> Self {
        FuzzSeeds {
            temp: tempfile::tempdir().unwrap(),
            committed: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("fuzz/seeds")
                .join(target),
        }
    }

    /// Where the generator writes.
    pub fn path(&self) -> &std::path::Path {
        self.temp.path()
    }

    /// Compares the generated files with the committed ones (or writes them, see above);
    /// returns how many there were.
    pub fn finish(self) -> usize {
        let write = std::env::var_os("WRITE_FUZZ_SEEDS").is_some_and(|v| v == "1");
        let mut count = 0;
        for entry in std::fs::read_dir(self.temp.path()).unwrap() {
            let entry = entry.unwrap();
            let generated = std::fs::read(entry.path()).unwrap();
            let committed = self.committed.join(entry.file_name());
            if write {
                std::fs::create_dir_all(&self.committed).unwrap();
                std::fs::write(&committed, &generated).unwrap();
            } else {
                let on_disk = std::fs::read(&committed).unwrap_or_default();
                assert!(
                    on_disk == generated,
                    "{} differs from what its generator writes now: regenerate the seeds with \
                     WRITE_FUZZ_SEEDS=1 (docs/fuzzing.md)",
                    committed.display()
                );
            }
            count += 1;
        }
        count
    }
}

/// Checks d(total)/d(pixel) from `losses` at `base` (an image of `shape`, network units)
/// against central differences (step 0.25) at five of the pixels with the largest gradient,
/// within 2%; `label` names the case in failures.
pub fn assert_gradient_matches_finite_differences(
    losses: &style_transfer::Objective,
    vgg: &style_transfer::Vgg19,
    base: &[f32],
    shape: [usize; 4],
    device: &Device,
    label: &str,
) {
    let at = |v: &[f32]| Tensor::<4>::from_data(TensorData::new(v.to_vec(), shape), device);
    let (_, grad) = losses.evaluate(vgg, at(base), 1).unwrap();
    let grad = values(&grad);
    let mut order: Vec<usize> = (0..grad.len()).collect();
    order.sort_by(|&a, &b| grad[b].abs().total_cmp(&grad[a].abs()));
    let h = 0.25f32;
    for &i in order.iter().step_by(7).take(5) {
        let (mut plus, mut minus) = (base.to_vec(), base.to_vec());
        plus[i] += h;
        minus[i] -= h;
        let fp = losses.terms(vgg, at(&plus)).unwrap().total;
        let fm = losses.terms(vgg, at(&minus)).unwrap().total;
        let fd = (fp - fm) / (2.0 * h as f64);
        let err = (fd - grad[i]).abs() / grad[i].abs();
        assert!(
            err < 0.02,
            "{label}, pixel {i}: gradient {} vs central difference {fd} (rel {err:.1e})",
            grad[i]
        );
    }
}
