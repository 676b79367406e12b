//! Decoding image files within limits: a header declaring too many pixels is refused before
//! any pixel memory is allocated, and JPEG files are checked (sampling factors, completeness)
//! before the decoder sees them.

use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageReader, Limits, RgbImage};

use crate::error::{Error, Result};

/// Largest width or height accepted when decoding (pixels).
pub const MAX_IMAGE_SIDE: u32 = 16_384;
/// Largest decoded allocation accepted (bytes); a header declaring more is refused before
/// any pixel memory is allocated.
pub const MAX_IMAGE_BYTES: u64 = 1 << 30;

/// How large a decoded image may be: a header declaring more is refused before any pixel
/// memory is allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest width or height (pixels).
    pub max_side: u32,
    /// Largest decoded allocation (bytes).
    pub max_bytes: u64,
}

impl Default for DecodeLimits {
    /// [`MAX_IMAGE_SIDE`] and [`MAX_IMAGE_BYTES`]: enough for a 16384x16384 photo in 8-bit RGB
    /// (768 MiB), refusing the decompression bombs that declare more.
    fn default() -> Self {
        DecodeLimits {
            max_side: MAX_IMAGE_SIDE,
            max_bytes: MAX_IMAGE_BYTES,
        }
    }
}

impl DecodeLimits {
    /// Raised limits for known-good large files (`stylize --large-input`): 65535 pixels a
    /// side (JPEG's own limit) and 64 GiB of pixel data.
    pub const RAISED: DecodeLimits = DecodeLimits {
        max_side: 65_535,
        max_bytes: 1 << 36,
    };
}

/// A decoded picture with what travels from input to output besides its pixels.
#[derive(Clone, Debug)]
pub struct Picture {
    /// The pixels as 8-bit RGB, upright (the EXIF orientation applied).
    pub image: RgbImage,
    /// The embedded ICC colour profile, if any: written into the result where the output
    /// format holds one, so that the colours mean what they meant in the photo.
    pub icc_profile: Option<Vec<u8>>,
}

/// Loads an image file (JPEG, PNG, WebP or TIFF, detected from its content) as 8-bit RGB:
/// grayscale is expanded, alpha dropped, 16-bit reduced to 8-bit, and the EXIF orientation
/// of phone photos applied (a photo taken sideways comes out upright).
///
/// Images whose header declares more than [`MAX_IMAGE_SIDE`] pixels on a side, or more
/// than [`MAX_IMAGE_BYTES`] of pixel data, are refused before decoding
/// ([`load_picture`] takes other limits and also returns the ICC profile).
pub fn load_image(path: impl AsRef<Path>) -> Result<RgbImage> {
    load_picture(path, DecodeLimits::default()).map(|p| p.image)
}

/// Loads an image file as [`load_image`] does, under `limits`, with its ICC profile.
pub fn load_picture(path: impl AsRef<Path>, limits: DecodeLimits) -> Result<Picture> {
    let path = path.as_ref();
    let decode = |source| Error::ImageDecode {
        path: path.to_path_buf(),
        source,
    };
    if path.is_dir() {
        return Err(Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a directory"),
        ));
    }
    let reader = ImageReader::open(path)
        .map_err(|e| Error::io(path, e))?
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?;
    if reader.format() == Some(image::ImageFormat::Jpeg) {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        check_jpeg(&bytes).map_err(decode)?;
    }
    decode_limited(reader, limits).map_err(decode)
}

/// Decodes an image held in memory as [`load_image`] decodes a file (same formats, limits
/// and truncated-JPEG check). The entry point of the fuzz targets (`fuzz/`), not part of the
/// supported API.
#[doc(hidden)]
pub fn decode_image_bytes(bytes: &[u8]) -> Result<RgbImage, image::ImageError> {
    let reader = ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(image::ImageError::IoError)?;
    if reader.format() == Some(image::ImageFormat::Jpeg) {
        check_jpeg(bytes)?;
    }
    decode_limited(reader, DecodeLimits::default()).map(|p| p.image)
}

/// The checks made on a JPEG's bytes before decoding it: its frame header
/// ([`check_jpeg_header`]), and that it is complete (the decoder fills in a truncated file's
/// missing rows instead of failing).
fn check_jpeg(bytes: &[u8]) -> Result<(), image::ImageError> {
    check_jpeg_header(bytes)?;
    if !jpeg_is_complete(bytes) {
        return Err(truncated_jpeg());
    }
    Ok(())
}

/// Decodes under `limits` into 8-bit RGB, upright, with the ICC profile. A profile or EXIF
/// block that cannot be read is ignored (the pixels are what matter).
fn decode_limited<R: std::io::BufRead + std::io::Seek>(
    mut reader: ImageReader<R>,
    within: DecodeLimits,
) -> Result<Picture, image::ImageError> {
    let mut limits = Limits::default();
    limits.max_image_width = Some(within.max_side);
    limits.max_image_height = Some(within.max_side);
    limits.max_alloc = Some(within.max_bytes);
    reader.limits(limits);
    let mut decoder = reader.into_decoder()?;
    // The decoder checks the sides; the pixel allocation is checked here, as
    // `ImageReader::decode` would, before any pixel memory is taken.
    if decoder.total_bytes() > within.max_bytes {
        return Err(image::ImageError::Limits(
            image::error::LimitError::from_kind(image::error::LimitErrorKind::InsufficientMemory),
        ));
    }
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let icc_profile = decoder.icc_profile().ok().flatten();
    let mut image = DynamicImage::from_decoder(decoder)?;
    image.apply_orientation(orientation);
    Ok(Picture {
        image: image.into_rgb8(),
        icc_profile,
    })
}

fn truncated_jpeg() -> image::ImageError {
    image::ImageError::Decoding(image::error::DecodingError::new(
        image::ImageFormat::Jpeg.into(),
        "the file is truncated (no end-of-image marker after the image data)",
    ))
}

/// Refuses, before decoding, two kinds of JPEG frame header (SOFn) that the JPEG decoder
/// (zune-jpeg 0.5) mishandles; both found by fuzzing (docs/fuzzing.md):
///
/// - a colour component sampled more finely than the first (luma) one, horizontally or
///   vertically: the decoder panics instead of failing (ordinary encoders sample chroma as
///   finely as luma or more coarsely);
/// - a Huffman-coded image declaring more 8x8 blocks than its file can hold: every block of
///   the first component costs at least one bit (its DC coefficient's code), so a file of
///   `n` bytes holds at most `8 n` blocks. The decoder would otherwise fill in the missing
///   data, spending seconds and up to [`MAX_IMAGE_BYTES`] on a file of a few bytes.
///
/// Files whose markers cannot be followed are left to the decoder to refuse. Public for the
/// fuzz targets (`fuzz/`), not part of the supported API.
#[doc(hidden)]
pub fn check_jpeg_header(bytes: &[u8]) -> Result<(), image::ImageError> {
    let mut i = 2; // after SOI
    while i + 4 <= bytes.len() && bytes[i] == 0xFF {
        let marker = bytes[i + 1];
        if marker == 0xFF {
            i += 1; // fill byte
            continue;
        }
        if matches!(marker, 0xD9 | 0xDA) {
            return Ok(()); // end of image, or start of scan: the frame header came before
        }
        let length = u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]) as usize;
        let end = (i + 2 + length).clamp(i + 4, bytes.len());
        let segment = &bytes[i + 4..end];
        // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC): precision, height, width,
        // component count, then (id, sampling HV, table) per component.
        if matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            let components: Vec<u8> = segment
                .get(6..)
                .unwrap_or_default()
                .chunks_exact(3)
                .map(|c| c[1])
                .collect();
            let huffman = matches!(marker, 0xC0..=0xC3 | 0xC5..=0xC7);
            let height = segment.get(1..3).map(|b| u16::from_be_bytes([b[0], b[1]]));
            let width = segment.get(3..5).map(|b| u16::from_be_bytes([b[0], b[1]]));
            if let (true, Some(height), Some(width)) = (huffman, height, width) {
                let blocks = (width as u64).div_ceil(8) * (height as u64).div_ceil(8);
                if blocks > 8 * bytes.len() as u64 {
                    return Err(image::ImageError::Decoding(
                        image::error::DecodingError::new(
                            image::ImageFormat::Jpeg.into(),
                            format!(
                                "the header declares {width}x{height} pixels ({blocks} blocks of \
                             8x8), more than a file of {} bytes can hold; the file is truncated \
                             or corrupt",
                                bytes.len()
                            ),
                        ),
                    ));
                }
            }
            if let Some((&first, rest)) = components.split_first() {
                let (h0, v0) = (first >> 4, first & 15);
                if let Some((k, &hv)) = rest
                    .iter()
                    .enumerate()
                    .find(|(_, hv)| *hv >> 4 > h0 || *hv & 15 > v0)
                {
                    return Err(image::ImageError::Decoding(
                        image::error::DecodingError::new(
                            image::ImageFormat::Jpeg.into(),
                            format!(
                                "unsupported chroma subsampling: component {} is sampled {}x{}, more \
                             finely than the first component's {h0}x{v0}; save the image again \
                             with ordinary subsampling (4:4:4, 4:2:2 or 4:2:0)",
                                k + 2,
                                hv >> 4,
                                hv & 15
                            ),
                        ),
                    ));
                }
            }
        }
        i += 2 + length;
    }
    Ok(())
}

/// Whether a JPEG's main image data ends with an end-of-image marker: walks the marker
/// segments from the start (skipping APPn contents such as EXIF thumbnails, which carry
/// their own markers) to the first start-of-scan, then looks for `FF D9` after it (entropy
/// coded data never holds `FF D9`). Data appended after the image, as in motion photos, is
/// allowed. Public for the fuzz targets (`fuzz/`), not part of the supported API.
#[doc(hidden)]
pub fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let mut i = 2; // after SOI
    while i + 4 <= bytes.len() {
        if bytes[i] != 0xFF {
            return false;
        }
        let marker = bytes[i + 1];
        if marker == 0xFF {
            i += 1; // fill byte
            continue;
        }
        if marker == 0xD9 {
            return true;
        }
        let length = u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]) as usize;
        if marker == 0xDA {
            return bytes[i + 2 + length.min(bytes.len() - i - 2)..]
                .windows(2)
                .any(|w| w == [0xFF, 0xD9]);
        }
        i += 2 + length;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpeg_completeness_is_read_from_the_markers() {
        // SOI, an APP1 segment holding a thumbnail's own EOI, SOS, data, EOI.
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x06, 0xFF, 0xD9, 0x00, 0x00];
        jpeg.extend([0xFF, 0xDA, 0x00, 0x04, 0x01, 0x02, 0x12, 0xFF, 0x00, 0x34]);
        assert!(
            !jpeg_is_complete(&jpeg),
            "the thumbnail's EOI does not count"
        );
        jpeg.extend([0xFF, 0xD9]);
        assert!(jpeg_is_complete(&jpeg));
        jpeg.extend(b"appended video");
        assert!(jpeg_is_complete(&jpeg));
        assert!(!jpeg_is_complete(&[0xFF, 0xD8]));
    }

    #[test]
    fn jpeg_sampling_check_reads_the_frame_header() {
        // SOI, SOF0 of 3 components with the given sampling factors, SOS.
        let jpeg = |y: u8, cb: u8| {
            let mut j = vec![0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 8, 0, 16, 0, 16, 3];
            j.extend([1, y, 0, 2, cb, 1, 3, 0x11, 1]);
            j.extend([0xFF, 0xDA, 0x00, 0x02]);
            j
        };
        for (y, cb) in [(0x11, 0x11), (0x22, 0x11), (0x21, 0x11), (0x22, 0x22)] {
            assert!(check_jpeg_header(&jpeg(y, cb)).is_ok(), "{y:x} {cb:x}");
        }
        for (y, cb) in [(0x11, 0x21), (0x11, 0x12), (0x11, 0x24), (0x21, 0x12)] {
            assert!(check_jpeg_header(&jpeg(y, cb)).is_err(), "{y:x} {cb:x}");
        }
        for cut in 0..jpeg(0x11, 0x21).len() {
            let _ = check_jpeg_header(&jpeg(0x11, 0x21)[..cut]);
        }
        // 16x16 pixels are 4 blocks: a file of the test's 32 bytes may hold them, not
        // 4096x4096 pixels (262144 blocks).
        let mut huge = jpeg(0x11, 0x11);
        huge[7..11].copy_from_slice(&[0x10, 0x00, 0x10, 0x00]);
        let err = check_jpeg_header(&huge).unwrap_err().to_string();
        assert!(err.contains("4096x4096"), "{err}");
        // A segment length below 2 does not run the walk backwards.
        assert!(check_jpeg_header(&[0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x00, 0xFF, 0xD9]).is_ok());
    }
}
