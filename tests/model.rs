//! The VGG19 feature extractor's contract, on every enabled backend: which layers come back,
//! their shapes for any size of at least 16 pixels, pooling choices and refused inputs.

mod common;

use common::{reference_tensor4, values, weights};
use style_transfer::burn::tensor::Tensor;
use style_transfer::{Backend, Error, Layer, MIN_INPUT_SIDE, Pooling, Vgg19};

backend_tests!(
    returns_exactly_the_layers_asked_for,
    odd_sizes_floor_through_pooling,
    average_pooling_changes_only_deeper_blocks,
    too_small_and_wrong_channel_inputs_are_refused,
);

fn returns_exactly_the_layers_asked_for(backend: Backend) {
    let device = backend.device().unwrap();
    let vgg = Vgg19::new(weights(), Pooling::Max, &device);
    let input = reference_tensor4("content_input", &device);
    // Asked out of order: returned in network order, nothing else.
    let features = vgg
        .forward(input.clone(), &[Layer::Conv3_1, Layer::Conv1_2])
        .unwrap();
    let layers: Vec<Layer> = features.iter().map(|(l, _)| l).collect();
    assert_eq!(layers, [Layer::Conv1_2, Layer::Conv3_1]);
    assert!(features.get(Layer::Conv5_1).is_none());
    assert!(vgg.forward(input, &[]).unwrap().iter().next().is_none());
}

fn odd_sizes_floor_through_pooling(backend: Backend) {
    let device = backend.device().unwrap();
    let vgg = Vgg19::new(weights(), Pooling::Max, &device);
    let input = Tensor::<4>::ones([1, 3, 37, MIN_INPUT_SIDE], &device);
    let features = vgg.forward(input, &Layer::ALL).unwrap();
    let expected_h = [37, 37, 18, 18, 9, 9, 9, 9, 4, 4, 4, 4, 2, 2, 2, 2];
    let expected_w = [16, 16, 8, 8, 4, 4, 4, 4, 2, 2, 2, 2, 1, 1, 1, 1];
    for (layer, f) in features.iter() {
        let i = layer.index();
        assert_eq!(
            f.dims(),
            [1, layer.channels(), expected_h[i], expected_w[i]],
            "{layer}"
        );
        assert!(
            values(f).iter().all(|v| *v >= 0.0 && v.is_finite()),
            "{layer} is post-ReLU and finite"
        );
    }
}

fn average_pooling_changes_only_deeper_blocks(backend: Backend) {
    let device = backend.device().unwrap();
    let max = Vgg19::new(weights(), Pooling::Max, &device);
    let avg = Vgg19::new(weights(), Pooling::Average, &device);
    assert_eq!(avg.pooling(), Pooling::Average);
    let input = reference_tensor4("content_input", &device);
    let layers = [Layer::Conv1_2, Layer::Conv2_1];
    let (a, b) = (
        max.forward(input.clone(), &layers).unwrap(),
        avg.forward(input, &layers).unwrap(),
    );
    // Before the first pooling both agree exactly; after it they differ.
    assert_eq!(
        values(a.get(Layer::Conv1_2).unwrap()),
        values(b.get(Layer::Conv1_2).unwrap())
    );
    let (x, y) = (
        values(a.get(Layer::Conv2_1).unwrap()),
        values(b.get(Layer::Conv2_1).unwrap()),
    );
    let diff = x
        .iter()
        .zip(&y)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0, f64::max);
    assert!(
        diff > 1.0,
        "average pooling must change conv2_1 (max diff {diff})"
    );
}

fn too_small_and_wrong_channel_inputs_are_refused(backend: Backend) {
    let device = backend.device().unwrap();
    let vgg = Vgg19::new(weights(), Pooling::Max, &device);
    let small = Tensor::<4>::zeros([1, 3, MIN_INPUT_SIDE - 1, 64], &device);
    match vgg.forward(small, &[Layer::Conv1_1]) {
        Err(Error::ImageTooSmall {
            network: "VGG19",
            width: 64,
            height: 15,
            min: MIN_INPUT_SIDE,
        }) => {}
        other => panic!("expected ImageTooSmall, got {other:?}"),
    }
    let gray = Tensor::<4>::zeros([1, 1, 32, 32], &device);
    assert!(matches!(
        vgg.forward(gray, &[Layer::Conv1_1]),
        Err(Error::Shape { .. })
    ));
}
