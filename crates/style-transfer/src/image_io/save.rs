//! Saving images atomically (a temporary file renamed into place): 8-bit results
//! ([`save_image`]) and float results at 8 or 16 bits per channel with the photo's colour
//! profile ([`save_pixels`]).

use std::io::{BufWriter, Seek, Write};
use std::path::Path;

use image::codecs::{jpeg::JpegEncoder, png::PngEncoder, tiff::TiffEncoder, webp::WebPEncoder};
use image::{ExtendedColorType, ImageEncoder, ImageFormat, Rgb32FImage, RgbImage};

use crate::error::{Error, Result};
use crate::files::write_atomically;

/// Quality of JPEG results (the `image` crate's default, which [`save_image`] always used).
const JPEG_QUALITY: u8 = 75;

/// Bits per channel of a saved result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Depth {
    /// 8 bits per channel: every format.
    #[default]
    Eight,
    /// 16 bits per channel, for print: PNG and TIFF only.
    Sixteen,
}

impl Depth {
    /// The depth a file named `path` gets unless asked otherwise: 16 bits for TIFF (`.tif`,
    /// `.tiff`, a print format), 8 for the rest.
    pub fn for_path(path: &Path) -> Depth {
        match ImageFormat::from_path(path) {
            Ok(ImageFormat::Tiff) => Depth::Sixteen,
            _ => Depth::Eight,
        }
    }
}

/// Saves an RGB image; the format follows the extension (`.png`, `.jpg`/`.jpeg`, `.webp`,
/// `.tif`/`.tiff`).
///
/// The file is written to a temporary file in the same directory and renamed into place,
/// so a failure never leaves a partial file at `path`.
pub fn save_image(image: &RgbImage, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let (w, h) = image.dimensions();
    write_file(path, Depth::Eight, |format, out| {
        encode(
            format,
            out,
            image.as_raw(),
            w,
            h,
            ExtendedColorType::Rgb8,
            None,
        )
    })
}

/// Saves a float result (`pixels`: RGB values 0-1, clamped) at `depth` bits per channel,
/// with `icc_profile` embedded (PNG, JPEG, WebP and TIFF all hold one). 16 bits are made
/// from the floats directly, never through 8 bits. Atomic as [`save_image`].
///
/// [`Error::InvalidConfig`] for 16 bits in a format without them (JPEG, WebP): save as
/// `.png` or `.tif` instead.
pub fn save_pixels(
    pixels: &Rgb32FImage,
    path: impl AsRef<Path>,
    depth: Depth,
    icc_profile: Option<&[u8]>,
) -> Result<()> {
    let path = path.as_ref();
    let (w, h) = pixels.dimensions();
    write_file(path, depth, |format, out| match depth {
        Depth::Eight => {
            let bytes: Vec<u8> = pixels.as_raw().iter().map(|&v| to_u8(v)).collect();
            encode(
                format,
                out,
                &bytes,
                w,
                h,
                ExtendedColorType::Rgb8,
                icc_profile,
            )
        }
        Depth::Sixteen => {
            let bytes: Vec<u8> = pixels
                .as_raw()
                .iter()
                .flat_map(|&v| to_u16(v).to_ne_bytes())
                .collect();
            encode(
                format,
                out,
                &bytes,
                w,
                h,
                ExtendedColorType::Rgb16,
                icc_profile,
            )
        }
    })
}

/// A value 0-1 as 8 bits (rounded, clamped): the one rounding every 8-bit result uses.
pub(crate) fn to_u8(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8
}

/// A value 0-1 as 16 bits (rounded, clamped).
fn to_u16(v: f32) -> u16 {
    (v.clamp(0.0, 1.0) * 65535.0 + 0.5) as u16
}

/// Checks the format and depth of `path`, then writes it atomically with `write`.
fn write_file(
    path: &Path,
    depth: Depth,
    write: impl FnOnce(ImageFormat, &mut BufWriter<std::fs::File>) -> image::ImageResult<()>,
) -> Result<()> {
    let encode_error = |source| Error::ImageEncode {
        path: path.to_path_buf(),
        source,
    };
    let format = ImageFormat::from_path(path).map_err(encode_error)?;
    if depth == Depth::Sixteen && !matches!(format, ImageFormat::Png | ImageFormat::Tiff) {
        return Err(Error::InvalidConfig {
            name: "depth",
            reason: format!(
                "{} cannot hold 16 bits per channel; save as .png or .tif for 16 bits",
                path.display()
            ),
        });
    }
    write_atomically(path, |tmp| {
        let file = std::fs::File::create(tmp).map_err(|e| Error::io(tmp, e))?;
        let mut out = BufWriter::new(file);
        write(format, &mut out).map_err(encode_error)?;
        let file = out
            .into_inner()
            .map_err(|e| Error::io(tmp, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(tmp, e))
    })
}

/// Encodes `bytes` (`color` samples, native-endian for 16 bits) as `format` into `out`,
/// with `icc_profile` embedded.
fn encode<W: Write + Seek>(
    format: ImageFormat,
    out: &mut W,
    bytes: &[u8],
    w: u32,
    h: u32,
    color: ExtendedColorType,
    icc_profile: Option<&[u8]>,
) -> image::ImageResult<()> {
    fn with_profile(
        mut encoder: impl ImageEncoder,
        icc: Option<&[u8]>,
        bytes: &[u8],
        (w, h, color): (u32, u32, ExtendedColorType),
    ) -> image::ImageResult<()> {
        if let Some(icc) = icc {
            // Every encoder used here holds a profile; one that did not would only lose it.
            let _ = encoder.set_icc_profile(icc.to_vec());
        }
        encoder.write_image(bytes, w, h, color)
    }
    let shape = (w, h, color);
    match format {
        ImageFormat::Png => with_profile(PngEncoder::new(out), icc_profile, bytes, shape),
        ImageFormat::Jpeg => with_profile(
            JpegEncoder::new_with_quality(out, JPEG_QUALITY),
            icc_profile,
            bytes,
            shape,
        ),
        ImageFormat::WebP => {
            with_profile(WebPEncoder::new_lossless(out), icc_profile, bytes, shape)
        }
        ImageFormat::Tiff => with_profile(TiffEncoder::new(out), icc_profile, bytes, shape),
        other => Err(image::ImageError::Unsupported(
            image::error::UnsupportedError::from_format_and_kind(
                other.into(),
                image::error::UnsupportedErrorKind::Format(other.into()),
            ),
        )),
    }
}
