//! Output files: checked before any work starts (format, directory, not an input), written
//! atomically (temporary file in the same directory, then renamed into place); or standard
//! output (`-o -`), as PNG.

use std::io::Write;
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageFormat, Rgb32FImage, RgbImage};
use style_transfer::image_io::{self, Depth};

use crate::failure::{Failure, Kind};

/// Where results go, with the canonical paths of every input so that none is overwritten.
#[derive(Debug)]
pub struct Output {
    path: PathBuf,
    inputs: Vec<PathBuf>,
}

impl Output {
    /// Checks `path` as an output before the run: a known image extension, an existing and
    /// writable directory, not a directory itself, and not one of `inputs`; `-` (standard
    /// output) is always fine.
    pub fn new(path: &Path, inputs: &[&Path]) -> Result<Self, Failure> {
        if is_stdout(path) {
            return Ok(Output {
                path: path.to_path_buf(),
                inputs: Vec::new(),
            });
        }
        let shown = path.display();
        if path.is_dir() {
            return Err(Failure::usage(format!(
                "output {shown} is a directory; give a file name such as {}",
                path.join("out.png").display()
            )));
        }
        ImageFormat::from_path(path)
            .ok()
            .filter(|f| {
                matches!(
                    f,
                    ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP | ImageFormat::Tiff
                )
            })
            .ok_or_else(|| {
                Failure::usage(format!(
                    "output {shown}: unknown image type; end the name with .png, .jpg, .webp \
                     or .tif"
                ))
            })?;
        let dir = parent(path);
        if !dir.is_dir() {
            return Err(Failure::usage(format!(
                "output {shown}: directory {} does not exist; create it first",
                dir.display()
            )));
        }
        // Prove the directory is writable now rather than after a long run.
        prove_writable(dir).map_err(|e| {
            Failure::usage(format!(
                "output {shown}: cannot write in {}: {e}",
                dir.display()
            ))
        })?;
        let inputs = inputs
            .iter()
            .filter_map(|p| std::fs::canonicalize(p).ok())
            .collect();
        let output = Output {
            path: path.to_path_buf(),
            inputs,
        };
        output.refuse_input(path)?;
        Ok(output)
    }

    /// The final output's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of the intermediate image after `iteration`: `NAME_0010.EXT` beside the output.
    pub fn intermediate(&self, iteration: usize) -> PathBuf {
        let stem = self
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ext = self
            .path
            .extension()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        parent(&self.path).join(format!("{stem}_{iteration:04}.{ext}"))
    }

    /// Saves `image` at `path` ([`write()`]), refusing to replace an input.
    pub fn save(&self, image: &RgbImage, path: &Path) -> Result<(), Failure> {
        self.refuse_input(path)?;
        write(&Image8(image), path)
    }

    /// Saves the final result at the output path ([`write()`]), refusing to replace an input.
    pub fn save_result(&self, result: &FinalResult<'_>) -> Result<(), Failure> {
        self.refuse_input(&self.path)?;
        write(result, &self.path)
    }

    fn refuse_input(&self, path: &Path) -> Result<(), Failure> {
        let Ok(canonical) = std::fs::canonicalize(path) else {
            return Ok(()); // Does not exist yet, so it is not an input.
        };
        if self.inputs.contains(&canonical) {
            return Err(Failure::usage(format!(
                "output {} is one of the inputs; choose another output name",
                path.display()
            )));
        }
        Ok(())
    }
}

/// Writes and removes a probe file in `dir`: whether results can be written there, known
/// before a long run rather than after it.
pub fn prove_writable(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".stylize-probe.{}", std::process::id()));
    std::fs::write(&probe, b"").and_then(|()| std::fs::remove_file(&probe))
}

/// Whether `path` is `-`, standard output.
pub fn is_stdout(path: &Path) -> bool {
    path == Path::new("-")
}

/// A picture to write: [`Image8`] (an 8-bit image as it stands) or [`FinalResult`] (a float
/// result at the depth asked for, with the photo's colour profile).
pub trait Written {
    /// Saves it to the file `path` atomically (the format from the extension).
    fn save(&self, path: &Path) -> style_transfer::Result<()>;
    /// The picture as it goes to standard output (PNG, 8 or 16 bits).
    fn for_stdout(&self) -> DynamicImage;
}

/// An 8-bit image (intermediates, the last finite image of a failed run).
pub struct Image8<'a>(pub &'a RgbImage);

/// A final result before rounding, with how it is written.
pub struct FinalResult<'a> {
    /// RGB values 0-1.
    pub pixels: &'a Rgb32FImage,
    /// Bits per channel.
    pub depth: Depth,
    /// The photo's ICC profile, embedded in the file.
    pub icc_profile: Option<&'a [u8]>,
}

impl Written for Image8<'_> {
    fn save(&self, path: &Path) -> style_transfer::Result<()> {
        image_io::save_image(self.0, path)
    }
    fn for_stdout(&self) -> DynamicImage {
        DynamicImage::ImageRgb8(self.0.clone())
    }
}

impl Written for FinalResult<'_> {
    fn save(&self, path: &Path) -> style_transfer::Result<()> {
        image_io::save_pixels(self.pixels, path, self.depth, self.icc_profile)
    }
    fn for_stdout(&self) -> DynamicImage {
        let float = DynamicImage::ImageRgb32F(self.pixels.clone());
        match self.depth {
            Depth::Eight => DynamicImage::ImageRgb8(float.into_rgb8()),
            Depth::Sixteen => DynamicImage::ImageRgb16(float.into_rgb16()),
        }
    }
}

/// Writes `picture` to the file `path` atomically (the format from its extension), or as PNG
/// to standard output for `-`.
pub fn write(picture: &dyn Written, path: &Path) -> Result<(), Failure> {
    if !is_stdout(path) {
        return picture.save(path).map_err(Failure::runtime);
    }
    let mut png = Vec::new();
    picture
        .for_stdout()
        .write_to(&mut std::io::Cursor::new(&mut png), ImageFormat::Png)
        .map_err(|e| {
            Failure::runtime(style_transfer::Error::ImageEncode {
                path: "-".into(),
                source: e,
            })
        })?;
    let mut stdout = std::io::stdout();
    stdout
        .write_all(&png)
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::io(Kind::Runtime, Path::new("standard output"), e))
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}
