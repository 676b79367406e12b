//! The optimization loop on every enabled backend: both solvers lower the loss, seeded runs
//! repeat exactly, the observer sees progress and can stop the run, and a non-finite loss
//! stops it with a typed error carrying the last finite image.

mod common;

use common::weights;
use image::RgbImage;
use style_transfer::image_io::{self, Size};
use style_transfer::{
    Backend, Control, Criterion, EndReason, Error, Init, OriginalColors, Progress, Settings,
    Solver, StyleTransfer, Stylized,
};

backend_tests!(
    adam_and_lbfgs_lower_the_loss,
    seeded_noise_runs_repeat_exactly,
    observer_sees_progress_and_can_stop,
    non_finite_loss_stops_with_last_finite_image,
    multi_scale_runs_coarse_to_fine,
    original_colors_keep_the_content_palette,
    style_scale_sets_the_style_size,
    stop_ends_a_multi_scale_run,
    lbfgs_convergence_is_reported_with_its_criterion,
    settings_errors_name_what_the_caller_set,
);

fn images() -> (RgbImage, RgbImage) {
    let content = common::image("tubingen.jpg");
    let style = common::image("starry_night.jpg");
    (content, style)
}

/// The tests' settings: a 32x32 output.
fn settings() -> Settings {
    Settings::new().with_size(Size::Exact {
        width: 32,
        height: 32,
    })
}

fn engine(backend: Backend, settings: Settings) -> StyleTransfer {
    StyleTransfer::from_settings(weights(), settings, &backend.device().unwrap())
}

fn run(engine: &StyleTransfer) -> Stylized {
    let (content, style) = images();
    engine
        .run(&content, &[(&style, 1.0)], &mut |_: &Progress<'_>| {
            Control::Continue
        })
        .unwrap()
}

fn adam_and_lbfgs_lower_the_loss(backend: Backend) {
    let (content, style) = images();
    for solver in [Solver::Adam { lr: 10.0 }, Solver::Lbfgs { history: 10 }] {
        let engine = engine(backend, settings().with_solver(solver).with_iterations(4));
        let mut first = None;
        let result = engine
            .run(&content, &[(&style, 1.0)], &mut |p: &Progress<'_>| {
                first.get_or_insert(p.losses.total);
                Control::Continue
            })
            .unwrap();
        let start = first.unwrap();
        assert_eq!(result.image.dimensions(), (32, 32));
        assert!(
            result.losses.total < 0.9 * start,
            "{solver:?}: {} not below {start}",
            result.losses.total
        );
        assert!(result.losses.style > 0.0 && result.losses.content > 0.0);
        // One evaluation per Adam iteration and the final scoring; L-BFGS at least one per
        // iteration (its line searches may add more).
        if matches!(solver, Solver::Adam { .. }) {
            assert_eq!(result.evaluations, 5);
        } else {
            assert!(result.evaluations >= result.iterations);
        }
    }
}

fn seeded_noise_runs_repeat_exactly(backend: Backend) {
    let make = |seed| {
        engine(
            backend,
            settings()
                .with_init(Init::Noise)
                .with_seed(seed)
                .with_solver(Solver::Adam { lr: 5.0 })
                .with_iterations(2),
        )
    };
    let (a, b, c) = (run(&make(7)), run(&make(7)), run(&make(8)));
    if backend == Backend::Wgpu {
        // GPU reductions need not be bit-reproducible; the images still agree to the pixel.
        let diff = a
            .image
            .iter()
            .zip(b.image.iter())
            .map(|(x, y)| x.abs_diff(*y))
            .max()
            .unwrap();
        assert!(diff <= 1, "same seed differs by {diff} levels");
    } else {
        assert_eq!(
            a.image, b.image,
            "same inputs and seed give a bit-identical image"
        );
        assert_eq!(a.losses, b.losses);
    }
    assert_ne!(a.image, c.image, "another seed gives another image");
}

fn observer_sees_progress_and_can_stop(backend: Backend) {
    let (content, style) = images();
    let engine = engine(
        backend,
        settings()
            .with_solver(Solver::Adam { lr: 10.0 })
            .with_iterations(50),
    );
    struct Watch {
        seen: Vec<usize>,
        images: usize,
    }
    impl style_transfer::Observer for Watch {
        fn wants_image(&mut self, iteration: usize) -> bool {
            iteration == 2
        }
        fn observe(&mut self, p: &Progress<'_>) -> Control {
            self.seen.push(p.iteration);
            assert_eq!(p.iterations, 50);
            assert!(p.losses.total.is_finite() && p.losses.style_layers.len() == 5);
            if let Some(image) = p.image {
                assert_eq!(image.dimensions(), (32, 32));
                self.images += 1;
            }
            if p.iteration == 3 {
                Control::Stop
            } else {
                Control::Continue
            }
        }
    }
    let mut watch = Watch {
        seen: Vec::new(),
        images: 0,
    };
    let result = engine.run(&content, &[(&style, 1.0)], &mut watch).unwrap();
    assert_eq!(watch.seen, [1, 2, 3]);
    assert_eq!(watch.images, 1, "an image only when asked for");
    assert_eq!(result.iterations, 3);
    assert_eq!(result.ended, EndReason::Stopped);
}

fn non_finite_loss_stops_with_last_finite_image(backend: Backend) {
    // Content loss is 0 at the first iteration (init from content) and grows after the first
    // step: alpha = 1e36 then overflows float32 at iteration 2.
    let (content, style) = images();
    let engine = engine(
        backend,
        settings()
            .with_content_weight(1e36)
            .with_solver(Solver::Adam { lr: 10.0 })
            .with_iterations(5),
    );
    let err = engine
        .run(&content, &[(&style, 1.0)], &mut |_: &Progress<'_>| {
            Control::Continue
        })
        .unwrap_err();
    match *err.error {
        Error::NonFinite { iteration: 2, term } => {
            assert!(term == "total" || term == "gradient", "{term}")
        }
        ref other => panic!("expected NonFinite at iteration 2, got {other:?}"),
    }
    assert_eq!(
        err.image
            .expect("the last finite image comes with the error")
            .dimensions(),
        (32, 32)
    );
}

fn multi_scale_runs_coarse_to_fine(backend: Backend) {
    let (content, style) = images();
    let engine = engine(
        backend,
        settings()
            .with_size(Size::Exact {
                width: 64,
                height: 48,
            })
            .with_scales(2)
            .with_solver(Solver::Adam { lr: 10.0 })
            .with_iterations(2),
    );
    let mut seen = Vec::new();
    let result = engine
        .run(&content, &[(&style, 1.0)], &mut |p: &Progress<'_>| {
            seen.push((p.scale, p.scales, p.iteration));
            Control::Continue
        })
        .unwrap();
    assert_eq!(seen, [(1, 2, 1), (1, 2, 2), (2, 2, 1), (2, 2, 2)]);
    assert_eq!(result.image.dimensions(), (64, 48));
    // Three scales would make the coarsest level 16x12: refused with the reason.
    let err = StyleTransfer::from_settings(
        weights(),
        engine.settings().clone().with_scales(3),
        &backend.device().unwrap(),
    )
    .run(&content, &[(&style, 1.0)], &mut |_: &Progress<'_>| {
        Control::Continue
    });
    assert!(matches!(
        *err.unwrap_err().error,
        Error::InvalidConfig { name: "scales", .. }
    ));
}

/// Mean of each RGB channel.
fn mean_rgb(image: &RgbImage) -> [f64; 3] {
    let n = (image.width() * image.height()) as f64;
    let mut m = [0.0; 3];
    for p in image.pixels() {
        for (m, v) in m.iter_mut().zip(p.0) {
            *m += v as f64 / n;
        }
    }
    m
}

fn original_colors_keep_the_content_palette(backend: Backend) {
    let (content, style) = images();
    let base = engine(
        backend,
        settings()
            .with_solver(Solver::Adam { lr: 20.0 })
            .with_iterations(8),
    );
    let target = mean_rgb(&image_io::resize(
        &content,
        Size::Exact {
            width: 32,
            height: 32,
        },
    ));
    let distance = |m: [f64; 3]| (0..3).map(|c| (m[c] - target[c]).abs()).sum::<f64>();
    let plain = base
        .run(&content, &[(&style, 1.0)], &mut |_: &Progress<'_>| {
            Control::Continue
        })
        .unwrap();
    for mode in [OriginalColors::Luminance, OriginalColors::Histogram] {
        let engine = engine(
            backend,
            settings()
                .with_solver(Solver::Adam { lr: 20.0 })
                .with_iterations(8)
                .with_original_colors(Some(mode)),
        );
        let kept = engine
            .run(&content, &[(&style, 1.0)], &mut |_: &Progress<'_>| {
                Control::Continue
            })
            .unwrap();
        let (d_kept, d_plain) = (
            distance(mean_rgb(&kept.image)),
            distance(mean_rgb(&plain.image)),
        );
        assert!(
            d_kept < d_plain,
            "{mode:?}: colour distance to the content {d_kept} not below {d_plain}"
        );
    }
}

/// The style image is resized relative to the output: scale 0.5 at a 64 px output reads the
/// style at 32 px, which changes its Gram targets; zero and NaN scales are refused.
fn style_scale_sets_the_style_size(backend: Backend) {
    let (content, style) = images();
    let size = Size::Exact {
        width: 64,
        height: 64,
    };
    let content = image_io::resize(&content, size);
    let x = image_io::image_to_tensor(&content, weights().convention(), &backend.device().unwrap());
    let style_loss = |scale: f64| {
        let engine = engine(backend, settings().with_size(size).with_style_scale(scale));
        engine
            .objective(&content, &[(&style, 1.0)])
            .map(|l| l.terms(engine.vgg(), x.clone()).unwrap().style)
    };
    let (full, half) = (style_loss(1.0).unwrap(), style_loss(0.5).unwrap());
    assert!(
        (full - half).abs() > 1e-3 * full,
        "scale 0.5 gives {half}, scale 1 gives {full}"
    );
    for bad in [0.0, f64::NAN] {
        assert!(matches!(
            style_loss(bad),
            Err(Error::InvalidConfig {
                name: "style scale",
                ..
            })
        ));
    }
}

/// `Control::Stop` at scale 1 of 3 ends the whole run: no later scale builds its targets or
/// calls the observer, and the result (the best image so far) comes at the output size.
fn stop_ends_a_multi_scale_run(backend: Backend) {
    let (content, style) = images();
    // Scales of 32, 64 and 128 px (the style image at 32 px is still 20 px high).
    let engine = engine(
        backend,
        settings()
            .with_size(Size::Exact {
                width: 128,
                height: 128,
            })
            .with_scales(3)
            .with_solver(Solver::Adam { lr: 10.0 })
            .with_iterations(3),
    );
    let mut seen = Vec::new();
    let result = engine
        .run(&content, &[(&style, 1.0)], &mut |p: &Progress<'_>| {
            seen.push((p.scale, p.iteration));
            if p.iteration == 2 {
                Control::Stop
            } else {
                Control::Continue
            }
        })
        .unwrap();
    assert_eq!(seen, [(1, 1), (1, 2)], "no iteration after the stop");
    assert_eq!(result.ended, EndReason::Stopped);
    assert_eq!((result.scale, result.iterations), (1, 2));
    assert_eq!(result.image.dimensions(), (128, 128), "at the output size");
}

/// L-BFGS from the content image with only a content loss starts at its minimum (loss and
/// gradient 0): the gradient test fires at the first iteration, and the result says so;
/// a run that uses all its iterations says it is done.
fn lbfgs_convergence_is_reported_with_its_criterion(backend: Backend) {
    let (content, style) = images();
    let result = run(&engine(
        backend,
        settings()
            .with_style_layers(&[])
            .with_solver(Solver::Lbfgs { history: 5 })
            .with_iterations(10),
    ));
    assert_eq!(result.ended, EndReason::Converged(Criterion::Gradient));
    assert_eq!(result.iterations, 1);
    let done = engine(
        backend,
        settings()
            .with_solver(Solver::Adam { lr: 10.0 })
            .with_iterations(2),
    )
    .run(&content, &[(&style, 1.0)], &mut |_: &Progress<'_>| {
        Control::Continue
    })
    .unwrap();
    assert_eq!(
        (done.ended, done.iterations, done.scale),
        (EndReason::Done, 2, 1)
    );
}

/// Refused settings say what the caller set: an 8 px output is about the size (no scales
/// were asked for), too many scales for the size is about the scales.
fn settings_errors_name_what_the_caller_set(backend: Backend) {
    let (content, style) = images();
    let refusal = |engine: StyleTransfer| {
        let err = engine
            .run(&content, &[(&style, 1.0)], &mut |_: &Progress<'_>| {
                Control::Continue
            })
            .unwrap_err();
        match *err.error {
            Error::InvalidConfig { name, ref reason } => (name, reason.clone()),
            ref other => panic!("expected InvalidConfig, got {other:?}"),
        }
    };
    let (name, reason) = refusal(engine(backend, settings().with_size(Size::Longest(8))));
    assert_eq!(name, "size", "{reason}");
    assert!(
        reason.contains("8x") && reason.contains("16") && !reason.contains("scale"),
        "{reason}"
    );
    let (name, reason) = refusal(engine(
        backend,
        settings().with_size(Size::Longest(48)).with_scales(3),
    ));
    assert_eq!(name, "scales", "{reason}");
    assert!(reason.contains("3 scales"), "{reason}");
}

/// `Settings::validate` needs no network or weights: a caller refuses bad settings before
/// reading or fetching them, each refusal naming the setting at fault.
#[test]
fn settings_are_checked_before_any_network_is_built() {
    let refusal = |settings: Settings| match settings.validate(640, 480) {
        Err(Error::InvalidConfig { name, reason }) => (name, reason),
        other => panic!("expected InvalidConfig, got {other:?}"),
    };
    assert!(Settings::new().validate(640, 480).is_ok());
    let (name, reason) = refusal(Settings::new().with_size(Size::Longest(8)));
    assert_eq!(name, "size");
    assert!(
        reason.contains("8x6") && !reason.contains("scale"),
        "{reason}"
    );
    let (name, reason) = refusal(Settings::new().with_size(Size::Longest(48)).with_scales(3));
    assert_eq!(name, "scales");
    assert!(reason.contains("coarsest level 12x9"), "{reason}");
    let (name, reason) = refusal(Settings::new().with_style_scale(0.01));
    assert_eq!(name, "style scale");
    assert!(reason.contains("5 px"), "{reason}");
    let (name, _) = refusal(Settings::new().with_iterations(0));
    assert_eq!(name, "iterations");
}
