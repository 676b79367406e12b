//! Memory plans and bands of rows: the feed-forward network in bands gives the whole
//! picture's result on every enabled backend (where bands exist; elsewhere the plan says it
//! runs whole); plans choose bands when the whole picture does not fit, and refuse what no
//! plan can meet, with their error kinds.

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use image::RgbImage;
use style_transfer::plan::{MAX_SIDE, available_memory};
use style_transfer::{Backend, Error, FastStyle, Settings, Size, Solver, StyleChoice, Tiling};

backend_tests!(bands_give_the_whole_pictures_result);

fn model() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        style_transfer::fetch::fast_style_model()
            .unwrap_or_else(|e| panic!("fetching the feed-forward network failed: {e}"))
    })
}

fn photo(width: u32, height: u32) -> RgbImage {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/images/tubingen.jpg");
    style_transfer::image_io::resize(
        &style_transfer::image_io::load_image(path).unwrap(),
        Size::Exact { width, height },
    )
}

fn bands_give_the_whole_pictures_result(backend: Backend) {
    let device = backend.device().unwrap();
    let net = |tiling| {
        FastStyle::from_onnx(model(), &device)
            .unwrap()
            .with_tiling(tiling)
    };
    // An odd size (padded to multiples of 4 inside), bands that do not divide it.
    let picture = photo(150, 94);
    let blend = StyleChoice::Blend(vec![(3, 0.5), (17, 0.5)]);
    for style in [StyleChoice::BuiltIn(3), blend] {
        let whole = net(Tiling::Off).stylize_pixels(&picture, &style).unwrap();
        for rows in [16, 24, 40] {
            let fast = net(Tiling::Rows(rows));
            let plan = fast.plan(150, 94, &style).unwrap();
            if backend == Backend::Wgpu {
                // Bands exist on the CPU kernels only: the plan says the run is whole.
                assert_eq!(plan.band_rows, None);
                assert!(
                    plan.notes.iter().any(|n| n.contains("whole here")),
                    "{plan}"
                );
                continue;
            }
            assert_eq!(plan.band_rows, Some(rows), "{plan}");
            let banded = fast.stylize_pixels(&picture, &style).unwrap();
            let (mut sum, mut max) = (0.0f64, 0.0f32);
            for (a, b) in whole.as_raw().iter().zip(banded.as_raw()) {
                sum += (a - b).abs() as f64;
                max = max.max((a - b).abs());
            }
            let mean = sum / whole.as_raw().len() as f64;
            // The bound is 0.5/255 mean and 2/255 largest; the bands compute the
            // same sums in another order, so far less.
            assert!(
                mean < 1e-5 && max < 1e-3,
                "{style:?} in bands of {rows}: mean {mean:e}, largest {max:e}"
            );
        }
    }
}

#[test]
fn plans_choose_bands_when_the_whole_picture_does_not_fit() {
    let device = Backend::available()[0].device().unwrap();
    let fast = FastStyle::from_onnx(model(), &device).unwrap();
    let style = StyleChoice::BuiltIn(3);
    let available = available_memory().expect("Linux has MemAvailable");
    // A 4:3 picture whose whole run takes about 1.5 times what the machine has, while its
    // bands take a third of the whole run.
    let pixels = available as f64 * 1.5 / 200.0;
    let width = (pixels * 4.0 / 3.0).sqrt() as u32;
    let height = width * 3 / 4;
    let plan = fast.plan(width, height, &style).unwrap();
    let rows = plan.band_rows.unwrap_or_else(|| panic!("no bands: {plan}"));
    assert!((16..=height).contains(&rows), "{plan}");
    assert!(plan.fits(), "{plan}");
    assert!(plan.notes.iter().any(|n| n.contains("in bands")), "{plan}");
    // With bands turned off the same picture is refused with the estimate and what to do.
    let refused = fast
        .with_tiling(Tiling::Off)
        .plan(width, height, &style)
        .unwrap_err();
    let message = refused.to_string();
    assert!(matches!(refused, Error::DoesNotFit { .. }), "{message}");
    assert!(message.contains("--tile auto"), "{message}");
    // A small picture runs whole.
    let fast = FastStyle::from_onnx(model(), &device).unwrap();
    assert_eq!(fast.plan(640, 480, &style).unwrap().band_rows, None);
}

#[test]
fn plans_refuse_what_no_plan_can_meet() {
    let device = Backend::available()[0].device().unwrap();
    let fast = || FastStyle::from_onnx(model(), &device).unwrap();
    let style = StyleChoice::BuiltIn(0);
    for (fast, (w, h), name) in [
        (fast(), (1_000_000, 750_000), "size"),
        (
            fast().with_size(Some(Size::Longest(MAX_SIDE + 1))),
            (640, 480),
            "size",
        ),
        (fast().with_tiling(Tiling::Rows(8)), (640, 480), "tile"),
    ] {
        match fast.plan(w, h, &style) {
            Err(Error::InvalidConfig { name: n, .. }) => assert_eq!(n, name),
            other => panic!("{w}x{h}: {other:?}"),
        }
    }
    // The largest side, in bands, is past any machine here: refused with a size that fits.
    let err = fast()
        .with_size(Some(Size::Longest(MAX_SIDE)))
        .plan(640, 480, &style)
        .unwrap_err();
    assert!(matches!(err, Error::DoesNotFit { .. }), "{err}");
    assert!(err.to_string().contains("smaller --size"), "{err}");
    // Bands exist for the 26-style network only: a painting at that size is refused too.
}

#[test]
fn optimization_plans_count_the_solver_and_refuse_past_memory() {
    let lbfgs = Settings::default()
        .with_size(Size::Longest(1024))
        .with_iterations(500);
    let plan = lbfgs.plan(1024, 768).unwrap();
    let adam = lbfgs
        .clone()
        .with_solver(Solver::Adam { lr: 1.0 })
        .plan(1024, 768)
        .unwrap();
    // L-BFGS keeps 100 correction pairs of 24 bytes a pixel: 1.8 GiB more at 1024x768.
    let pairs = 100 * 24 * 1024 * 768;
    assert!(
        plan.peak_bytes > adam.peak_bytes + pairs - (100 << 20),
        "{plan} vs {adam}"
    );
    assert!(
        plan.notes
            .iter()
            .any(|n| n.contains("100 correction pairs")),
        "{plan}"
    );
    // Fewer iterations than the history keep fewer pairs.
    let short = lbfgs.clone().with_iterations(10).plan(1024, 768).unwrap();
    assert!(short.peak_bytes < plan.peak_bytes - pairs / 2, "{short}");
    let err = lbfgs
        .clone()
        .with_size(Size::Longest(40_000))
        .plan(1024, 768)
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::DoesNotFit { .. }), "{message}");
    assert!(
        message.contains("largest that fits here is about"),
        "{message}"
    );
    assert!(matches!(
        lbfgs.with_size(Size::Longest(1_000_000)).plan(1024, 768),
        Err(Error::InvalidConfig { name: "size", .. })
    ));
}

/// On a GPU the feed-forward network's largest activation (32 floats a pixel for the 26
/// styles) must fit the adapter's largest buffer: past it the plan refuses before work,
/// naming the buffer, where the CPU backends plan the same size (in bands).
#[test]
fn a_gpu_refuses_what_its_largest_buffer_cannot_hold() {
    let style = StyleChoice::BuiltIn(0);
    for backend in Backend::available() {
        let device = backend.device().unwrap();
        // 16384x12288: 26 GB of 32-channel activations, past any Vulkan buffer (4 GiB at most).
        let fast = FastStyle::from_onnx(model(), &device)
            .unwrap()
            .with_size(Some(Size::Longest(16_384)));
        match (backend, fast.plan(640, 480, &style)) {
            (Backend::Wgpu, Err(Error::GpuBufferTooSmall { tensor, hint, .. })) => {
                assert_eq!(tensor, "the network's largest activation");
                assert!(hint.contains("--backend flex"), "{hint}");
            }
            (Backend::Wgpu, other) => panic!("expected a refusal, got {other:?}"),
            // On the CPU kernels no buffer limits it (in bands of rows it takes about 9 GiB).
            (_, Ok(plan)) => assert!(plan.fits(), "{backend}: {plan}"),
            (_, Err(err)) => assert!(matches!(err, Error::DoesNotFit { .. }), "{backend}: {err}"),
        }
    }
}

/// The feed-forward plan on wgpu models Burn's form (CubeCL's pools), not the CPU kernels:
/// at 512x384 lavapipe's peak resident memory was 200 MiB and flex's 61 MiB
/// (`benches/memory_plan.sh`, docs/performance.md), so an estimate near the CPU kernels' on
/// a GPU would start runs that do not fit.
#[test]
fn the_feed_forward_plan_on_a_gpu_counts_burns_pools() {
    let style = StyleChoice::BuiltIn(3);
    for backend in Backend::available() {
        let device = backend.device().unwrap();
        let fast = FastStyle::from_onnx(model(), &device)
            .unwrap()
            .with_tiling(Tiling::Off);
        let peak = fast.plan(512, 384, &style).unwrap().peak_bytes as f64 / (1 << 20) as f64;
        match backend {
            Backend::Wgpu => assert!((180.0..=230.0).contains(&peak), "{backend}: {peak} MiB"),
            _ => assert!((52.0..=70.0).contains(&peak), "{backend}: {peak} MiB"),
        }
    }
}
