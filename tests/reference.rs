//! VGG19 activations and Gram matrices against the independent PyTorch reference in
//! `tests/reference/vgg19/vgg19_tubingen64.safetensors` (its README names every tensor), on
//! every enabled backend. Tolerance: max |ours - ref| <= 1e-4 x max |ref| per tensor.

mod common;

use common::{assert_close, reference, reference_tensor4, values, weights};
use style_transfer::burn::tensor::Tensor;
use style_transfer::losses::gram_matrix;
use style_transfer::{Backend, Layer, Pooling, Vgg19, image_io};

const TOLERANCE: f64 = 1e-4;
const STYLE_LAYERS: [Layer; 5] = [
    Layer::Conv1_1,
    Layer::Conv2_1,
    Layer::Conv3_1,
    Layer::Conv4_1,
    Layer::Conv5_1,
];

backend_tests!(
    preprocessing_matches_reference_inputs,
    content_activations_match_reference,
    generated_conv4_2_matches_reference,
    gram_matrices_match_reference,
);

/// The stored 8-bit images, converted with the weights' (Caffe) convention, give the stored
/// `*_input` tensors.
fn preprocessing_matches_reference_inputs(backend: Backend) {
    let device = backend.device().unwrap();
    for which in ["content", "style", "generated"] {
        let (pixels, shape) = reference(&format!("{which}_image"));
        assert_eq!(shape, [64, 64, 3]);
        let image =
            image::RgbImage::from_raw(64, 64, pixels.iter().map(|&v| v as u8).collect()).unwrap();
        let ours = image_io::image_to_tensor(&image, weights().convention(), &device);
        assert_eq!(ours.dims(), [1, 3, 64, 64]);
        let (expected, _) = reference(&format!("{which}_input"));
        assert_close(&format!("{which}_input"), &values(&ours), &expected, 1e-6);
        // And back: the image survives the round trip exactly.
        let back = image_io::tensor_to_image(&ours, weights().convention()).unwrap();
        assert_eq!(back, image);
    }
}

fn content_activations_match_reference(backend: Backend) {
    let device = backend.device().unwrap();
    let vgg = Vgg19::new(weights(), Pooling::Max, &device);
    let layers = [
        Layer::Conv1_1,
        Layer::Conv2_1,
        Layer::Conv3_1,
        Layer::Conv4_1,
        Layer::Conv4_2,
        Layer::Conv5_1,
    ];
    let features = vgg
        .forward(reference_tensor4("content_input", &device), &layers)
        .unwrap();
    assert_eq!(features.iter().count(), layers.len());
    for layer in layers {
        let ours = features.get(layer).unwrap();
        let (expected, shape) = reference(&format!("content_{layer}"));
        assert_eq!(ours.dims().to_vec(), shape, "{layer} shape");
        let ratio = assert_close(
            &format!("content {layer}"),
            &values(ours),
            &expected,
            TOLERANCE,
        );
        eprintln!("[{backend}] content {layer}: max rel error {ratio:.2e}");
    }
}

fn generated_conv4_2_matches_reference(backend: Backend) {
    let device = backend.device().unwrap();
    let vgg = Vgg19::new(weights(), Pooling::Max, &device);
    let features = vgg
        .forward(
            reference_tensor4("generated_input", &device),
            &[Layer::Conv4_2],
        )
        .unwrap();
    let (expected, _) = reference("generated_conv4_2");
    let ratio = assert_close(
        "generated conv4_2",
        &values(features.get(Layer::Conv4_2).unwrap()),
        &expected,
        TOLERANCE,
    );
    eprintln!("[{backend}] generated conv4_2: max rel error {ratio:.2e}");
}

/// Full Grams (conv1_1..conv3_1), top-left 128x128 blocks (conv4_1, conv5_1) and the sum,
/// sum of squares and trace of every full Gram, for the style and the content image.
fn gram_matrices_match_reference(backend: Backend) {
    let device = backend.device().unwrap();
    let vgg = Vgg19::new(weights(), Pooling::Max, &device);
    for which in ["style", "content"] {
        let features = vgg
            .forward(
                reference_tensor4(&format!("{which}_input"), &device),
                &STYLE_LAYERS,
            )
            .unwrap();
        for layer in STYLE_LAYERS {
            let gram = gram_matrix(features.get(layer).unwrap().clone());
            let n = layer.channels();
            assert_eq!(gram.dims(), [1, n, n]);
            let gram: Tensor<2> = gram.reshape([n, n]);
            let (name, ours) = if n <= 256 {
                (format!("{which}_gram_{layer}"), values(&gram))
            } else {
                (
                    format!("{which}_gram_{layer}_top128"),
                    values(&gram.clone().slice([0..128, 0..128])),
                )
            };
            let (expected, _) = reference(&name);
            let ratio = assert_close(&name, &ours, &expected, TOLERANCE);
            eprintln!("[{backend}] {name}: max rel error {ratio:.2e}");

            let full = values(&gram);
            let sum: f64 = full.iter().sum();
            let sum_sq: f64 = full.iter().map(|v| v * v).sum();
            let trace: f64 = (0..n).map(|i| full[i * n + i]).sum();
            let (stats, _) = reference(&format!("{which}_gram_{layer}_stats"));
            for (label, ours, expected) in [
                ("sum", sum, stats[0]),
                ("sum of squares", sum_sq, stats[1]),
                ("trace", trace, stats[2]),
            ] {
                assert_close(&format!("{name} {label}"), &[ours], &[expected], TOLERANCE);
            }
        }
    }
}

#[test]
fn reference_tensor_helper_reads_shapes() {
    // Guards the helpers themselves: a misread file would make every comparison meaningless.
    let (values, shape) = reference("content_conv5_1");
    assert_eq!(shape, [1, 512, 4, 4]);
    assert_eq!(values.len(), 512 * 16);
    assert!(
        values.iter().all(|v| *v >= 0.0),
        "post-ReLU activations are non-negative"
    );
}
