//! Print-ready files from the real `stylize` binary: 16-bit PNG and TIFF made from the
//! unrounded result (both modes), phone photos' EXIF orientation applied on input, the photo's
//! ICC profile carried into every output format, and 16 bits refused where the format has 8.

mod support;

use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageDecoder, ImageEncoder, ImageReader, Rgb, RgbImage};
use tempfile::TempDir;

use support::{content, listing, s, small_png, style, stylize_in, succeeded};

const USAGE: i32 = 2;

fn open(path: &Path) -> DynamicImage {
    image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The ICC profile embedded in the image file at `path`.
fn icc_of(path: &Path) -> Option<Vec<u8>> {
    if path.extension().is_some_and(|e| e == "tif") {
        return tiff_icc(&std::fs::read(path).unwrap());
    }
    let mut decoder = ImageReader::open(path)
        .unwrap()
        .with_guessed_format()
        .unwrap()
        .into_decoder()
        .unwrap();
    decoder.icc_profile().unwrap()
}

/// The ICC profile tag (34675) of a little-endian TIFF's first directory, read by hand: the
/// `image` crate's TIFF decoder (0.25.10) does not return the profile its encoder writes.
fn tiff_icc(file: &[u8]) -> Option<Vec<u8>> {
    assert_eq!(&file[..4], b"II\x2a\0", "a little-endian TIFF");
    let u16_at = |i: usize| u16::from_le_bytes([file[i], file[i + 1]]) as usize;
    let u32_at = |i: usize| u32::from_le_bytes(file[i..i + 4].try_into().unwrap()) as usize;
    let ifd = u32_at(4);
    (0..u16_at(ifd)).find_map(|k| {
        let entry = ifd + 2 + 12 * k;
        (u16_at(entry) == 34675).then(|| {
            let (count, offset) = (u32_at(entry + 4), u32_at(entry + 8));
            file[offset..offset + count].to_vec()
        })
    })
}

/// Asserts that a 16-bit result holds the 8-bit one's values at 16 bits (each within half an
/// 8-bit level after rounding) and more: values between the 8-bit levels.
fn assert_sixteen_bits_of(sixteen: &DynamicImage, eight: &RgbImage, what: &str) {
    let DynamicImage::ImageRgb16(sixteen) = sixteen else {
        panic!("{what}: not 16-bit RGB but {:?}", sixteen.color());
    };
    assert_eq!(sixteen.dimensions(), eight.dimensions(), "{what}");
    let mut between = 0;
    for (a, b) in sixteen.as_raw().iter().zip(eight.as_raw()) {
        let level = *a as f64 * 255.0 / 65535.0;
        assert!(
            (level - *b as f64).abs() <= 0.5 + 1e-3,
            "{what}: 16-bit {a} is level {level:.3}, the 8-bit result has {b}"
        );
        between += usize::from(a % 257 != 0);
    }
    // A result rounded to 8 bits and widened would have every value a multiple of 257.
    assert!(
        between * 2 > sixteen.as_raw().len(),
        "{what}: only {between} of {} values lie between 8-bit levels",
        sixteen.as_raw().len()
    );
}

#[test]
fn sixteen_bit_results_come_from_the_unrounded_image() {
    let dir = TempDir::new().unwrap();
    let photo = small_png(dir.path(), "photo.png", &content());
    let painting = small_png(dir.path(), "painting.png", &style());
    let run = |args: &[&str]| {
        let out = stylize_in(dir.path(), args);
        succeeded(args, &out);
    };
    // The feed-forward network: .tif is 16 bits by default, .png with --depth 16.
    let fast = ["fast", s(&photo), "--style", "3", "--quiet", "-o"];
    run(&[&fast[..], &["eight.png"]].concat());
    run(&[&fast[..], &["print.tif"]].concat());
    run(&[&fast[..], &["print.png", "--depth", "16"]].concat());
    let eight = open(&dir.path().join("eight.png")).into_rgb8();
    let tif = open(&dir.path().join("print.tif"));
    assert_sixteen_bits_of(&tif, &eight, "fast .tif");
    assert_eq!(
        tif,
        open(&dir.path().join("print.png")),
        "16-bit PNG and TIFF"
    );
    // --depth 8 makes an 8-bit TIFF with the PNG's pixels.
    run(&[&fast[..], &["eight.tif", "--depth", "8"]].concat());
    assert_eq!(open(&dir.path().join("eight.tif")).into_rgb8(), eight);
    // The optimization, same seed both times.
    let optimize = [
        s(&photo),
        s(&painting),
        "--size",
        "32",
        "--iterations",
        "3",
        "--quiet",
        "-o",
    ];
    run(&[&optimize[..], &["opt.png"]].concat());
    run(&[&optimize[..], &["opt.tif"]].concat());
    assert_sixteen_bits_of(
        &open(&dir.path().join("opt.tif")),
        &open(&dir.path().join("opt.png")).into_rgb8(),
        "optimize .tif",
    );
}

#[test]
fn sixteen_bits_in_an_eight_bit_format_is_refused_before_work() {
    let dir = TempDir::new().unwrap();
    let photo = small_png(dir.path(), "photo.png", &content());
    let before = listing(dir.path());
    for args in [
        &["fast", s(&photo), "-o", "out.jpg", "--depth", "16"][..],
        &["fast", s(&photo), "-o", "out.webp", "--depth", "16"],
        &[
            "fast",
            s(&photo),
            s(&photo),
            "-o",
            "results",
            "--format",
            "jpg",
            "--depth",
            "16",
        ],
    ] {
        let out = stylize_in(dir.path(), args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(USAGE), "{args:?}: {stderr}");
        assert!(stderr.contains(".png or .tif"), "{args:?}: {stderr}");
        assert_eq!(listing(dir.path()), before, "{args:?} left files");
    }
}

/// A JPEG of `w`x`h` (left half red, right half blue) whose EXIF block says `orientation`.
fn jpeg_with_orientation(path: &Path, w: u32, h: u32, orientation: u16) {
    let image = RgbImage::from_fn(w, h, |x, _| match x < w / 2 {
        true => Rgb([230, 20, 20]),
        false => Rgb([20, 20, 230]),
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95)
        .write_image(image.as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
    // APP1 "Exif": a little-endian TIFF header and one IFD entry, Orientation (0x0112),
    // SHORT, count 1.
    let mut exif = b"Exif\0\0II\x2a\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0".to_vec();
    exif.extend(orientation.to_le_bytes());
    exif.extend([0, 0, 0, 0, 0, 0]);
    let mut app1 = vec![0xFF, 0xE1];
    app1.extend(((exif.len() + 2) as u16).to_be_bytes());
    app1.extend(exif);
    let mut file = jpeg[..2].to_vec();
    file.extend(app1);
    file.extend(&jpeg[2..]);
    std::fs::write(path, file).unwrap();
}

#[test]
fn phone_photos_come_out_upright() {
    let dir = TempDir::new().unwrap();
    let photo = dir.path().join("sideways.jpg");
    // Orientation 6: the camera was turned clockwise; shown rotated 90 degrees clockwise,
    // so the stored left half (red) is the top.
    jpeg_with_orientation(&photo, 64, 40, 6);
    let upright = style_transfer::image_io::load_image(&photo).unwrap();
    assert_eq!(upright.dimensions(), (40, 64));
    let [r, _, b] = upright.get_pixel(20, 5).0;
    assert!(
        r > 180 && b < 80,
        "top should be red: {:?}",
        upright.get_pixel(20, 5)
    );
    let [r, _, b] = upright.get_pixel(20, 58).0;
    assert!(b > 180 && r < 80, "bottom should be blue");
    let args = [
        "fast",
        s(&photo),
        "--style",
        "1",
        "--quiet",
        "-o",
        "out.png",
    ];
    succeeded(&args, &stylize_in(dir.path(), &args));
    assert_eq!(open(&dir.path().join("out.png")).width(), 40);
    assert_eq!(open(&dir.path().join("out.png")).height(), 64);
}

#[test]
fn the_photos_colour_profile_travels_to_the_result() {
    let dir = TempDir::new().unwrap();
    // Any bytes stand for a profile here: the encoders store it, the decoders return it.
    let profile: Vec<u8> = (0..600u32).map(|i| (i * 7 % 251) as u8).collect();
    let source =
        style_transfer::image_io::load_image(small_png(dir.path(), "plain.png", &content()))
            .unwrap();
    let photo: PathBuf = dir.path().join("tagged.png");
    let mut encoder = image::codecs::png::PngEncoder::new(std::fs::File::create(&photo).unwrap());
    encoder.set_icc_profile(profile.clone()).unwrap();
    encoder
        .write_image(
            source.as_raw(),
            source.width(),
            source.height(),
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
    assert_eq!(icc_of(&photo).as_deref(), Some(&profile[..]));
    for name in ["out.png", "out.jpg", "out.webp", "out.tif"] {
        let args = ["fast", s(&photo), "--style", "2", "--quiet", "-o", name];
        succeeded(&args, &stylize_in(dir.path(), &args));
        assert_eq!(
            icc_of(&dir.path().join(name)).as_deref(),
            Some(&profile[..]),
            "{name}"
        );
    }
    // A photo without a profile gives a result without one.
    let plain = dir.path().join("plain.png");
    let args = [
        "fast",
        s(&plain),
        "--style",
        "2",
        "--quiet",
        "-o",
        "bare.png",
    ];
    succeeded(&args, &stylize_in(dir.path(), &args));
    assert_eq!(icc_of(&dir.path().join("bare.png")), None);
}
