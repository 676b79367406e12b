//! The loss modules against the PyTorch reference losses of `tests/reference/vgg19/`, against
//! central finite differences, and at their targets, on every enabled backend.

mod common;

use common::{reference_scalar, reference_tensor4, values, weights};
use style_transfer::burn::tensor::{Tensor, TensorData};
use style_transfer::losses::{ContentLoss, StyleLoss, total_variation};
use style_transfer::{
    Backend, DEFAULT_STYLE_LAYERS, Layer, Pooling, Settings, StyleTransfer, Vgg19, image_io,
};

const REL: f64 = 1e-4;

backend_tests!(
    losses_match_reference,
    gradient_matches_finite_differences,
    losses_vanish_at_their_targets,
    blend_weights_mix_style_targets,
);

fn rel_err(ours: f64, reference: f64) -> f64 {
    (ours - reference).abs() / reference.abs()
}

fn losses_match_reference(backend: Backend) {
    let device = backend.device().unwrap();
    let vgg = Vgg19::new(weights(), Pooling::Max, &device);
    let style_layers: Vec<Layer> = DEFAULT_STYLE_LAYERS.iter().map(|(l, _)| *l).collect();
    let content = vgg
        .forward(
            reference_tensor4("content_input", &device),
            &[Layer::Conv4_2],
        )
        .unwrap();
    let style = vgg
        .forward(reference_tensor4("style_input", &device), &style_layers)
        .unwrap();
    let mut all = style_layers.clone();
    all.push(Layer::Conv4_2);
    let generated = vgg
        .forward(reference_tensor4("generated_input", &device), &all)
        .unwrap();

    let content_loss = ContentLoss::new(&content, &[(Layer::Conv4_2, 1.0)]).unwrap();
    let lc = values(&content_loss.forward(&generated).unwrap())[0];
    assert!(
        rel_err(lc, reference_scalar("loss_content")) <= REL,
        "content {lc} vs {}",
        reference_scalar("loss_content")
    );

    // Per-layer E_l: unit layer weights.
    let unit: Vec<(Layer, f32)> = style_layers.iter().map(|l| (*l, 1.0)).collect();
    let per_layer = StyleLoss::new(&style, &unit)
        .unwrap()
        .forward_layers(&generated)
        .unwrap();
    for (layer, term) in per_layer {
        let (ours, expected) = (
            values(&term)[0],
            reference_scalar(&format!("loss_style_{layer}")),
        );
        let err = rel_err(ours, expected);
        eprintln!("[{backend}] E_{layer}: {ours:e} vs {expected:e} (rel {err:.1e})");
        assert!(err <= REL, "E_{layer}: {ours} vs {expected}");
    }
    let ls = values(
        &StyleLoss::new(&style, &DEFAULT_STYLE_LAYERS)
            .unwrap()
            .forward(&generated)
            .unwrap(),
    )[0];
    assert!(
        rel_err(ls, reference_scalar("loss_style")) <= REL,
        "style {ls}"
    );
    let total = reference_scalar("alpha") * lc + reference_scalar("beta") * ls;
    assert!(
        rel_err(total, reference_scalar("loss_total")) <= REL,
        "total {total}"
    );

    // The engine's own evaluation gives the same terms from the stored 8-bit images.
    let image = |name: &str| {
        let (px, _) = common::reference(name);
        image::RgbImage::from_raw(64, 64, px.iter().map(|&v| v as u8).collect()).unwrap()
    };
    let engine = StyleTransfer::from_settings(
        weights(),
        Settings::new().with_size(image_io::Size::Exact {
            width: 64,
            height: 64,
        }),
        &device,
    );
    let losses = engine
        .objective(&image("content_image"), &[(&image("style_image"), 1.0)])
        .unwrap();
    let terms = losses
        .terms(engine.vgg(), reference_tensor4("generated_input", &device))
        .unwrap();
    assert!(
        rel_err(terms.total, reference_scalar("loss_total")) <= REL,
        "engine total {}",
        terms.total
    );
    assert!(rel_err(terms.content, reference_scalar("loss_content")) <= REL);
}

/// d(total)/d(pixel) from autodiff against central differences at the pixels with the
/// largest gradient of a 24x24 image (content conv2_1, style conv1_1 + conv2_1, TV).
fn gradient_matches_finite_differences(backend: Backend) {
    let device = backend.device().unwrap();
    let engine = StyleTransfer::from_settings(
        weights(),
        Settings::new()
            .with_content_layers(&[(Layer::Conv2_1, 1.0)])
            .with_style_layers(&[(Layer::Conv1_1, 0.5), (Layer::Conv2_1, 0.5)])
            .with_style_weight(1e2)
            .with_tv_weight(1.0)
            .with_size(image_io::Size::Exact {
                width: 24,
                height: 24,
            })
            .with_style_size(image_io::Size::Exact {
                width: 24,
                height: 24,
            }),
        &device,
    );
    let content = image_io::resize(&common::image("tubingen.jpg"), "24x24".parse().unwrap());
    let style = common::image("starry_night.jpg");
    let losses = engine.objective(&content, &[(&style, 1.0)]).unwrap();
    // A point away from the content target.
    let base = common::perturbed(&content, &device);
    common::assert_gradient_matches_finite_differences(
        &losses,
        engine.vgg(),
        &base,
        [1, 3, 24, 24],
        &device,
        &backend.to_string(),
    );
}

fn losses_vanish_at_their_targets(backend: Backend) {
    let device = backend.device().unwrap();
    let vgg = Vgg19::new(weights(), Pooling::Max, &device);
    let layers = [Layer::Conv1_1, Layer::Conv3_1, Layer::Conv4_2];
    let content = vgg
        .forward(reference_tensor4("content_input", &device), &layers)
        .unwrap();
    let style = vgg
        .forward(reference_tensor4("style_input", &device), &layers)
        .unwrap();
    let cl = ContentLoss::new(&content, &[(Layer::Conv4_2, 1.0), (Layer::Conv1_1, 0.5)]).unwrap();
    assert_eq!(
        values(&cl.forward(&content).unwrap())[0],
        0.0,
        "content loss at its target"
    );
    assert!(values(&cl.forward(&style).unwrap())[0] > 0.0);
    let sl = StyleLoss::new(&style, &[(Layer::Conv1_1, 0.5), (Layer::Conv3_1, 0.5)]).unwrap();
    let at_target = values(&sl.forward(&style).unwrap())[0];
    let away = values(&sl.forward(&content).unwrap())[0];
    assert!(away > 0.0);
    assert!(
        at_target <= 1e-9 * away,
        "style loss at its target {at_target} (away {away})"
    );
    let flat = Tensor::<4>::ones([1, 3, 20, 20], &device).mul_scalar(17.0);
    assert_eq!(values(&total_variation(&flat))[0], 0.0);
    let ramp = Tensor::<4>::from_data(
        TensorData::new(
            (0..3 * 400).map(|i| (i % 20) as f32).collect::<Vec<_>>(),
            [1, 3, 20, 20],
        ),
        &device,
    );
    // Horizontal steps of 1 (19 per row, 20 rows, 3 channels), no vertical change.
    assert_eq!(values(&total_variation(&ramp))[0], (19 * 20 * 3) as f64);
}

/// Blending two styles: weights (1, 0) give the first style's loss; (1, 1) the mixed target.
fn blend_weights_mix_style_targets(backend: Backend) {
    let device = backend.device().unwrap();
    let vgg = Vgg19::new(weights(), Pooling::Max, &device);
    let layers: Vec<Layer> = DEFAULT_STYLE_LAYERS.iter().map(|(l, _)| *l).collect();
    let a = vgg
        .forward(reference_tensor4("style_input", &device), &layers)
        .unwrap();
    let b = vgg
        .forward(reference_tensor4("content_input", &device), &layers)
        .unwrap();
    let g = vgg
        .forward(reference_tensor4("generated_input", &device), &layers)
        .unwrap();
    let single = values(
        &StyleLoss::new(&a, &DEFAULT_STYLE_LAYERS)
            .unwrap()
            .forward(&g)
            .unwrap(),
    )[0];
    let only_a = values(
        &StyleLoss::blended(&[(&a, 1.0), (&b, 0.0)], &DEFAULT_STYLE_LAYERS)
            .unwrap()
            .forward(&g)
            .unwrap(),
    )[0];
    assert!(rel_err(only_a, single) < 1e-5, "{only_a} vs {single}");
    // The loss is convex in the target Gram: against the equal mix it is at most the mean of
    // the losses against each (and differs from both).
    let to_b = values(
        &StyleLoss::new(&b, &DEFAULT_STYLE_LAYERS)
            .unwrap()
            .forward(&g)
            .unwrap(),
    )[0];
    let mix = values(
        &StyleLoss::blended(&[(&a, 1.0), (&b, 1.0)], &DEFAULT_STYLE_LAYERS)
            .unwrap()
            .forward(&g)
            .unwrap(),
    )[0];
    assert!(
        mix <= 0.5 * (single + to_b) * (1.0 + 1e-6),
        "{mix} vs {single}, {to_b}"
    );
    assert!(rel_err(mix, single) > 1e-3 && rel_err(mix, to_b) > 1e-3);
    assert!(
        StyleLoss::blended(&[(&a, 0.0)], &DEFAULT_STYLE_LAYERS).is_err(),
        "weights summing to zero are refused"
    );
    assert!(
        StyleLoss::blended(&[(&a, -1.0), (&b, 2.0)], &DEFAULT_STYLE_LAYERS).is_err(),
        "negative weights are refused"
    );
}
