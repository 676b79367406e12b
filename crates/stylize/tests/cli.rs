//! The real `stylize` binary: every class of bad input gives one clear line, its documented
//! exit code and no output file; a short real run on every enabled backend writes an image
//! whose loss is below the content image's; Ctrl-C saves the current image.

#[path = "../../../tests/common/backend_tests.rs"]
#[macro_use]
mod backend_tests;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use image::RgbImage;
use prost::Message;
use style_transfer::fetch::FastNetwork;
use style_transfer::image_io::{self, Size};
use style_transfer::onnx_proto::{GraphProto, ModelProto, NodeProto};
use style_transfer::{Backend, Settings, StyleTransfer, VggWeights, fetch};
use tempfile::TempDir;

use support::{content, images, listing, s, small_png, style, stylize_in, succeeded};

backend_tests!(short_run_lowers_the_loss_and_saves_intermediates);

const USAGE: i32 = 2;
const INPUT: i32 = 3;

fn weights_path() -> PathBuf {
    fetch::default_weights().unwrap_or_else(|e| panic!("fetching the VGG19 weights failed: {e}"))
}

fn stylize(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stylize"))
        .args(args)
        .output()
        .expect("run stylize")
}

/// Runs `stylize` with `args` (output in a fresh directory, tiny settings), and checks the
/// exit code, that stderr names `needle`, and that nothing was written to the directory.
fn refused(dir: &TempDir, args: &[&str], code: i32, needle: &str) -> String {
    let out = dir.path().join("out.png");
    let mut all: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
    let has_output = args.iter().any(|a| *a == "-o" || *a == "--output");
    if !has_output {
        all.extend(["-o".as_ref(), out.as_os_str()]);
    }
    // Tiny settings unless the test sets them itself.
    for (short, long, value) in [("-n", "--iterations", "1"), ("-s", "--size", "32")] {
        if !args.iter().any(|a| *a == short || *a == long) {
            all.extend([short, value].map(std::ffi::OsStr::new));
        }
    }
    all.push("--quiet".as_ref());
    let before = listing(dir.path());
    let result = stylize(&all);
    let stderr = String::from_utf8_lossy(&result.stderr).into_owned();
    assert_eq!(
        result.status.code(),
        Some(code),
        "args {args:?}: expected exit {code}, stderr:\n{stderr}"
    );
    assert!(
        stderr.contains(needle),
        "args {args:?}: stderr does not mention `{needle}`:\n{stderr}"
    );
    assert!(
        !stderr.contains("panicked"),
        "args {args:?} panicked:\n{stderr}"
    );
    assert_eq!(
        listing(dir.path()),
        before,
        "args {args:?} left files behind"
    );
    stderr
}

#[test]
fn bad_image_files_are_input_errors() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let write = |name: &str, bytes: &[u8]| {
        let p = d.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let jpeg = std::fs::read(content()).unwrap();
    let empty = write("empty.jpg", b"");
    let truncated = write("truncated.jpg", &jpeg[..jpeg.len() / 3]);
    let mut png = Vec::new();
    image_io::load_image(content())
        .unwrap()
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let truncated_png = write("truncated.png", &png[..png.len() / 2]);
    let text = write("notes.jpg", b"this is not an image\n");
    let mut tiny = Vec::new();
    RgbImage::new(8, 8)
        .write_to(
            &mut std::io::Cursor::new(&mut tiny),
            image::ImageFormat::Png,
        )
        .unwrap();
    let tiny = write("tiny.png", &tiny);
    let huge = write("huge.png", &png_header(100_000, 100_000));
    let subdir = d.join("folder.jpg");
    std::fs::create_dir(&subdir).unwrap();
    let missing = d.join("missing.jpg");
    let through_file = text.join("x.jpg");
    let style = style();
    let out = TempDir::new().unwrap();
    for (bad, needle) in [
        (&missing, "No such file"),
        (&through_file, "Not a directory"),
        (&empty, "cannot read image"),
        (&truncated, "truncated"),
        (&truncated_png, "cannot read image"),
        (&text, "cannot read image"),
        (&subdir, "is a directory"),
        (&huge, "limit"),
        (&tiny, "too small"),
    ] {
        // As the content, as a second style and as the init image. A folder
        // in the content's place is a batch, refused here for holding no pictures.
        let as_content = if bad == &subdir {
            "no image files in this folder"
        } else {
            needle
        };
        let msg = refused(&out, &[s(bad), s(&style)], INPUT, as_content);
        assert!(msg.contains(s(bad)), "the message names the file: {msg}");
        refused(&out, &[s(&content()), s(&style), s(bad)], INPUT, needle);
        refused(
            &out,
            &[s(&content()), s(&style), "--init", s(bad)],
            INPUT,
            needle,
        );
    }
}

/// A PNG signature and IHDR chunk declaring `width` x `height`, with no pixel data.
fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]); // 8-bit RGB
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(13u32.to_be_bytes());
    png.extend(&ihdr);
    png.extend(crc32fast::hash(&ihdr).to_be_bytes());
    png
}

#[test]
fn bad_weights_files_are_input_errors() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let not_onnx = d.join("weights.txt");
    std::fs::write(&not_onnx, "not a model").unwrap();
    let real = std::fs::read(weights_path()).unwrap();
    let corrupt = d.join("corrupt.onnx");
    std::fs::write(&corrupt, &real[..real.len() / 2]).unwrap();
    // A valid ONNX graph with two convolutions: a network, but not VGG19.
    let two_convs = d.join("two_convs.onnx");
    let conv = |i: usize| NodeProto {
        input: vec![format!("x{i}"), format!("w{i}")],
        output: vec![format!("x{}", i + 1)],
        op_type: "Conv".into(),
        ..Default::default()
    };
    let model = ModelProto {
        ir_version: 8,
        graph: Some(GraphProto {
            node: vec![conv(0), conv(1)],
            ..Default::default()
        }),
        ..Default::default()
    };
    std::fs::write(&two_convs, model.encode_to_vec()).unwrap();
    let out = TempDir::new().unwrap();
    let (c, st) = (content(), style());
    for (bad, needle) in [
        (not_onnx.as_path(), "not a readable ONNX"),
        (corrupt.as_path(), "not usable as VGG19 weights"),
        (two_convs.as_path(), "found 2 Conv nodes, VGG19 has 16"),
        (d.join("missing.onnx").as_path(), "No such file"),
    ] {
        refused(&out, &[s(&c), s(&st), "--weights", s(bad)], INPUT, needle);
    }
}

#[test]
fn invalid_numbers_and_flags_are_usage_errors() {
    let out = TempDir::new().unwrap();
    let (c, st) = (content(), style());
    let (c, st) = (s(&c), s(&st));
    for (flags, needle) in [
        (&["--iterations", "0"][..], "--iterations"),
        (&["--iterations", "-5"], "--iterations"),
        (&["--size", "0"], "--size"),
        (&["--size", "0x10"], "--size"),
        (&["--size", "big"], "--size"),
        (&["--size", "8"], "VGG19 needs at least 16"),
        (&["--style-weight", "-1"], "--style-weight"),
        (&["--content-weight", "NaN"], "--content-weight"),
        (&["--tv-weight", "inf"], "--tv-weight"),
        (&["--lr", "0"], "--lr"),
        (&["--style-scale", "0"], "--style-scale"),
        (&["--scales", "0"], "--scales"),
        (&["--scales", "3"], "coarsest level"),
        (&["--style-layers", "conv6_1"], "conv6_1"),
        (&["--content-layers", "conv4_2:-1"], "negative"),
        (&["--style-blend-weights", "1,2"], "one per style"),
        (&["--style-blend-weights", "0"], "above 0"),
        (&["--optimizer", "sgd"], "--optimizer"),
        (&["--pooling", "min"], "--pooling"),
        (&["--backend", "tpu"], "unknown backend `tpu`"),
        (&["--save-every", "0"], "--save-every"),
    ] {
        let mut args = vec![c, st];
        args.extend(flags);
        refused(&out, &args, USAGE, needle);
    }
}

#[test]
fn bad_output_paths_are_refused_and_inputs_never_overwritten() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    // Inputs copied here, so that the test can check they are unchanged.
    let (c, st) = (d.join("content.jpg"), d.join("style.jpg"));
    std::fs::copy(content(), &c).unwrap();
    std::fs::copy(style(), &st).unwrap();
    let original = std::fs::read(&c).unwrap();
    let nowhere = d.join("no/such/dir/out.png");
    let text = d.join("out.txt");
    let (cs, sts) = (s(&c), s(&st));
    for (output, needle) in [
        (s(&nowhere), "does not exist"),
        (s(&text), ".png"),
        (cs, "one of the inputs"),
        (sts, "one of the inputs"),
        (s(d), "is a directory"),
    ] {
        refused(&dir, &[cs, sts, "-o", output], USAGE, needle);
    }
    // The same file under another name is still an input.
    let alias = d.join("./sub/../content.jpg");
    std::fs::create_dir(d.join("sub")).unwrap();
    refused(
        &dir,
        &[cs, sts, "-o", s(&alias)],
        USAGE,
        "one of the inputs",
    );
    assert_eq!(std::fs::read(&c).unwrap(), original);
}

#[test]
fn help_lists_every_flag_with_its_default() {
    // The top level names the subcommands, the bare form and the exit codes.
    let out = stylize(&["--help".as_ref()]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for word in [
        "optimize",
        "fast",
        "fetch",
        "fetch-weights",
        "CONTENT STYLE",
        "Exit codes",
    ] {
        assert!(
            help.contains(word),
            "--help does not mention {word}:\n{help}"
        );
    }
    // The optimization's own help lists every flag, shared ones included.
    let out = stylize(&["optimize".as_ref(), "--help".as_ref()]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--output",
        "--size",
        "--iterations",
        "--optimizer",
        "--lr",
        "--content-weight",
        "--style-weight",
        "--tv-weight",
        "--style-blend-weights",
        "--style-scale",
        "--content-layers",
        "--style-layers",
        "--init",
        "--seed",
        "--pooling",
        "--original-colors",
        "--scales",
        "--save-every",
        "--backend",
        "--weights",
        "--json",
        "--quiet",
        "./content",
        "Exit codes",
    ] {
        assert!(
            help.contains(flag),
            "optimize --help does not mention {flag}"
        );
    }
    assert!(
        help.contains("[default: 1000]"),
        "the style weight's default is shown"
    );
    let none = stylize(&[]);
    assert_eq!(none.status.code(), Some(USAGE));
    assert!(String::from_utf8_lossy(&none.stderr).contains("CONTENT"));
}

/// `stylize fetch`: its help names each download; `fetch vgg`, `fetch fast` and the older
/// `fetch-weights` print the cached files' paths.
#[test]
fn fetch_names_each_download() {
    let out = stylize(&["fetch".as_ref(), "--help".as_ref()]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for word in [
        "vgg",
        "fast",
        "arbitrary",
        "all",
        "--dir",
        "[default: all]",
        "Exit codes",
    ] {
        assert!(
            help.contains(word),
            "fetch --help does not mention {word}:\n{help}"
        );
    }
    let vgg = weights_path();
    let model = fetch::fast_network(FastNetwork::BuiltIn).unwrap();
    for (args, printed) in [
        (&["fetch", "vgg"][..], vec![vgg.clone()]),
        (&["fetch-weights"], vec![vgg.clone()]),
        (&["fetch", "fast", "vgg"], vec![vgg.clone(), model.clone()]),
    ] {
        let out = stylize_in(Path::new("."), args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}: {out:?}");
        let lines: Vec<PathBuf> = stdout.lines().map(PathBuf::from).collect();
        assert_eq!(lines, printed, "{args:?}");
    }
    let out = stylize(&["fetch".as_ref(), "vgg19".as_ref()]);
    assert_eq!(out.status.code(), Some(USAGE), "{out:?}");
}

fn short_run_lowers_the_loss_and_saves_intermediates(backend: Backend) {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("result.png");
    let result = stylize(
        &[
            s(&content()),
            s(&style()),
            "-o",
            s(&out),
            "--size",
            "64",
            "--iterations",
            "4",
            "--save-every",
            "2",
            "--print-every",
            "1",
            "--backend",
            backend.name(),
        ]
        .map(std::ffi::OsStr::new),
    );
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "stylize failed:\n{stderr}");
    assert!(
        stderr.contains("iteration 4/4"),
        "progress lines:\n{stderr}"
    );
    assert!(
        stderr.contains(&format!("saved {}", out.display())),
        "{stderr}"
    );
    let image = image_io::load_image(&out).unwrap();
    assert_eq!(image.dimensions(), (64, 48));
    for n in [2, 4] {
        let frame = dir.path().join(format!("result_{n:04}.png"));
        assert_eq!(image_io::load_image(&frame).unwrap().dimensions(), (64, 48));
    }
    assert_eq!(listing(dir.path()).len(), 3, "no temporary files left");

    // Its total loss, recomputed by the library, is below the content image's.
    let device = backend.device().unwrap();
    let weights = VggWeights::from_onnx(weights_path()).unwrap();
    let size = Size::Exact {
        width: 64,
        height: 48,
    };
    let engine = StyleTransfer::from_settings(&weights, Settings::new().with_size(size), &device);
    let content = image_io::resize(&image_io::load_image(content()).unwrap(), size);
    let style = image_io::load_image(style()).unwrap();
    let losses = engine.objective(&content, &[(&style, 1.0)]).unwrap();
    let total = |img: &RgbImage| {
        let x = image_io::image_to_tensor(img, weights.convention(), &device);
        losses.terms(engine.vgg(), x).unwrap().total
    };
    let (ours, start) = (total(&image), total(&content));
    assert!(ours < 0.9 * start, "output {ours:e} vs content {start:e}");
}

#[test]
fn ctrl_c_saves_the_current_image() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("stopped.png");
    let mut command = Command::new(env!("CARGO_BIN_EXE_stylize"));
    command
        .args([s(&content()), s(&style()), "-o", s(&out)])
        .args([
            "--size",
            "48",
            "--iterations",
            "100000",
            "--print-every",
            "1",
        ]);
    let (code, seen) = support::interrupted(command, "iteration 2/");
    assert_eq!(code, Some(130), "stderr:\n{seen}");
    assert!(seen.contains("interrupted"), "{seen}");
    let image = image_io::load_image(&out).unwrap();
    assert_eq!(image.dimensions(), (48, 36));
    assert_eq!(listing(dir.path()), ["stopped.png"]);
}

/// Without a usable GPU driver (the Vulkan loader pointed at a driver file that does not
/// exist, and glvnd's EGL at a vendor file that does not exist, so that wgpu's OpenGL fallback
/// finds Mesa's software GL no more than its Vulkan), `--backend wgpu` is one clear runtime error saying what to install: no panic from inside
/// the GPU runtime, no backtrace, no output file.
#[cfg(feature = "wgpu")]
#[test]
fn wgpu_without_a_driver_is_a_clear_error() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("out.png");
    let missing = dir.path().join("missing_icd.json");
    let (c, st) = (content(), style());
    let result = Command::new(env!("CARGO_BIN_EXE_stylize"))
        .args([s(&c), s(&st), "-o", s(&out), "--backend", "wgpu"])
        .args(["-n", "1", "-s", "32", "--quiet"])
        .env("VK_DRIVER_FILES", &missing)
        .env("VK_ICD_FILENAMES", &missing)
        .env("__EGL_VENDOR_LIBRARY_FILENAMES", &missing)
        .output()
        .expect("run stylize");
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(
        stderr.contains("backend `wgpu` cannot start") && stderr.contains("Vulkan driver"),
        "stderr:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "stderr:\n{stderr}");
    assert!(!out.exists());
}

/// `stylize fast`: one photo to a file (the library's `FastStyle` picture, byte for byte),
/// a folder to a folder, standard input to standard output, and `--json` lines.
#[test]
fn fast_writes_files_folders_and_stdout() {
    let dir = TempDir::new().unwrap();
    let inputs = dir.path().join("in");
    std::fs::create_dir(&inputs).unwrap();
    let photo = small_png(&inputs, "photo.png", &content());
    small_png(&inputs, "painting.png", &style());

    let one = dir.path().join("one.png");
    let result = stylize(&[
        "fast".as_ref(),
        photo.as_os_str(),
        "--style".as_ref(),
        "7".as_ref(),
        "-o".as_ref(),
        one.as_os_str(),
        "--json".as_ref(),
    ]);
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(result.status.success(), "{result:?}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    for field in [
        "\"style\":\"7\"",
        "\"width\":48",
        "\"height\":36",
        "\"backend\":\"flex\"",
    ] {
        assert!(stdout.contains(field), "{field} missing: {stdout}");
    }
    let device = Backend::Flex.device().unwrap();
    let fast =
        style_transfer::FastStyle::from_onnx(fetch::fast_style_model().unwrap(), &device).unwrap();
    let expected = fast
        .stylize(
            &image_io::load_image(&photo).unwrap(),
            &style_transfer::StyleChoice::BuiltIn(7),
        )
        .unwrap();
    assert_eq!(image_io::load_image(&one).unwrap(), expected);

    let folder = dir.path().join("out");
    let result = stylize(&[
        "fast".as_ref(),
        inputs.as_os_str(),
        "--style".as_ref(),
        "3:0.5,12:0.5".as_ref(),
        "-o".as_ref(),
        folder.as_os_str(),
        "--quiet".as_ref(),
    ]);
    assert!(result.status.success(), "{result:?}");
    assert_eq!(listing(&folder), ["painting.png", "photo.png"]);
    for name in ["painting.png", "photo.png"] {
        let image = image_io::load_image(folder.join(name)).unwrap();
        assert_eq!(image.dimensions(), (48, 36));
    }

    let mut child = Command::new(env!("CARGO_BIN_EXE_stylize"))
        .args(["fast", "-", "--style", "4", "-o", "-", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let bytes = std::fs::read(&photo).unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&bytes).unwrap();
    }
    let result = child.wait_with_output().unwrap();
    assert!(result.status.success(), "{result:?}");
    let piped = image_io::decode_image_bytes(&result.stdout).unwrap();
    assert_eq!(piped.dimensions(), (48, 36));
}

/// `stylize fast` refuses bad input with its exit code and a message naming it, before
/// writing anything.
#[test]
fn fast_refuses_bad_input() {
    let dir = TempDir::new().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not an image").unwrap();
    let out = dir.path().join("out.png");
    let (c, t, e, o) = (content(), text.clone(), empty.clone(), out.clone());
    let vgg = weights_path();
    let cases: [(Vec<&str>, i32, &str); 7] = [
        (vec![s(&c), "--style", "26"], USAGE, "not a built-in style"),
        (vec![s(&c), "--style", "3:x"], USAGE, "is not a style"),
        (vec![s(&c), "--strength", "1.5"], USAGE, "from 0 to 1"),
        (vec![s(&c), "--size", "8"], INPUT, "too small"),
        (vec![s(&e)], INPUT, "no image files"),
        (vec![s(&t)], INPUT, "cannot read image"),
        (vec![s(&c), "--model", s(&vgg)], INPUT, "not usable as"),
    ];
    for (args, code, needle) in cases {
        let mut all = vec!["fast"];
        all.extend(&args);
        all.extend(["-o", s(&o), "--quiet"]);
        let result = Command::new(env!("CARGO_BIN_EXE_stylize"))
            .args(&all)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert_eq!(result.status.code(), Some(code), "{all:?}: {stderr}");
        assert!(stderr.contains(needle), "{all:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{all:?}: {stderr}");
        assert!(!out.exists(), "{all:?} wrote its output");
    }
    assert_eq!(listing(dir.path()), ["empty", "notes.txt"]);
}

/// `stylize fast --style-image`: any painting through the arbitrary-style networks (the
/// library's picture, byte for byte, and the painting's path in `--json`); its bad inputs.
#[test]
fn fast_paints_with_any_painting() {
    let dir = TempDir::new().unwrap();
    let photo = small_png(dir.path(), "photo.png", &content());
    let out = dir.path().join("out.png");
    let painting = style();
    let result = stylize(&[
        "fast".as_ref(),
        photo.as_os_str(),
        "--style-image".as_ref(),
        painting.as_os_str(),
        "--strength".as_ref(),
        "0.7".as_ref(),
        "-o".as_ref(),
        out.as_os_str(),
        "--json".as_ref(),
    ]);
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(result.status.success(), "{result:?}");
    assert!(
        stdout.contains(&format!("\"style\":\"{}\"", painting.display())),
        "{stdout}"
    );
    let device = Backend::Flex.device().unwrap();
    let network = |n| fetch::fast_network(n).unwrap();
    let fast = style_transfer::FastStyle::from_onnx(network(FastNetwork::BuiltIn), &device)
        .unwrap()
        .with_arbitrary_networks(
            network(FastNetwork::Predictor),
            network(FastNetwork::Transformer),
        )
        .unwrap()
        .with_strength(0.7);
    let expected = fast
        .stylize(
            &image_io::load_image(&photo).unwrap(),
            &style_transfer::StyleChoice::Painting(image_io::load_image(&painting).unwrap()),
        )
        .unwrap();
    assert_eq!(image_io::load_image(&out).unwrap(), expected);
    std::fs::remove_file(&out).unwrap();

    let tiny = small_png(dir.path(), "tiny.png", &content());
    let tiny_image = image_io::resize(&image_io::load_image(&tiny).unwrap(), Size::Longest(12));
    image_io::save_image(&tiny_image, &tiny).unwrap();
    let missing = dir.path().join("missing.jpg");
    let vgg = weights_path();
    let (p, t, m) = (photo.clone(), tiny.clone(), missing.clone());
    let cases: [(Vec<&str>, i32, &str); 5] = [
        (vec![s(&p), "--style-image", s(&m)], INPUT, "missing.jpg"),
        (vec![s(&p), "--style-image", s(&t)], INPUT, "too small"),
        (
            vec![s(&p), "--style-image", s(&t), "--style", "3"],
            USAGE,
            "cannot be used with",
        ),
        (
            vec![s(&p), "--style-image", s(&t), "--sheet"],
            USAGE,
            "cannot be used with",
        ),
        (
            vec![s(&p), "--style-image", s(&painting), "--predictor", s(&vgg)],
            INPUT,
            "not usable as",
        ),
    ];
    for (args, code, needle) in cases {
        let mut all = vec!["fast"];
        all.extend(&args);
        all.extend(["-o", s(&out), "--quiet"]);
        let result = Command::new(env!("CARGO_BIN_EXE_stylize"))
            .args(&all)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert_eq!(result.status.code(), Some(code), "{all:?}: {stderr}");
        assert!(stderr.contains(needle), "{all:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{all:?}: {stderr}");
        assert!(!out.exists(), "{all:?} wrote its output");
    }
}

/// `--style-mask`, `--style-image-mask`, `--content-weight-map`: a run with masks writes its
/// picture; every bad mask is refused before the weights are read, naming the mask.
#[test]
fn masks_are_checked_before_the_run() {
    let dir = TempDir::new().unwrap();
    let (c, st) = (content(), style());
    let masks = images().join("masks");
    let (sky, houses) = (
        masks.join("tubingen_sky.png"),
        masks.join("tubingen_houses.png"),
    );
    let scream = images().join("the_scream.jpg");
    let out = dir.path().join("masked.png");
    let result = stylize(&[
        c.as_os_str(),
        st.as_os_str(),
        scream.as_os_str(),
        "--style-mask".as_ref(),
        sky.as_os_str(),
        "--style-mask".as_ref(),
        houses.as_os_str(),
        "--style-image-mask".as_ref(),
        "none".as_ref(),
        "--style-image-mask".as_ref(),
        "none".as_ref(),
        "--content-weight-map".as_ref(),
        houses.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "-n".as_ref(),
        "2".as_ref(),
        "-s".as_ref(),
        "32".as_ref(),
        "--quiet".as_ref(),
    ]);
    assert!(result.status.success(), "{result:?}");
    assert_eq!(image_io::load_image(&out).unwrap().dimensions(), (32, 24));
    std::fs::remove_file(&out).unwrap();
    let black = dir.path().join("black.png");
    image_io::save_image(&RgbImage::new(64, 48), &black).unwrap();
    let missing = dir.path().join("missing.png");
    let (sk, b, m) = (sky.clone(), black.clone(), missing.clone());
    let cases: [(Vec<&str>, i32, &str); 6] = [
        (
            vec![
                s(&c),
                s(&st),
                "--style-mask",
                s(&sk),
                "--style-mask",
                "none",
            ],
            USAGE,
            "--style-mask is given 2 time(s) for 1 style image(s)",
        ),
        (
            vec![s(&c), s(&st), "--style-mask", s(&st)],
            USAGE,
            "style mask 1 is 512x320 and the content image 512x384",
        ),
        (
            vec![s(&c), s(&st), "--style-image-mask", s(&sk)],
            USAGE,
            "style image mask 1 is 512x384 and style image 1 512x320",
        ),
        (
            vec![s(&c), s(&st), "--style-mask", s(&b)],
            USAGE,
            "style mask 1 is all black",
        ),
        (
            vec![s(&c), s(&st), "--content-weight-map", s(&st)],
            USAGE,
            "the content-weight map is 512x320",
        ),
        (
            vec![s(&c), s(&st), "--style-mask", s(&m)],
            INPUT,
            "missing.png",
        ),
    ];
    for (args, code, needle) in cases {
        refused(&dir, &args, code, needle);
    }
}

/// `--init fast:STYLE` starts the optimization from the network's picture; a bad style there
/// is a usage error.
#[test]
fn init_fast_starts_from_the_network() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("out.png");
    let (c, st) = (content(), style());
    let result = stylize(&[
        c.as_os_str(),
        st.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--init".as_ref(),
        "fast:19".as_ref(),
        "-n".as_ref(),
        "1".as_ref(),
        "-s".as_ref(),
        "32".as_ref(),
        "--quiet".as_ref(),
    ]);
    assert!(result.status.success(), "{result:?}");
    assert_eq!(image_io::load_image(&out).unwrap().dimensions(), (32, 24));
    refused(
        &dir,
        &[s(&c), s(&st), "--init", "fast:99"],
        USAGE,
        "not a built-in style",
    );
}

/// `stylize optimize CONTENT STYLE` and the bare `stylize CONTENT STYLE` are the same run (the
/// same picture, byte for byte, on the CPU); a photo named `fast` is the content after
/// `stylize optimize`, or as `./fast`, not the subcommand.
#[test]
fn optimize_subcommand_bare_form_and_a_photo_named_fast() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    std::fs::copy(content(), d.join("fast")).unwrap();
    std::fs::copy(style(), d.join("painting.jpg")).unwrap();
    let tiny = ["-n", "1", "-s", "32", "--quiet"];
    let mut pictures = Vec::new();
    for (n, form) in [
        &["optimize", "fast", "painting.jpg"][..],
        &["./fast", "painting.jpg"],
        &["optimize", "./fast", "painting.jpg"],
    ]
    .into_iter()
    .enumerate()
    {
        let out = format!("out{n}.png");
        let mut args = form.to_vec();
        args.extend(["-o", &out]);
        args.extend(tiny);
        succeeded(&args, &stylize_in(d, &args));
        pictures.push(image_io::load_image(d.join(&out)).unwrap());
    }
    assert_eq!(pictures[0].dimensions(), (32, 24));
    assert!(
        pictures.iter().all(|p| *p == pictures[0]),
        "three forms, three pictures"
    );
    // `fast` alone is still the subcommand: the photo `fast` with the painting as content.
    let args = ["fast", "painting.jpg", "-o", "fast_mode.png", "--quiet"];
    succeeded(&args, &stylize_in(d, &args));
    let fast_mode = image_io::load_image(d.join("fast_mode.png")).unwrap();
    assert_eq!(
        fast_mode.dimensions(),
        (512, 320),
        "the painting's own size"
    );
}

/// `--init`'s words win over files of those names, and a path reaches the file: with a file
/// named `content` that is no image here, `--init content` starts from the content image and
/// `--init ./content` reads the file (and says it cannot).
#[test]
fn init_words_and_files_of_those_names() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    std::fs::write(d.join("content"), "not an image").unwrap();
    let (c, st) = (content(), style());
    let args = [
        s(&c),
        s(&st),
        "--init",
        "content",
        "-o",
        "out.png",
        "-n",
        "1",
        "-s",
        "32",
    ];
    succeeded(&args, &stylize_in(d, &args));
    let args = [
        s(&c),
        s(&st),
        "--init",
        "./content",
        "-o",
        "out2.png",
        "-n",
        "1",
        "-s",
        "32",
    ];
    let out = stylize_in(d, &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(INPUT), "{stderr}");
    assert!(stderr.contains("./content: cannot read image"), "{stderr}");
    assert!(!d.join("out2.png").exists());
}

/// The flags both modes share mean the same in both: `--size`, a bare `--original-colors`
/// (luminance), `--json` (the same shared fields), `-o -` (PNG on standard output), `--quiet`,
/// `--backend`; `--original-colors=histogram`, which the network cannot do, is a usage error
/// in `fast`; `--json` with `-o -` is refused in both.
#[test]
fn shared_flags_mean_the_same_in_both_modes() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let photo = small_png(d, "photo.png", &content());
    let painting = style();
    let (p, st) = (s(&photo), s(&painting));
    let optimize = ["optimize", p, st, "-n", "1"];
    let fast = ["fast", p, "--style", "2"];
    let mut records = Vec::new();
    for (mode, first) in [("optimize", &optimize[..]), ("fast", &fast[..])] {
        let out = d.join(format!("{mode}.png"));
        let mut args = first.to_vec();
        args.extend([
            "-o",
            s(&out),
            "--size",
            "40x30",
            "--original-colors",
            "--json",
        ]);
        args.extend(["--backend", "flex", "--quiet"]);
        let result = stylize_in(d, &args);
        let stdout = succeeded(&args, &result);
        assert!(result.stderr.is_empty(), "--quiet in {mode}: {result:?}");
        assert_eq!(image_io::load_image(&out).unwrap().dimensions(), (40, 30));
        assert_eq!(stdout.lines().count(), 1, "{stdout}");
        let record: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(record["mode"], mode);
        assert_eq!(record["input"], p);
        assert_eq!(record["output"], s(&out));
        assert_eq!(
            (record["width"].as_u64(), record["height"].as_u64()),
            (Some(40), Some(30))
        );
        assert_eq!(record["backend"], "flex");
        assert!(
            record["seconds"].as_f64().is_some_and(|t| t >= 0.0),
            "{record}"
        );
        records.push(record);

        // `-o -`: PNG on standard output, nothing else there.
        let mut args = first.to_vec();
        args.extend(["-o", "-", "--size", "40x30", "--quiet"]);
        let stdout = stylize_in(d, &args);
        assert!(stdout.status.success(), "{args:?}: {stdout:?}");
        let piped = image_io::decode_image_bytes(&stdout.stdout).unwrap();
        assert_eq!(piped.dimensions(), (40, 30), "{mode} -o -");

        for (flags, needle) in [
            (&["-o", "-", "--json"][..], "--json and `-o -`"),
            (
                &["-o", "x.png", "--backend", "tpu"],
                "unknown backend `tpu`",
            ),
            (&["-o", "x.png", "--original-colors=sepia"], "sepia"),
        ] {
            let mut args = first.to_vec();
            args.extend(flags);
            let out = stylize_in(d, &args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(USAGE), "{args:?}: {stderr}");
            assert!(stderr.contains(needle), "{args:?}: {stderr}");
        }
    }
    // The same fields, whatever the mode (plus each mode's own).
    let keys = |r: &serde_json::Value| {
        let mut k: Vec<String> = r.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let shared = [
        "backend", "ended", "height", "input", "mode", "output", "seconds", "width",
    ];
    for record in &records {
        for key in shared {
            assert!(
                keys(record).contains(&key.to_string()),
                "{key} missing: {record}"
            );
        }
    }
    assert_eq!(records[1]["ended"], "done");

    // histogram: the optimization's way; the network cannot, and says what it can.
    let out = d.join("histogram.png");
    let args = [
        p,
        st,
        "-o",
        s(&out),
        "-n",
        "1",
        "-s",
        "32",
        "--original-colors",
        "histogram",
    ];
    succeeded(&args, &stylize_in(d, &args));
    let args = ["fast", p, "-o", s(&out), "--original-colors=histogram"];
    let result = stylize_in(d, &args);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(USAGE), "{stderr}");
    assert!(stderr.contains("luminance only"), "{stderr}");
}

/// `--json` in the optimization: one line, with what was read and written, the iterations,
/// the final losses, the seconds and how the run ended.
#[test]
fn optimize_json_is_one_record() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let out = dir.path().join("out.png");
    let (c, st) = (content(), style());
    let args = [
        s(&c),
        s(&st),
        "-o",
        s(&out),
        "-n",
        "2",
        "-s",
        "32",
        "--json",
    ];
    let result = stylize_in(d, &args);
    let stdout = succeeded(&args, &result);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        !stderr.contains("saved"),
        "the record replaces the saved line: {stderr}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    let record: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(record["mode"], "optimize");
    assert_eq!(record["input"], s(&c));
    assert_eq!(record["styles"], serde_json::json!([s(&st)]));
    assert_eq!(record["output"], s(&out));
    assert_eq!(
        (record["width"].as_u64(), record["height"].as_u64()),
        (Some(32), Some(24))
    );
    assert_eq!(record["iterations"], 2);
    assert_eq!(
        (record["scale"].as_u64(), record["scales"].as_u64()),
        (Some(1), Some(1))
    );
    let losses = &record["losses"];
    for term in ["total", "content", "style", "tv"] {
        assert!(
            losses[term].as_f64().is_some_and(f64::is_finite),
            "{term}: {record}"
        );
    }
    assert!(losses["total"].as_f64().unwrap() > 0.0, "{record}");
    assert!(
        record["seconds"].as_f64().is_some_and(|t| t > 0.0),
        "{record}"
    );
    assert!(
        ["done", "converged"].contains(&record["ended"].as_str().unwrap()),
        "{record}"
    );
    assert!(record["reason"].is_string(), "{record}");
}

/// `stylize fast FOLDER`: only files this build decodes are collected (a .bmp and a .tif are
/// left out with a note, a .txt silently); a file that is not what its name says is reported
/// while every good picture is still written, and the run then exits 3.
#[test]
fn fast_folder_writes_every_good_picture() {
    let dir = TempDir::new().unwrap();
    let inputs = dir.path().join("photos");
    std::fs::create_dir(&inputs).unwrap();
    // Sorted, the bad file comes first.
    std::fs::write(inputs.join("bad.jpg"), "not a JPEG").unwrap();
    small_png(&inputs, "good.png", &content());
    small_png(&inputs, "photo.jpg", &style());
    std::fs::write(inputs.join("scan.bmp"), "BM not decodable here").unwrap();
    std::fs::write(inputs.join("scan.tif"), "II* not decodable here").unwrap();
    std::fs::write(inputs.join("notes.txt"), "a note").unwrap();
    let folder = dir.path().join("out");
    let d = dir.path();
    let args = [
        "fast",
        s(&inputs),
        "--style",
        "5",
        "-o",
        s(&folder),
        "--json",
    ];
    let result = stylize_in(d, &args);
    let stderr = String::from_utf8_lossy(&result.stderr);
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert_eq!(result.status.code(), Some(INPUT), "{stderr}");
    assert_eq!(listing(&folder), ["good.png", "photo.png"], "{stderr}");
    assert_eq!(
        stdout.lines().count(),
        2,
        "a record per good picture: {stdout}"
    );
    let bad = inputs.join("bad.jpg");
    assert!(
        stderr.contains(&format!("error: {}: cannot read image", bad.display())),
        "{stderr}"
    );
    // The scans are pictures (and fail to decode) where their formats are compiled in (TIFF
    // is, for print output), and are left out otherwise.
    let scans = [image::ImageFormat::Bmp, image::ImageFormat::Tiff]
        .into_iter()
        .filter(|f| f.reading_enabled())
        .count();
    let failed = format!("{} of {} pictures", 1 + scans, 3 + scans);
    assert!(stderr.contains(&failed), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("notes.txt"), "{stderr}");
    for (format, name) in [
        (image::ImageFormat::Bmp, "scan.bmp"),
        (image::ImageFormat::Tiff, "scan.tif"),
    ] {
        if !format.reading_enabled() {
            let skipped = format!("skipping {}", inputs.join(name).display());
            let listed = stderr.contains(&skipped)
                || stderr.contains(&format!(", {}", inputs.join(name).display()));
            assert!(listed, "{name} is named as left out: {stderr}");
            assert!(
                !stderr.contains(&format!("{name}: cannot read")),
                "{stderr}"
            );
        }
    }
}
