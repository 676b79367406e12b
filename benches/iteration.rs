//! One optimization iteration of style transfer (tubingen + starry_night, init from content,
//! default layers): an Adam iteration (forward, backward, Adam step, projection into pixel
//! range) and one L-BFGS function evaluation (forward, backward, gradient copied to the host),
//! on each CPU backend compiled in, on the Winograd CPU path (the engine's default there).
//!
//! ```text
//! cargo bench --bench iteration                     # flex at 256 and 512
//! cargo bench --bench iteration --features ndarray  # plus ndarray
//! BENCH_SIZES=128,256 cargo bench --bench iteration # other sizes
//! ```
//! ndarray runs at 256 px unless `BENCH_NDARRAY_SIZES` says otherwise (on the Winograd path
//! it runs as fast as flex; Burn's ndarray convolutions would take a minute per iteration).
//! The peak resident memory of the whole bench process is printed at the end.

use criterion::{Criterion, criterion_group, criterion_main};
use style_transfer::burn::optim::{AdamConfig, Optimizer as _};
use style_transfer::burn::tensor::Tensor;
use style_transfer::image_io::{self, Size};
use style_transfer::{Backend, Settings, StyleTransfer, VggWeights, fetch};

fn sizes(var: &str, default: &str) -> Vec<u32> {
    std::env::var(var)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

fn iteration(c: &mut Criterion) {
    let weights = VggWeights::from_onnx(fetch::default_weights().expect("fetch weights"))
        .expect("load weights");
    let images = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/images");
    let content = image_io::load_image(format!("{images}/tubingen.jpg")).expect("content");
    let style = image_io::load_image(format!("{images}/starry_night.jpg")).expect("style");
    let mut group = c.benchmark_group("iteration");
    group.sample_size(10);
    for (backend, sizes) in [
        (Backend::Flex, sizes("BENCH_SIZES", "256,512")),
        (Backend::Ndarray, sizes("BENCH_NDARRAY_SIZES", "256")),
    ] {
        let Ok(device) = backend.device() else {
            continue;
        };
        for size in sizes {
            let exact = Size::Exact {
                width: size,
                height: size,
            };
            let engine = StyleTransfer::from_settings(
                &weights,
                Settings::new().with_size(exact).with_style_size(exact),
                &device,
            );
            let content = image_io::resize(&content, exact);
            let losses = engine
                .objective(&content, &[(&style, 1.0)])
                .expect("losses");
            let x0 = image_io::image_to_tensor(&content, weights.convention(), &device);
            let (lo, hi) = (
                x0.clone().min().into_scalar::<f32>(),
                x0.clone().max().into_scalar::<f32>(),
            );
            group.bench_function(format!("lbfgs_evaluation/{backend}/{size}"), |b| {
                b.iter(|| {
                    let (terms, grad) = losses
                        .evaluate(engine.vgg(), x0.clone(), 1)
                        .expect("evaluate");
                    let host: Vec<f32> =
                        grad.into_data().convert::<f32>().try_to_vec().expect("f32");
                    (terms.total, host.len())
                })
            });
            let adam = AdamConfig::new().with_epsilon(1e-8).build();
            let mut state = None;
            let mut x: Tensor<4> = x0.clone();
            group.bench_function(format!("adam_iteration/{backend}/{size}"), |b| {
                b.iter(|| {
                    let (terms, grad) = losses
                        .evaluate(engine.vgg(), x.clone(), 1)
                        .expect("evaluate");
                    let (next, next_state) = adam.step(10.0, x.clone(), grad, state.take());
                    x = next.clamp(lo, hi);
                    state = next_state;
                    terms.total
                })
            });
        }
    }
    group.finish();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if let Some(line) = status.lines().find(|l| l.starts_with("VmHWM")) {
        println!(
            "peak resident memory of this bench process: {}",
            line.trim_start_matches("VmHWM:").trim()
        );
    }
}

criterion_group!(benches, iteration);
criterion_main!(benches);
