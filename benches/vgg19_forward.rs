//! VGG19 forward pass (conv1_1 .. conv5_1, the style transfer layers) on each CPU backend
//! compiled in: 256x256 on flex, 64x64 on ndarray (whose naive convolutions are ~100x slower).
//!
//! `cargo bench --bench vgg19_forward` (add `--features ndarray` for ndarray).

use criterion::{Criterion, criterion_group, criterion_main};
use style_transfer::burn::tensor::{Distribution, Tensor};
use style_transfer::{Backend, Layer, Pooling, Vgg19, VggWeights, fetch};

const LAYERS: [Layer; 6] = [
    Layer::Conv1_1,
    Layer::Conv2_1,
    Layer::Conv3_1,
    Layer::Conv4_1,
    Layer::Conv4_2,
    Layer::Conv5_1,
];

fn forward(c: &mut Criterion) {
    let weights = VggWeights::from_onnx(fetch::default_weights().expect("fetch weights"))
        .expect("load weights");
    let mut group = c.benchmark_group("vgg19_forward_to_conv5_1");
    group.sample_size(10);
    for (backend, size) in [(Backend::Flex, 256), (Backend::Ndarray, 64)] {
        let Ok(device) = backend.device() else {
            continue;
        };
        let vgg = Vgg19::new(&weights, Pooling::Max, &device);
        let input = Tensor::<4>::random(
            [1, 3, size, size],
            Distribution::Uniform(-100.0, 100.0),
            &device,
        );
        group.bench_function(format!("{backend}_{size}x{size}"), |b| {
            b.iter(|| {
                let features = vgg.forward(input.clone(), &LAYERS).expect("forward");
                // Read one value back so that the work is finished before the clock stops.
                features
                    .get(Layer::Conv5_1)
                    .expect("conv5_1")
                    .clone()
                    .sum()
                    .into_scalar::<f32>()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, forward);
criterion_main!(benches);
