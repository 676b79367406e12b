//! File-system helpers every subsystem shares: the folder a file lives in, and writing a
//! file so that it appears only complete.
//!
//! May use: `error` only.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// The folder of a file (`.` for a bare file name): where a model's external data lives and
/// where a temporary file goes so that renaming it into place stays on one file system.
pub(crate) fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// A hidden temporary name beside `path`, unique to this process and this call, so that
/// processes (and threads) writing into one folder never clash.
fn temporary_beside(path: &Path) -> PathBuf {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    folder_of(path).join(format!(".{name}.{}.{call}.tmp", std::process::id()))
}

/// Writes `path` by letting `write` fill a temporary file beside it, then renaming that into
/// place: `path` holds either its old contents or the complete new ones, never a part. On
/// failure the temporary file is removed.
pub(crate) fn write_atomically(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = temporary_beside(path);
    let result =
        write(&tmp).and_then(|()| std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_file_name_lives_in_the_working_directory() {
        assert_eq!(folder_of(Path::new("vgg19.onnx")), Path::new("."));
        assert_eq!(folder_of(Path::new("w/vgg19.onnx")), Path::new("w"));
        assert_eq!(folder_of(Path::new("/vgg19.onnx")), Path::new("/"));
    }

    #[test]
    fn a_failed_write_leaves_neither_the_file_nor_a_temporary() {
        let dir = std::env::temp_dir().join(format!("st-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("out.bin");
        let failed = write_atomically(&target, |tmp| {
            std::fs::write(tmp, b"partial").unwrap();
            Err(Error::io(tmp, std::io::Error::other("disk full")))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        write_atomically(&target, |tmp| {
            std::fs::write(tmp, b"whole").map_err(|e| Error::io(tmp, e))
        })
        .unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"whole");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
