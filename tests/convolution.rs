//! The candidate convolutions ([`Convolution`]) against Burn's `conv2d` on every backend, on
//! every distinct layer shape of VGG19 with its real filters, at odd sizes: the values and the
//! gradient with respect to the input within 1e-4 of the largest (float32 candidates), and a
//! whole network's features and an optimization step's loss through `Settings`.

mod common;

use common::{assert_close, values, weights};
use style_transfer::burn::tensor::{Device, Tensor, TensorData};
use style_transfer::image_io::{self, Size};
use style_transfer::{Backend, Convolution, Layer, Pooling, Settings, StyleTransfer, Vgg19};

backend_tests!(
    float32_candidates_match_burn_on_every_layer_shape,
    half_stays_within_its_bound,
    the_setting_reaches_the_network_and_keeps_the_losses,
);

/// The first layer of each distinct `[out, in]` shape of VGG19 (eight of them).
fn distinct_shapes() -> Vec<Layer> {
    let mut seen = Vec::new();
    Layer::ALL
        .into_iter()
        .filter(|&l| {
            let shape = (l.channels(), in_channels(l));
            let new = !seen.contains(&shape);
            seen.push(shape);
            new
        })
        .collect()
}

/// The input channels of `layer`.
fn in_channels(layer: Layer) -> usize {
    weights().conv(layer).weight.len() / 9 / layer.channels()
}

/// Deterministic values in [-1, 1): a fixed pattern (as `common::perturbed` makes), shifted
/// by `seed`.
fn pattern(n: usize, seed: u64) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 37 + seed as usize * 11) % 23) as f32 / 11.5 - 1.0)
        .collect()
}

/// `layer`'s filters and bias as tensors on `device`.
fn filters(layer: Layer, device: &Device) -> (Tensor<4>, Tensor<1>) {
    let w = weights().conv(layer);
    let [out, inp] = [layer.channels(), in_channels(layer)];
    (
        Tensor::from_data(TensorData::new(w.weight.clone(), [out, inp, 3, 3]), device),
        Tensor::from_data(TensorData::new(w.bias.clone(), [out]), device),
    )
}

/// The convolution of `x` (`[1, in, h, w]`) by `layer`'s filters computed by `conv`, and the
/// gradient of `sum(y * r)` with respect to `x` for a fixed pattern `r`.
fn forward_and_gradient(
    conv: Convolution,
    layer: Layer,
    x: &[f32],
    shape: [usize; 4],
    device: &Device,
) -> (Vec<f64>, Vec<f64>) {
    let (weight, bias) = filters(layer, device);
    let x = Tensor::<4>::from_data(TensorData::new(x.to_vec(), shape), device)
        .autodiff()
        .require_grad();
    let y = conv.apply(x.clone(), weight, Some(bias));
    let [b, out, h, w] = y.dims();
    assert_eq!(
        [b, out, h, w],
        [shape[0], layer.channels(), shape[2], shape[3]]
    );
    let r = Tensor::<4>::from_data(
        TensorData::new(pattern(b * out * h * w, 7), [b, out, h, w]),
        device,
    );
    let grads = (y.clone() * r).sum().backward();
    let g = x.grad(&grads).expect("the input requires a gradient");
    (values(&y), values(&g))
}

/// Each layer's input at a small odd size: 7x5, so that no tile size divides it.
fn layer_input(layer: Layer) -> ([usize; 4], Vec<f32>) {
    let inp = in_channels(layer);
    let shape = [1, inp, 7, 5];
    (shape, pattern(inp * 35, layer.index() as u64))
}

fn float32_candidates_match_burn_on_every_layer_shape(backend: Backend) {
    let device = backend.device().unwrap();
    let shapes = distinct_shapes();
    assert_eq!(shapes.len(), 8);
    let mut cases: Vec<(Layer, [usize; 4], Vec<f32>)> = shapes
        .into_iter()
        .map(|layer| {
            let (shape, x) = layer_input(layer);
            (layer, shape, x)
        })
        .collect();
    // A batch of two and a side of one (the deepest maps of a 16 px input).
    for shape in [[2, 64, 6, 9], [1, 64, 1, 1]] {
        cases.push((Layer::Conv1_2, shape, pattern(shape.iter().product(), 3)));
    }
    for (layer, shape, x) in cases {
        let (y_ref, g_ref) = forward_and_gradient(Convolution::Burn, layer, &x, shape, &device);
        for conv in [
            Convolution::Im2col,
            Convolution::Winograd2,
            Convolution::Winograd4,
        ] {
            let (y, g) = forward_and_gradient(conv, layer, &x, shape, &device);
            let what = format!("{conv} on {layer} at {shape:?}");
            assert_close(&format!("{what}: values"), &y, &y_ref, 1e-4);
            assert_close(&format!("{what}: input gradient"), &g, &g_ref, 1e-4);
        }
    }
}

/// Float16 storage rounds to about 1e-3 of each value; the bound here (1e-2 of the largest)
/// (3e-2 for the gradient, whose sums are longer) is float16 rounding, not float32 agreement;
/// the losses of a whole run are what docs/backends.md bounds.
fn half_stays_within_its_bound(backend: Backend) {
    let device = backend.device().unwrap();
    if backend == Backend::Ndarray {
        // No float16 tensors there: the network refuses the setting instead of panicking.
        let vgg = Vgg19::new(weights(), Pooling::Max, &device).with_convolution(Convolution::Half);
        let x = Tensor::<4>::zeros([1, 3, 16, 16], &device);
        let err = vgg.forward(x, &[Layer::Conv1_1]).unwrap_err();
        assert!(
            matches!(
                err,
                style_transfer::Error::InvalidConfig {
                    name: "convolution",
                    ..
                }
            ),
            "{err}"
        );
        return;
    }
    for layer in [Layer::Conv1_1, Layer::Conv3_1] {
        let (shape, x) = layer_input(layer);
        let (y_ref, g_ref) = forward_and_gradient(Convolution::Burn, layer, &x, shape, &device);
        let (y, g) = forward_and_gradient(Convolution::Half, layer, &x, shape, &device);
        let rel = assert_close(&format!("f16 on {layer}: values"), &y, &y_ref, 1e-2);
        assert_close(&format!("f16 on {layer}: input gradient"), &g, &g_ref, 3e-2);
        // It is float16 indeed: not Burn's float32 result to the last bit.
        assert!(rel > 1e-6, "f16 on {layer}: {rel:e} from float32");
    }
}

/// Through `Settings`: the engine's network computes its convolutions the chosen way, and the
/// whole network's features and the losses of one evaluation agree with Burn's.
fn the_setting_reaches_the_network_and_keeps_the_losses(backend: Backend) {
    let device = backend.device().unwrap();
    let size = Size::Exact {
        width: 33,
        height: 21,
    };
    let content = image_io::resize(&common::image("tubingen.jpg"), size);
    let style = image_io::resize(&common::image("starry_night.jpg"), size);
    let evaluate = |conv: Convolution| {
        let settings = Settings::new()
            .with_winograd(false)
            .with_convolution(conv)
            .with_size(size)
            .with_style_size(size);
        let engine = StyleTransfer::from_settings(weights(), settings, &device);
        assert_eq!(engine.vgg().convolution(), conv);
        let objective = engine.objective(&content, &[(&style, 1.0)]).unwrap();
        let x = image_io::image_to_tensor(&content, weights().convention(), &device);
        let (terms, grad) = objective.evaluate(engine.vgg(), x, 1).unwrap();
        (terms.total, values(&grad))
    };
    let (total_ref, grad_ref) = evaluate(Convolution::Burn);
    for conv in [
        Convolution::Im2col,
        Convolution::Winograd2,
        Convolution::Winograd4,
    ] {
        let (total, grad) = evaluate(conv);
        let rel = (total - total_ref).abs() / total_ref.abs();
        assert!(rel < 1e-4, "{conv}: total {total} vs {total_ref} ({rel:e})");
        assert_close(&format!("{conv}: gradient"), &grad, &grad_ref, 1e-3);
    }
    // Float16, where the device has it: the whole objective's gradient passes float16's range
    // (without the loss scaling of `Convolution::gradient` it is infinite) and stays near
    // float32's. On a picture this small one evaluation's total moves in float16 by 0.2% on
    // flex and 1.2% on lavapipe (the Grams' differences amplify float16's rounding), so the
    // bound is the fidelity bound, 5%, which the 256 px / 100 L-BFGS run meets with
    // 0.03% on flex.
    if backend != Backend::Ndarray {
        let (total, grad) = evaluate(Convolution::Half);
        assert!(
            grad.iter().all(|g| g.is_finite()),
            "f16: a non-finite gradient"
        );
        let rel = (total - total_ref).abs() / total_ref.abs();
        assert!(rel < 5e-2, "f16: total {total} vs {total_ref} ({rel:e})");
        assert_close("f16: gradient", &grad, &grad_ref, 5e-2);
    }
    // The network itself, every layer.
    let base = Vgg19::new(weights(), Pooling::Max, &device);
    let x = image_io::image_to_tensor(&content, weights().convention(), &device);
    let want = base.forward(x.clone(), &Layer::ALL).unwrap();
    let other =
        Vgg19::new(weights(), Pooling::Max, &device).with_convolution(Convolution::Winograd2);
    let got = other.forward(x, &Layer::ALL).unwrap();
    for ((layer, a), (_, b)) in got.iter().zip(want.iter()) {
        assert_close(&format!("winograd2 {layer}"), &values(a), &values(b), 1e-4);
    }
}
