//! Target sizes ([`Size`]) and resizing.

use std::fmt;
use std::str::FromStr;

use image::{RgbImage, imageops::FilterType};

use crate::error::{Error, Result};

/// A target size for an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    /// Scale so that the longer side has this many pixels, keeping the aspect ratio.
    Longest(u32),
    /// Exactly `width` x `height` pixels (the aspect ratio may change).
    Exact {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
}

impl Size {
    /// The `(width, height)` this size gives an image of `width` x `height`.
    pub fn dimensions(self, width: u32, height: u32) -> (u32, u32) {
        match self {
            Size::Exact { width, height } => (width, height),
            Size::Longest(side) => {
                let scale = side as f64 / width.max(height).max(1) as f64;
                let w = ((width as f64 * scale).round() as u32).max(1);
                let h = ((height as f64 * scale).round() as u32).max(1);
                (w, h)
            }
        }
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Size::Longest(s) => write!(f, "{s}"),
            Size::Exact { width, height } => write!(f, "{width}x{height}"),
        }
    }
}

impl FromStr for Size {
    type Err = Error;

    /// Parses `512` (longest side) or `640x480` (exact width x height).
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::InvalidConfig {
            name: "size",
            reason: format!(
                "`{s}` is neither a longest side like 512 nor WIDTHxHEIGHT like 640x480"
            ),
        };
        let positive = |v: &str| {
            v.trim()
                .parse::<u32>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(bad)
        };
        match s.split_once(['x', 'X']) {
            Some((w, h)) => Ok(Size::Exact {
                width: positive(w)?,
                height: positive(h)?,
            }),
            None => Ok(Size::Longest(positive(s)?)),
        }
    }
}

/// Resizes an image with an antialiased bicubic (Catmull-Rom) filter; returns it unchanged
/// when it already has the target size.
pub fn resize(image: &RgbImage, size: Size) -> RgbImage {
    let (w, h) = size.dimensions(image.width(), image.height());
    if (w, h) == image.dimensions() {
        return image.clone();
    }
    image::imageops::resize(image, w, h, FilterType::CatmullRom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_parsing_and_dimensions() {
        assert_eq!("512".parse::<Size>().unwrap(), Size::Longest(512));
        assert_eq!(
            "64x48".parse::<Size>().unwrap(),
            Size::Exact {
                width: 64,
                height: 48
            }
        );
        for bad in ["0", "-5", "x", "10x0", "abc", "1.5"] {
            assert!(
                matches!(
                    bad.parse::<Size>(),
                    Err(Error::InvalidConfig { name: "size", .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(Size::Longest(256).dimensions(512, 384), (256, 192));
        assert_eq!(Size::Longest(256).dimensions(402, 512), (201, 256));
    }
}
