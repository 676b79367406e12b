//! Video consistency: the optical flow finds known motions (shifts, a zoom, a rotation) on a
//! real photo; the stabilizer's output is more consistent over a camera pan than per-frame
//! output (warping error against the true motion) without losing sharpness; the
//! optimization's temporal term has its value and its gradient (finite differences), and
//! frames optimized in a chain are more consistent than frames optimized on their own, on
//! every enabled backend.

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use image::{GrayImage, Luma, Rgb, RgbImage};
use style_transfer::video::flow::{Dis, Flow, Gray, bilinear};
use style_transfer::video::temporal::{sharpness, warping_error};
use style_transfer::{
    Backend, Control, FastStyle, FrameChain, Init, Layer, Progress, Settings, Size, Stabilizer,
    StyleChoice, StyleTransfer, Temporal,
};

backend_tests!(
    the_stabilizer_is_consistent_over_a_pan_and_stays_sharp,
    the_temporal_term_has_its_value_and_gradient,
);
// On the CPU backends only: on lavapipe (wgpu without a GPU) its 100 L-BFGS iterations ran
// past 20 minutes. What differs between backends is the objective, whose temporal term is
// checked on every backend above; the chain (flow, warp, reliability) is host code.
backend_tests!(@cpu_beside chained_optimization_is_consistent_over_a_pan);

fn photo() -> RgbImage {
    style_transfer::image_io::resize(&common::image("tubingen.jpg"), Size::Longest(320))
}

/// `photo` sampled where `map` sends each output pixel (bilinear), `w x h`.
fn moved(photo: &RgbImage, (w, h): (u32, u32), map: impl Fn(f32, f32) -> (f32, f32)) -> RgbImage {
    let planes: Vec<Vec<f32>> = (0..3)
        .map(|c| photo.pixels().map(|p| p.0[c] as f32).collect())
        .collect();
    let (pw, ph) = (photo.width() as usize, photo.height() as usize);
    RgbImage::from_fn(w, h, |x, y| {
        let (sx, sy) = map(x as f32, y as f32);
        Rgb([0, 1, 2].map(|c| bilinear(&planes[c], pw, ph, sx, sy).round() as u8))
    })
}

/// The true flow of a motion: pixel `(x, y)` of the first frame is at `to(x, y)` in the
/// second.
fn truth((w, h): (u32, u32), to: impl Fn(f32, f32) -> (f32, f32)) -> Flow {
    let mut flow = Flow::zero(w as usize, h as usize);
    for y in 0..h as usize {
        for x in 0..w as usize {
            let (tx, ty) = to(x as f32, y as f32);
            flow.u[y * w as usize + x] = tx - x as f32;
            flow.v[y * w as usize + x] = ty - y as f32;
        }
    }
    flow
}

#[test]
fn the_flow_finds_shifts_a_zoom_and_a_rotation() {
    let photo = photo();
    let size = (160, 112);
    let (cx, cy) = (150.0f32, 100.0f32);
    // Each motion: where a pixel of the first frame is in the second, and its inverse (how
    // the second frame is sampled from the photo), around a window at (cx, cy) - size/2.
    type Motion = Box<dyn Fn(f32, f32) -> (f32, f32)>;
    let motions: Vec<(&str, Motion, Motion, f64)> = vec![
        (
            "shift",
            Box::new(|x, y| (x + 4.0, y - 2.5)),
            Box::new(|x, y| (x - 4.0, y + 2.5)),
            0.3,
        ),
        (
            "zoom",
            Box::new(|x, y| (80.0 + (x - 80.0) * 1.04, 56.0 + (y - 56.0) * 1.04)),
            Box::new(|x, y| (80.0 + (x - 80.0) / 1.04, 56.0 + (y - 56.0) / 1.04)),
            0.4,
        ),
        (
            "rotation",
            Box::new(|x, y| {
                let (s, c) = 0.03f32.sin_cos();
                let (dx, dy) = (x - 80.0, y - 56.0);
                (80.0 + c * dx - s * dy, 56.0 + s * dx + c * dy)
            }),
            Box::new(|x, y| {
                let (s, c) = (-0.03f32).sin_cos();
                let (dx, dy) = (x - 80.0, y - 56.0);
                (80.0 + c * dx - s * dy, 56.0 + s * dx + c * dy)
            }),
            0.4,
        ),
    ];
    let window = |x: f32, y: f32| (x + cx - 80.0, y + cy - 56.0);
    for (name, to, from, bound) in motions {
        let first = moved(&photo, size, window);
        let second = moved(&photo, size, |x, y| {
            let (sx, sy) = from(x, y);
            window(sx, sy)
        });
        let flow = Dis::default().flow(&Gray::from_rgb(&first), &Gray::from_rgb(&second));
        let truth = truth(size, &to);
        let inside = |x: usize, y: usize| (12..148).contains(&x) && (12..100).contains(&y);
        let epe = flow.endpoint_error(&truth, inside);
        eprintln!("{name}: endpoint error {epe:.3} px");
        assert!(epe < bound, "{name}: endpoint error {epe}");
    }
}

/// Real footage changes exposure between frames (auto exposure, flicker): with patches
/// compared after taking out their mean difference (`Dis::mean_normalization`, the default)
/// a shift whose second frame is brighter (more on one side) is found to a fraction of a
/// pixel; compared as they are, the change reads as motion.
#[test]
fn the_flow_holds_through_a_change_of_exposure() {
    let photo = photo();
    let size = (160u32, 112u32);
    let first = moved(&photo, size, |x, y| (x + 70.0, y + 44.0));
    let shifted = moved(&photo, size, |x, y| (x + 66.0, y + 46.5));
    // Exposure: 10 levels brighter, and 0.95x to 1.05x from left to right.
    let second = RgbImage::from_fn(size.0, size.1, |x, y| {
        let gain = 0.95 + 0.1 * x as f32 / size.0 as f32;
        Rgb(shifted
            .get_pixel(x, y)
            .0
            .map(|v| (v as f32 * gain + 10.0).clamp(0.0, 255.0).round() as u8))
    });
    let truth = truth(size, |x, y| (x + 4.0, y - 2.5));
    let inside = |x: usize, y: usize| (12..148).contains(&x) && (12..100).contains(&y);
    let without = Dis {
        mean_normalization: false,
        ..Dis::default()
    };
    let (normalized, plain) = default_and(without, (&first, &second), &truth, inside);
    eprintln!(
        "exposure change: endpoint error {normalized:.3} px, {plain:.3} without the mean normalization"
    );
    assert!(normalized < 0.3, "endpoint error {normalized}");
    assert!(normalized < 0.5 * plain, "{normalized} against {plain}");
}

/// The endpoint errors of the default flow and of `other`'s from `first` to `second`
/// against `truth`, over the pixels `inside` holds.
fn default_and(
    other: Dis,
    (first, second): (&RgbImage, &RgbImage),
    truth: &Flow,
    inside: impl Fn(usize, usize) -> bool + Copy,
) -> (f64, f64) {
    let (a, b) = (Gray::from_rgb(first), Gray::from_rgb(second));
    let error = |dis: Dis| dis.flow(&a, &b).endpoint_error(truth, inside);
    (error(Dis::default()), error(other))
}

/// A large motion (12 px right, 7 down on a 160x112 frame) where a patch's own start, the
/// coarser level's flow, can be wrong: with spatial propagation (the default) each patch
/// also tries its neighbours' displacements, as OpenCV's DIS does.
#[test]
fn spatial_propagation_finds_a_large_motion() {
    let photo = photo();
    let size = (160u32, 112u32);
    let first = moved(&photo, size, |x, y| (x + 70.0, y + 44.0));
    let second = moved(&photo, size, |x, y| (x + 58.0, y + 37.0));
    let truth = truth(size, |x, y| (x + 12.0, y + 7.0));
    let inside = |x: usize, y: usize| (20..140).contains(&x) && (16..96).contains(&y);
    let without = Dis {
        propagation: false,
        ..Dis::default()
    };
    let (propagated, alone) = default_and(without, (&first, &second), &truth, inside);
    eprintln!("large motion: endpoint error {propagated:.3} px, {alone:.3} without propagation");
    assert!(propagated < 0.3, "endpoint error {propagated}");
    assert!(propagated <= alone, "{propagated} against {alone}");
}

fn model() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        style_transfer::fetch::fast_style_model()
            .unwrap_or_else(|e| panic!("fetching the feed-forward network failed: {e}"))
    })
}

fn the_stabilizer_is_consistent_over_a_pan_and_stays_sharp(backend: Backend) {
    let device = backend.device().unwrap();
    let fast = FastStyle::from_onnx(model(), &device).unwrap();
    let photo = photo();
    let size = (128u32, 96u32);
    // A pan of 3 pixels a frame to the right over the photo: the scene moves 3 px left.
    let frame = |k: u32| moved(&photo, size, |x, y| (x + 40.0 + 3.0 * k as f32, y + 60.0));
    let back = truth(size, |x, y| (x + 3.0, y));
    // Pixels of frame k whose scene point was in frame k - 1.
    let visible: Vec<f32> = (0..size.1)
        .flat_map(|_| (0..size.0).map(|x| if x + 3 < size.0 { 1.0 } else { 0.0 }))
        .collect();
    let run = |strength: f32| {
        let mut stabilizer = Stabilizer::new(strength);
        let outputs: Vec<RgbImage> = (0..8)
            .map(|k| {
                let frame = frame(k);
                let stylized = fast
                    .stylize_pixels(&frame, &StyleChoice::BuiltIn(19))
                    .unwrap();
                stabilizer.next(&frame, stylized)
            })
            .collect();
        let error: f64 = (1..outputs.len())
            .map(|k| warping_error(&outputs[k], &outputs[k - 1], &back, &visible))
            .sum::<f64>()
            / (outputs.len() - 1) as f64;
        let sharp = outputs.iter().map(sharpness).sum::<f64>() / outputs.len() as f64;
        (error, sharp)
    };
    let (per_frame, sharp_per_frame) = run(0.0);
    // The command's default strength.
    let (consistent, sharp) = run(0.8);
    eprintln!(
        "{backend:?}: warping error per frame {per_frame:.5}, consistent {consistent:.5}; \
         sharpness {sharp_per_frame:.4} vs {sharp:.4}"
    );
    assert!(consistent < 0.25 * per_frame, "{consistent} vs {per_frame}");
    assert!(
        sharp > 0.85 * sharp_per_frame,
        "{sharp} vs {sharp_per_frame}"
    );
}

/// The temporal term on both evaluation paths (Burn's autodiff and the host path; Burn's
/// alone on wgpu): its value is `1/D sum c (x - w)^2` in 0-255 RGB units, computed here from
/// the pixels; the total's gradient matches central differences; and the term's gradient is
/// zero where the reliability is 0 and not elsewhere (an implementation that multiplies the
/// mask into a constant has none at all).
fn the_temporal_term_has_its_value_and_gradient(backend: Backend) {
    let device = backend.device().unwrap();
    let side = 24u32;
    let n = side as usize;
    let photo = photo();
    let content = style_transfer::image_io::resize(
        &photo,
        Size::Exact {
            width: side,
            height: side,
        },
    );
    let style = common::image("starry_night.jpg");
    let square = Size::Exact {
        width: side,
        height: side,
    };
    // The "previous output moved by the flow": another part of the photo.
    let warped = moved(&photo, (side, side), |x, y| (x + 100.0, y + 50.0));
    // Reliable on the left half only.
    let reliable = GrayImage::from_fn(side, side, |x, _| {
        Luma([if x < side / 2 { 255 } else { 0 }])
    });
    let weight = 1e6;
    let paths = match backend {
        Backend::Wgpu => vec![false],
        _ => vec![true, false],
    };
    for winograd in paths {
        let label = format!("{backend}, winograd {winograd}");
        let settings = Settings::new()
            .with_content_layers(&[(Layer::Conv2_1, 1.0)])
            .with_style_layers(&[(Layer::Conv1_1, 0.5), (Layer::Conv2_1, 0.5)])
            .with_style_weight(1e2)
            .with_size(square)
            .with_style_size(square)
            .with_winograd(winograd);
        let plain = StyleTransfer::from_settings(common::weights(), settings.clone(), &device);
        let temporal = Temporal::new(warped.clone(), reliable.clone(), weight);
        let chained = StyleTransfer::from_settings(
            common::weights(),
            settings.with_temporal(Some(temporal)),
            &device,
        );
        let without = plain.objective(&content, &[(&style, 1.0)]).unwrap();
        let with = chained.objective(&content, &[(&style, 1.0)]).unwrap();
        let base = common::perturbed(&content, &device);
        let at = |v: &[f32]| {
            style_transfer::burn::tensor::Tensor::<4>::from_data(
                style_transfer::burn::tensor::TensorData::new(v.to_vec(), [1, 3, n, n]),
                &device,
            )
        };
        let (a, ga) = without.evaluate(plain.vgg(), at(&base), 1).unwrap();
        let (b, gb) = with.evaluate(chained.vgg(), at(&base), 1).unwrap();
        // The value, from the pixels.
        let rgb = common::weights().convention().planar_to_rgb(&base, n, n);
        let mut expected = 0.0f64;
        for (i, (p, q)) in rgb.chunks_exact(3).zip(warped.pixels()).enumerate() {
            let c = reliable.as_raw()[i] as f64 / 255.0;
            for (a, b) in p.iter().zip(q.0) {
                expected += c * (*a as f64 - b as f64).powi(2);
            }
        }
        expected /= (3 * n * n) as f64;
        assert!(
            (b.temporal - expected).abs() <= 1e-4 * expected,
            "{label}: temporal {} vs {expected} from the pixels",
            b.temporal
        );
        assert_eq!(a.temporal, 0.0, "{label}");
        let total = a.total + weight * expected;
        assert!(
            (b.total - total).abs() <= 1e-4 * total,
            "{label}: total {} vs {total}",
            b.total
        );
        // The term's own gradient: zero on the right half, there on the left.
        let (ga, gb) = (common::values(&ga), common::values(&gb));
        let plane = n * n;
        let (mut left, mut right) = (0.0f64, 0.0f64);
        for (i, (x, y)) in ga.iter().zip(&gb).enumerate() {
            let column = (i % plane) % n;
            let d = (y - x).abs();
            match column < n / 2 {
                true => left = left.max(d),
                false => right = right.max(d / x.abs().max(1.0)),
            }
        }
        assert!(
            left > 1.0,
            "{label}: the temporal term has no gradient ({left})"
        );
        assert!(
            right < 1e-4,
            "{label}: a gradient where the flow is not reliable ({right})"
        );
        common::assert_gradient_matches_finite_differences(
            &with,
            chained.vgg(),
            &base,
            [1, 3, n, n],
            &device,
            &label,
        );
    }
}

/// A pan over the photo optimized frame by frame, each frame from the content on its own,
/// and in a chain ([`FrameChain`]: from the previous output moved by the flow, with the
/// temporal term): the chain's warping error (against the true motion) is well below the
/// independent frames' (measured: 0.15x on flex, 0.12x on ndarray, with the chain's flow
/// searched to the full size; 0.32x when it stopped at half size: the floor is the flow's own
/// error).
fn chained_optimization_is_consistent_over_a_pan(backend: Backend) {
    let device = backend.device().unwrap();
    let photo = photo();
    let size = (48u32, 40u32);
    let frame = |k: u32| moved(&photo, size, |x, y| (x + 60.0 + 2.0 * k as f32, y + 60.0));
    let back = truth(size, |x, y| (x + 2.0, y));
    let visible: Vec<f32> = (0..size.1)
        .flat_map(|_| (0..size.0).map(|x| if x + 2 < size.0 { 1.0 } else { 0.0 }))
        .collect();
    let style = common::image("starry_night.jpg");
    let settings = Settings::new()
        .with_size(Size::Exact {
            width: size.0,
            height: size.1,
        })
        .with_iterations(20);
    let run = |chain: Option<f64>| {
        let mut quiet = |_: &Progress<'_>| Control::Continue;
        let mut frames_chain = chain.map(FrameChain::new);
        let mut outputs: Vec<RgbImage> = Vec::new();
        for k in 0..4 {
            let frame = frame(k);
            let start = frames_chain.as_ref().and_then(|c| c.start(&frame));
            // The command's iterations: the later frames half the first's.
            let settings = match start {
                Some(start) => settings
                    .clone()
                    .with_iterations(10)
                    .with_init(Init::Image(start.init))
                    .with_temporal(Some(start.temporal)),
                None if k > 0 => settings.clone().with_iterations(10),
                None => settings.clone(),
            };
            let engine = StyleTransfer::from_settings(common::weights(), settings, &device);
            let out = engine
                .run(&frame, &[(&style, 1.0)], &mut quiet)
                .unwrap()
                .image;
            if let Some(c) = frames_chain.as_mut() {
                c.done(&frame, &out);
            }
            outputs.push(out);
        }
        (1..outputs.len())
            .map(|k| warping_error(&outputs[k], &outputs[k - 1], &back, &visible))
            .sum::<f64>()
            / (outputs.len() - 1) as f64
    };
    let independent = run(None);
    // The command's default weight (docs/video.md).
    let chained = run(Some(1e9));
    eprintln!(
        "{backend:?}: warping error independent {independent:.5}, chained {chained:.5} ({:.2}x)",
        chained / independent
    );
    assert!(chained < 0.3 * independent, "{chained} vs {independent}");
}
