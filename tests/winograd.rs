//! The Winograd CPU path against Burn's convolutions and autodiff, on every enabled backend:
//! the same loss terms and gradient at odd sizes, with both poolings, a layer that is both a
//! content and a style layer, and total variation. (On wgpu the path never applies.)

mod common;

use common::{values, weights};
use style_transfer::burn::tensor::{Tensor, TensorData};
use style_transfer::image_io::{self, Size};
use style_transfer::{Backend, Layer, Pooling, StyleTransfer};

backend_tests!(
    winograd_path_matches_burn_path_with_max_pooling,
    winograd_path_matches_burn_path_with_average_pooling,
    winograd_switch_turns_the_path_off,
);

/// An engine for a 61x43 image (odd sides, not multiples of the 4x4 output tiles).
fn engine(backend: Backend, pooling: Pooling, winograd: bool) -> StyleTransfer {
    let device = backend.device().unwrap();
    StyleTransfer::with_pooling(weights(), pooling, &device)
        .with_winograd(winograd)
        .with_content_layers(&[(Layer::Conv4_2, 1.0), (Layer::Conv3_1, 0.5)])
        .with_style_layers(&[
            (Layer::Conv1_1, 0.2),
            (Layer::Conv2_1, 0.2),
            (Layer::Conv3_1, 0.2),
            (Layer::Conv4_1, 0.2),
            (Layer::Conv5_1, 0.2),
        ])
        .with_tv_weight(0.5)
        .with_size(Size::Exact {
            width: 61,
            height: 43,
        })
        .with_style_size(Size::Exact {
            width: 50,
            height: 38,
        })
}

/// Compares the two paths; `grad_tol` bounds the gradients' relative L2 distance.
fn compare(backend: Backend, pooling: Pooling, grad_tol: f64) {
    let device = backend.device().unwrap();
    let content = image_io::resize(
        &image_io::load_image(common::shared("images/tubingen.jpg")).unwrap(),
        Size::Exact {
            width: 61,
            height: 43,
        },
    );
    let style = image_io::load_image(common::shared("images/starry_night.jpg")).unwrap();
    let fast = engine(backend, pooling, true);
    let plain = engine(backend, pooling, false);
    let fast_losses = fast.losses(&content, &[(&style, 1.0)]).unwrap();
    let plain_losses = plain.losses(&content, &[(&style, 1.0)]).unwrap();
    assert_eq!(
        fast_losses.uses_winograd(),
        backend != Backend::Wgpu,
        "the Winograd path runs on CPU devices only"
    );
    assert!(!plain_losses.uses_winograd());

    // A point away from the content target.
    let base = common::perturbed(&content, &device);
    let x = Tensor::<4>::from_data(TensorData::new(base, [1, 3, 43, 61]), &device);
    let (ft, fg) = fast_losses.evaluate(fast.vgg(), x.clone(), 1).unwrap();
    let (pt, pg) = plain_losses.evaluate(plain.vgg(), x, 1).unwrap();
    let rel = |a: f64, b: f64| (a - b).abs() / b.abs().max(f64::MIN_POSITIVE);
    for (name, a, b) in [
        ("content", ft.content, pt.content),
        ("style", ft.style, pt.style),
        ("tv", ft.tv, pt.tv),
        ("total", ft.total, pt.total),
    ] {
        eprintln!(
            "[{backend}] {name}: winograd {a:e}, burn {b:e} (rel {:.1e})",
            rel(a, b)
        );
        assert!(b > 0.0 && rel(a, b) < 1e-4, "{name}: {a} vs {b}");
    }
    assert_eq!(ft.style_layers.len(), pt.style_layers.len());
    for ((la, a), (lb, b)) in ft.style_layers.iter().zip(&pt.style_layers) {
        assert_eq!(la, lb);
        assert!(rel(*a, *b) < 1e-4, "{la}: {a} vs {b}");
    }
    // Relative L2 distance. Max pooling has kinks: where a window's two largest values are
    // within float rounding of each other, the two paths can route the gradient to different
    // pixels (measured: 4e-4 with max pooling, 3e-6 with average pooling on flex).
    let (fg, pg) = (values(&fg), values(&pg));
    assert_eq!(fg.len(), 3 * 43 * 61);
    let norm = pg.iter().map(|v| v * v).sum::<f64>().sqrt();
    let dist = fg
        .iter()
        .zip(&pg)
        .map(|(a, b)| (a - b) * (a - b))
        .sum::<f64>()
        .sqrt();
    eprintln!(
        "[{backend}] gradient: relative L2 difference {:.1e}",
        dist / norm
    );
    assert!(
        norm > 0.0 && dist <= grad_tol * norm,
        "gradient differs by {dist} (norm {norm})"
    );
}

fn winograd_path_matches_burn_path_with_max_pooling(backend: Backend) {
    compare(backend, Pooling::Max, 2e-3);
}

fn winograd_path_matches_burn_path_with_average_pooling(backend: Backend) {
    compare(backend, Pooling::Average, 1e-4);
}

fn winograd_switch_turns_the_path_off(backend: Backend) {
    let content = image_io::resize(
        &image_io::load_image(common::shared("images/tubingen.jpg")).unwrap(),
        Size::Exact {
            width: 32,
            height: 32,
        },
    );
    let on = engine(backend, Pooling::Max, true)
        .losses(&content, &[(&content, 1.0)])
        .unwrap();
    let off = engine(backend, Pooling::Max, false)
        .losses(&content, &[(&content, 1.0)])
        .unwrap();
    assert_eq!(on.uses_winograd(), backend != Backend::Wgpu);
    assert!(!off.uses_winograd());
}
