//! Spatial control (Gatys et al. 2017) on every enabled backend: masks of all white change
//! nothing; gradients with masks, a style-image mask and a content-weight map against central
//! finite differences, on both evaluation paths; two styles on two halves each end closer to
//! their own style there; a region without style keeps the content; bad masks are refused
//! before any network is built.

mod common;

use common::{values, weights};
use image::{GrayImage, Luma, RgbImage};
use style_transfer::burn::tensor::{Tensor, TensorData};
use style_transfer::image_io::{self, Size};
use style_transfer::losses::gram_matrix;
use style_transfer::{
    Backend, Control, Error, Layer, Progress, Settings, Solver, StyleTransfer, Stylized,
};

backend_tests!(
    white_masks_change_nothing,
    masked_gradients_match_finite_differences,
    two_styles_on_two_halves,
    a_region_without_style_keeps_the_content,
    masks_carry_through_scales_and_original_colors,
);

fn image(name: &str) -> RgbImage {
    common::image(name)
}

fn sized(name: &str, width: u32, height: u32) -> RgbImage {
    image_io::resize(&image(name), Size::Exact { width, height })
}

/// A mask of `width` x `height`, white where `inside(x, y)`.
fn mask(width: u32, height: u32, inside: impl Fn(u32, u32) -> bool) -> GrayImage {
    GrayImage::from_fn(width, height, |x, y| {
        Luma([if inside(x, y) { 255 } else { 0 }])
    })
}

/// The evaluation paths to test: the Winograd CPU path and Burn's on CPU backends; Burn's
/// alone on wgpu (where the switch changes nothing).
fn paths(backend: Backend) -> Vec<bool> {
    match backend {
        Backend::Wgpu => vec![false],
        _ => vec![true, false],
    }
}

fn engine(backend: Backend, settings: Settings) -> StyleTransfer {
    StyleTransfer::from_settings(weights(), settings, &backend.device().unwrap())
}

/// Masks of all white (over the output, over the style image, and as the content-weight
/// map) give exactly the unmasked losses and gradient, on both evaluation paths (on wgpu, to
/// a relative 1e-5: its kernels may round `F * 1` differently).
fn white_masks_change_nothing(backend: Backend) {
    let device = backend.device().unwrap();
    let (w, h) = (40, 32);
    let content = sized("tubingen.jpg", w, h);
    let style = image("starry_night.jpg");
    let x = Tensor::<4>::from_data(
        TensorData::new(
            common::perturbed(&content, &device),
            [1, 3, h as usize, w as usize],
        ),
        &device,
    );
    for winograd in paths(backend) {
        let base = Settings::new()
            .with_size(Size::Exact {
                width: w,
                height: h,
            })
            .with_winograd(winograd);
        let white = |w, h| Some(mask(w, h, |_, _| true));
        let masked = base
            .clone()
            .with_style_masks(vec![white(80, 64)])
            .with_style_image_masks(vec![white(style.width(), style.height())])
            .with_content_weight_map(white(20, 16));
        let (plain, guided) = (engine(backend, base), engine(backend, masked));
        let plain_losses = plain.objective(&content, &[(&style, 1.0)]).unwrap();
        let guided_losses = guided.objective(&content, &[(&style, 1.0)]).unwrap();
        let (a, ga) = plain_losses.evaluate(plain.vgg(), x.clone(), 1).unwrap();
        let (b, gb) = guided_losses.evaluate(guided.vgg(), x.clone(), 1).unwrap();
        let (ga, gb) = (values(&ga), values(&gb));
        if backend == Backend::Wgpu {
            // The GPU's kernels for `F * 1` and its Gram may round differently.
            let rel = |x: f64, y: f64| (x - y).abs() / y.abs().max(1e-30);
            assert!(
                rel(a.total, b.total) < 1e-5,
                "{backend}: {} vs {}",
                a.total,
                b.total
            );
            let norm = |g: &[f64]| g.iter().map(|v| v * v).sum::<f64>().sqrt();
            let diff: Vec<f64> = ga.iter().zip(&gb).map(|(x, y)| x - y).collect();
            assert!(
                norm(&diff) < 1e-5 * norm(&ga),
                "{backend}: gradients differ"
            );
        } else {
            assert_eq!(a, b, "{backend}, winograd {winograd}: loss terms");
            assert_eq!(ga, gb, "{backend}, winograd {winograd}: gradient");
        }
    }
}

/// d(total)/d(pixel) against central differences with two styles on soft complementary
/// regions, a style-image mask and a content-weight map, on both evaluation paths.
fn masked_gradients_match_finite_differences(backend: Backend) {
    let device = backend.device().unwrap();
    let side = 24u32;
    let content = sized("tubingen.jpg", side, side);
    let (starry, scream) = (image("starry_night.jpg"), image("the_scream.jpg"));
    let ramp = |w: u32, h: u32| GrayImage::from_fn(w, h, |x, _| Luma([(x * 255 / (w - 1)) as u8]));
    let inverse =
        |w: u32, h: u32| GrayImage::from_fn(w, h, |x, _| Luma([255 - (x * 255 / (w - 1)) as u8]));
    let top = mask(starry.width(), starry.height(), |_, y| {
        y < starry.height() / 2
    });
    for winograd in paths(backend) {
        let settings = Settings::new()
            .with_content_layers(&[(Layer::Conv2_1, 1.0)])
            .with_style_layers(&[(Layer::Conv1_1, 0.5), (Layer::Conv2_1, 0.5)])
            .with_style_weight(1e2)
            .with_size(Size::Exact {
                width: side,
                height: side,
            })
            .with_style_size(Size::Exact {
                width: side,
                height: side,
            })
            .with_winograd(winograd)
            .with_style_masks(vec![Some(ramp(side, side)), Some(inverse(side, side))])
            .with_style_image_masks(vec![Some(top.clone()), None])
            .with_content_weight_map(Some(ramp(side, side)));
        let engine = engine(backend, settings);
        let losses = engine
            .objective(&content, &[(&starry, 1.0), (&scream, 2.0)])
            .unwrap();
        let base = common::perturbed(&content, &device);
        let n = side as usize;
        common::assert_gradient_matches_finite_differences(
            &losses,
            engine.vgg(),
            &base,
            [1, 3, n, n],
            &device,
            &format!("{backend}, winograd {winograd}"),
        );
    }
}

/// Runs `engine` without printing, returning the result.
fn run(engine: &StyleTransfer, content: &RgbImage, styles: &[(&RgbImage, f32)]) -> Stylized {
    let mut quiet = |_: &Progress<'_>| Control::Continue;
    engine.run(content, styles, &mut quiet).unwrap()
}

/// Per-position Gram matrices of `image`'s features at `layer`, of its left and right
/// halves (at that layer's resolution).
fn half_grams(
    backend: Backend,
    engine: &StyleTransfer,
    image: &RgbImage,
    layer: Layer,
) -> [Vec<f64>; 2] {
    let device = backend.device().unwrap();
    let x = image_io::image_to_tensor(image, weights().convention(), &device);
    let f = engine.vgg().forward(x, &[layer]).unwrap();
    let f = f.get(layer).unwrap().clone();
    let [_, c, h, w] = f.dims();
    let half = w / 2;
    [0..half, w - half..w].map(|cols| {
        let part = f.clone().slice([0..1, 0..c, 0..h, cols]);
        let m = (h * half) as f64;
        values(&gram_matrix(part))
            .into_iter()
            .map(|v| v / m)
            .collect()
    })
}

/// The per-position Gram of a whole image at `layer`.
fn gram_of(backend: Backend, engine: &StyleTransfer, image: &RgbImage, layer: Layer) -> Vec<f64> {
    let device = backend.device().unwrap();
    let x = image_io::image_to_tensor(image, weights().convention(), &device);
    let f = engine.vgg().forward(x, &[layer]).unwrap();
    let f = f.get(layer).unwrap().clone();
    let [_, _, h, w] = f.dims();
    values(&gram_matrix(f))
        .into_iter()
        .map(|v| v / (h * w) as f64)
        .collect()
}

fn distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// The Starry Night on the left half, The Scream on the right (40x32, 20 L-BFGS iterations,
/// style layers up to conv3_1): at every style layer, each half's Gram ends closer to its own
/// style's than to the other's.
fn two_styles_on_two_halves(backend: Backend) {
    let (w, h) = (40, 32);
    let content = sized("tubingen.jpg", w, h);
    let starry = sized("starry_night.jpg", w, h);
    let scream = sized("the_scream.jpg", w, h);
    let layers = [Layer::Conv1_1, Layer::Conv2_1, Layer::Conv3_1];
    let settings = Settings::new()
        .with_size(Size::Exact {
            width: w,
            height: h,
        })
        .with_style_layers(&layers.map(|l| (l, 1.0 / 3.0)))
        .with_solver(Solver::Lbfgs { history: 20 })
        .with_iterations(20)
        .with_style_masks(vec![
            Some(mask(w, h, |x, _| x < w / 2)),
            Some(mask(w, h, |x, _| x >= w / 2)),
        ]);
    let engine = engine(backend, settings);
    let result = run(&engine, &content, &[(&starry, 1.0), (&scream, 1.0)]);
    for layer in layers {
        let [left, right] = half_grams(backend, &engine, &result.image, layer);
        let (a_starry, a_scream) = (
            gram_of(backend, &engine, &starry, layer),
            gram_of(backend, &engine, &scream, layer),
        );
        let (ll, lo) = (distance(&left, &a_starry), distance(&left, &a_scream));
        let (rr, ro) = (distance(&right, &a_scream), distance(&right, &a_starry));
        eprintln!(
            "[{backend}] {layer}: left {ll:.3e} own, {lo:.3e} other; right {rr:.3e} own, {ro:.3e} other"
        );
        assert!(
            ll < lo,
            "{backend} {layer}: the left half is closer to The Scream ({ll} vs {lo})"
        );
        assert!(
            rr < ro,
            "{backend} {layer}: the right half is closer to The Starry Night ({rr} vs {ro})"
        );
    }
}

/// One style on the left half only (40x32, 20 L-BFGS iterations, content conv3_2, style
/// layers up to conv3_1): the right quarter stays near the content, the left quarter is
/// repainted.
fn a_region_without_style_keeps_the_content(backend: Backend) {
    let (w, h) = (40, 32);
    let content = sized("tubingen.jpg", w, h);
    let scream = image("the_scream.jpg");
    let layers = [Layer::Conv1_1, Layer::Conv2_1, Layer::Conv3_1];
    let settings = Settings::new()
        .with_size(Size::Exact {
            width: w,
            height: h,
        })
        .with_content_layers(&[(Layer::Conv3_2, 1.0)])
        .with_style_layers(&layers.map(|l| (l, 1.0 / 3.0)))
        .with_solver(Solver::Lbfgs { history: 20 })
        .with_iterations(20)
        .with_style_masks(vec![Some(mask(w, h, |x, _| x < w / 2))]);
    let engine = engine(backend, settings);
    let result = run(&engine, &content, &[(&scream, 1.0)]);
    let (styled, kept) = (
        mean_diff(&result.image, &content, 0..w / 4),
        mean_diff(&result.image, &content, w - w / 4..w),
    );
    eprintln!(
        "[{backend}] mean difference from the content: left quarter {styled:.2}, right quarter {kept:.2}"
    );
    assert!(
        kept < 0.5 * styled,
        "{backend}: the unstyled quarter moved {kept} levels, the styled one {styled}"
    );
}

/// Mean absolute difference (0-255) between two pictures over the columns `cols`.
fn mean_diff(a: &RgbImage, b: &RgbImage, cols: std::ops::Range<u32>) -> f64 {
    let mut sum = 0.0f64;
    let mut n = 0.0f64;
    for y in 0..a.height() {
        for x in cols.clone() {
            let (p, q) = (a.get_pixel(x, y), b.get_pixel(x, y));
            for c in 0..3 {
                sum += (p.0[c] as f64 - q.0[c] as f64).abs();
                n += 1.0;
            }
        }
    }
    sum / n
}

/// Two scales (masks resized to each), a style-image mask and histogram colours: the run
/// ends at the output size with the unstyled right quarter nearer the content than the styled
/// left quarter.
fn masks_carry_through_scales_and_original_colors(backend: Backend) {
    let (w, h) = (40, 32);
    let content = sized("tubingen.jpg", w, h);
    let scream = image("the_scream.jpg");
    let layers = [Layer::Conv1_1, Layer::Conv2_1];
    let top = mask(scream.width(), scream.height(), |_, y| {
        y < scream.height() / 2
    });
    let settings = Settings::new()
        .with_size(Size::Exact {
            width: w,
            height: h,
        })
        .with_scales(2)
        .with_content_layers(&[(Layer::Conv2_2, 1.0)])
        .with_style_layers(&layers.map(|l| (l, 0.5)))
        .with_iterations(8)
        .with_original_colors(Some(style_transfer::OriginalColors::Histogram))
        .with_style_masks(vec![Some(mask(2 * w, 2 * h, |x, _| x < w))])
        .with_style_image_masks(vec![Some(top)]);
    let result = run(&engine(backend, settings), &content, &[(&scream, 1.0)]);
    assert_eq!(result.image.dimensions(), (w, h));
    let (styled, kept) = (
        mean_diff(&result.image, &content, 0..w / 4),
        mean_diff(&result.image, &content, w - w / 4..w),
    );
    assert!(
        kept < 0.5 * styled,
        "{backend}: the unstyled quarter moved {kept} levels, the styled one {styled}"
    );
}

/// Masks of another aspect ratio, in the wrong number, or all black are refused with a
/// message naming the mask, before any network is built.
#[test]
fn bad_masks_are_refused() {
    let content = (512, 384);
    let style = RgbImage::new(300, 200);
    let white = |w, h| Some(mask(w, h, |_, _| true));
    let cases: Vec<(Settings, &str)> = vec![
        (
            Settings::new().with_style_masks(vec![white(100, 100)]),
            "style mask 1 is 100x100",
        ),
        (
            Settings::new().with_style_masks(vec![Some(mask(64, 48, |_, _| false))]),
            "all black",
        ),
        (
            Settings::new().with_content_weight_map(white(40, 40)),
            "content-weight map",
        ),
    ];
    for (settings, needle) in cases {
        let err = settings.validate(content.0, content.1).unwrap_err();
        assert!(
            matches!(err, Error::InvalidConfig { name: "masks", .. }),
            "{err}"
        );
        assert!(err.to_string().contains(needle), "{err}");
    }
    let cases: Vec<(Settings, &str)> = vec![
        (
            Settings::new().with_style_masks(vec![white(64, 48), None]),
            "2 style masks for 1 style images",
        ),
        (
            Settings::new().with_style_image_masks(vec![white(64, 48)]),
            "style image mask 1 is 64x48 and style image 1 300x200",
        ),
        (
            Settings::new().with_style_image_masks(vec![Some(mask(30, 20, |_, _| false))]),
            "all black",
        ),
    ];
    for (settings, needle) in cases {
        settings.validate(content.0, content.1).unwrap();
        let err = settings.validate_style_masks(&[&style]).unwrap_err();
        assert!(err.to_string().contains(needle), "{err}");
    }
}
