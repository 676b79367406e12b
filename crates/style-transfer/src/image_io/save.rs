//! Saving images atomically (a temporary file renamed into place).

use std::path::Path;

use image::RgbImage;

use crate::error::{Error, Result};
use crate::files::write_atomically;

/// Saves an RGB image; the format follows the extension (`.png`, `.jpg`/`.jpeg`, `.webp`).
///
/// The file is written to a temporary file in the same directory and renamed into place,
/// so a failure never leaves a partial file at `path`.
pub fn save_image(image: &RgbImage, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let format = image::ImageFormat::from_path(path).map_err(|source| Error::ImageEncode {
        path: path.to_path_buf(),
        source,
    })?;
    write_atomically(path, |tmp| {
        (image.save_with_format(tmp, format)).map_err(|source| Error::ImageEncode {
            path: path.to_path_buf(),
            source,
        })
    })
}
