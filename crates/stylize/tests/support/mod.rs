//! What the `stylize` binary's test files share: the example pictures, small copies of them,
//! running the binary, and listing what a run left in a folder.
#![allow(dead_code)] // Each test file uses its own share of these.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use style_transfer::image_io::{self, Size};

pub fn images() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/images")
}

pub fn content() -> PathBuf {
    images().join("tubingen.jpg")
}

pub fn style() -> PathBuf {
    images().join("starry_night.jpg")
}

pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A small copy of an example image, saved as PNG in `dir`.
pub fn small_png(dir: &Path, name: &str, source: &Path) -> PathBuf {
    let image = image_io::resize(
        &image_io::load_image(source).unwrap(),
        Size::Exact {
            width: 48,
            height: 36,
        },
    );
    let path = dir.join(name);
    image_io::save_image(&image, &path).unwrap();
    path
}

/// Runs `stylize` with `args` in `dir`.
pub fn stylize_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stylize"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run stylize")
}

/// Asserts that a run succeeded and returns its standard output.
pub fn succeeded(args: &[&str], out: &Output) -> String {
    assert!(
        out.status.success(),
        "{args:?}: exit {:?}, stderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `command` with its standard error read line by line, sends it SIGINT (Ctrl-C) once a
/// line starts with `after`, and returns its exit code and everything it wrote there.
pub fn interrupted(mut command: Command, after: &str) -> (Option<i32>, String) {
    use std::io::{BufRead, BufReader};
    let mut child = command
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run stylize");
    let mut lines = BufReader::new(child.stderr.take().expect("piped")).lines();
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.expect("stderr");
        seen.push_str(&line);
        seen.push('\n');
        if line.starts_with(after) {
            break;
        }
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    for line in lines {
        seen.push_str(&line.expect("stderr"));
        seen.push('\n');
    }
    (child.wait().expect("wait").code(), seen)
}
