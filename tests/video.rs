//! Video consistency: the optical flow finds known motions (shifts, a zoom, a rotation) on a
//! real photo; the stabilizer's output is more consistent over a camera pan than per-frame
//! output (warping error against the true motion) without losing sharpness, on every
//! enabled backend.

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use image::{Rgb, RgbImage};
use style_transfer::video::flow::{Dis, Flow, Gray, bilinear};
use style_transfer::video::temporal::{sharpness, warping_error};
use style_transfer::{Backend, FastStyle, Size, Stabilizer, StyleChoice};

backend_tests!(the_stabilizer_is_consistent_over_a_pan_and_stays_sharp);

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
                style_transfer::image_io::rgb8(&stabilizer.next(&frame, stylized))
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
