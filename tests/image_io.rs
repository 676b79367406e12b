//! Image files and tensors: formats and pixel types converted to 8-bit RGB, resizing,
//! atomic saving, decoding limits, and tensor round trips on every enabled backend.

mod common;

use image::{DynamicImage, ImageBuffer, ImageFormat, Luma, LumaA, Rgb, RgbImage, Rgba};
use style_transfer::image_io::{self, MAX_IMAGE_BYTES, MAX_IMAGE_SIDE, Size};
use style_transfer::{Backend, Error, InputConvention};

backend_tests!(tensor_round_trip_in_both_conventions);

fn gradient(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        Rgb([
            (x * 255 / w) as u8,
            (y * 255 / h) as u8,
            ((x + y) % 256) as u8,
        ])
    })
}

fn tensor_round_trip_in_both_conventions(backend: Backend) {
    let device = backend.device().unwrap();
    let image = gradient(40, 24);
    for convention in [InputConvention::Caffe, InputConvention::Torchvision] {
        let t = image_io::image_to_tensor(&image, convention, &device);
        assert_eq!(t.dims(), [1, 3, 24, 40]);
        assert_eq!(
            image_io::tensor_to_image(&t, convention).unwrap(),
            image,
            "{convention}"
        );
    }
}

#[test]
fn formats_and_pixel_types_load_as_rgb8() {
    let dir = tempfile::tempdir().unwrap();
    let rgb = gradient(20, 10);
    let cases: Vec<(&str, DynamicImage)> = vec![
        ("rgb.png", DynamicImage::ImageRgb8(rgb.clone())),
        (
            "gray.png",
            DynamicImage::ImageLuma8(ImageBuffer::from_fn(20, 10, |x, _| Luma([(x * 12) as u8]))),
        ),
        (
            "gray_alpha.png",
            DynamicImage::ImageLumaA8(ImageBuffer::from_fn(20, 10, |x, _| {
                LumaA([(x * 12) as u8, 7])
            })),
        ),
        (
            "rgba.png",
            DynamicImage::ImageRgba8(ImageBuffer::from_fn(20, 10, |x, y| {
                Rgba([x as u8, y as u8, 3, 0])
            })),
        ),
        (
            "rgb16.png",
            DynamicImage::ImageRgb16(ImageBuffer::from_fn(20, 10, |x, _| {
                Rgb([x as u16 * 3000, 65535, 0])
            })),
        ),
        ("photo.jpg", DynamicImage::ImageRgb8(rgb.clone())),
        ("lossless.webp", DynamicImage::ImageRgb8(rgb.clone())),
    ];
    for (name, img) in cases {
        let path = dir.path().join(name);
        img.save(&path).unwrap();
        let loaded = image_io::load_image(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(loaded.dimensions(), (20, 10), "{name}");
        match name {
            "rgb.png" | "lossless.webp" => assert_eq!(loaded, rgb, "{name} is lossless"),
            "gray.png" => assert_eq!(loaded.get_pixel(5, 3), &Rgb([60, 60, 60])),
            "gray_alpha.png" => {
                assert_eq!(loaded.get_pixel(5, 3), &Rgb([60, 60, 60]), "alpha dropped")
            }
            "rgba.png" => assert_eq!(
                loaded.get_pixel(5, 3),
                &Rgb([5, 3, 3]),
                "alpha dropped, colour kept"
            ),
            "rgb16.png" => assert_eq!(
                loaded.get_pixel(2, 0),
                &Rgb([(6000.0f64 / 257.0).round() as u8, 255, 0])
            ),
            _ => {}
        }
    }
    // A file named .png holding JPEG data is read by its content.
    let disguised = dir.path().join("disguised.png");
    DynamicImage::ImageRgb8(rgb)
        .save_with_format(&disguised, ImageFormat::Jpeg)
        .unwrap();
    assert_eq!(
        image_io::load_image(&disguised).unwrap().dimensions(),
        (20, 10)
    );
}

#[test]
fn shared_images_load_and_resize() {
    let tubingen = image_io::load_image(common::shared("images/tubingen.jpg")).unwrap();
    assert_eq!(tubingen.dimensions(), (512, 384));
    assert_eq!(
        image_io::resize(&tubingen, Size::Longest(256)).dimensions(),
        (256, 192)
    );
    assert_eq!(
        image_io::resize(&tubingen, "64x64".parse().unwrap()).dimensions(),
        (64, 64)
    );
    let scream = image_io::load_image(common::shared("images/the_scream.jpg")).unwrap();
    assert_eq!(
        image_io::resize(&scream, Size::Longest(128)).dimensions(),
        (101, 128)
    );
}

#[test]
fn bad_files_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.jpg");
    assert!(matches!(
        image_io::load_image(&missing),
        Err(Error::Io { .. })
    ));
    assert!(
        matches!(image_io::load_image(dir.path()), Err(Error::Io { .. })),
        "a directory"
    );
    let empty = dir.path().join("empty.png");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(
        image_io::load_image(&empty),
        Err(Error::ImageDecode { .. })
    ));
    let text = dir.path().join("notes.jpg");
    std::fs::write(&text, b"not an image at all").unwrap();
    assert!(matches!(
        image_io::load_image(&text),
        Err(Error::ImageDecode { .. })
    ));
    let png = dir.path().join("truncated.png");
    gradient(64, 64).save(&png).unwrap();
    let bytes = std::fs::read(&png).unwrap();
    std::fs::write(&png, &bytes[..bytes.len() / 2]).unwrap();
    let err = image_io::load_image(&png).unwrap_err();
    assert!(matches!(err, Error::ImageDecode { .. }), "{err:?}");
    assert!(err.to_string().contains("truncated.png"), "{err}");
}

/// A PNG whose header declares `w` x `h` pixels of 16-bit RGBA (8 bytes each) but holds no
/// pixel data.
fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc.finalize().to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[16, 6, 0, 0, 0]); // 16-bit RGBA
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &[]);
    chunk(&mut out, b"IEND", &[]);
    out
}

#[test]
fn enormous_declared_dimensions_are_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    // Too wide; far too large; within the side limit but over the allocation limit.
    for (w, h) in [
        (MAX_IMAGE_SIDE + 1, 16),
        (100_000, 100_000),
        (12_000, 12_000),
    ] {
        assert!(w > MAX_IMAGE_SIDE || w as u64 * h as u64 * 8 > MAX_IMAGE_BYTES);
        let path = dir.path().join(format!("huge_{w}x{h}.png"));
        std::fs::write(&path, png_header_only(w, h)).unwrap();
        match image_io::load_image(&path) {
            Err(Error::ImageDecode {
                source: image::ImageError::Limits(_),
                ..
            }) => {}
            other => panic!("{w}x{h}: expected a limits error, got {other:?}"),
        }
    }
}

#[test]
fn save_is_atomic_and_refuses_unknown_extensions() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.png");
    image_io::save_image(&gradient(8, 8), &out).unwrap();
    assert_eq!(image_io::load_image(&out).unwrap(), gradient(8, 8));
    let bad = dir.path().join("out.xyz");
    assert!(matches!(
        image_io::save_image(&gradient(8, 8), &bad),
        Err(Error::ImageEncode { .. })
    ));
    let nowhere = dir.path().join("no/such/dir/out.png");
    assert!(image_io::save_image(&gradient(8, 8), &nowhere).is_err());
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        left,
        ["out.png"],
        "no temporary or partial files are left behind"
    );
}

/// Writes the seed corpora of the `image_decode` and `jpeg_markers` fuzz targets
/// (docs/fuzzing.md): the sample photos downscaled to 32 px as JPEG, PNG (RGB, grey, RGBA,
/// 16-bit) and WebP, a JPEG with an EXIF-like APP1 segment holding its own markers, and
/// truncated copies.
#[test]
#[ignore = "writes fuzz/seeds/image_decode and fuzz/seeds/jpeg_markers; run by hand (docs/fuzzing.md)"]
fn write_fuzz_seeds() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let (images, markers) = (root.join("image_decode"), root.join("jpeg_markers"));
    std::fs::create_dir_all(&images).unwrap();
    std::fs::create_dir_all(&markers).unwrap();
    let encode = |image: &DynamicImage, format: ImageFormat| {
        let mut out = std::io::Cursor::new(Vec::new());
        image.write_to(&mut out, format).unwrap();
        out.into_inner()
    };
    for name in ["tubingen", "starry_night"] {
        let path = format!("{}/examples/images/{name}.jpg", env!("CARGO_MANIFEST_DIR"));
        let small = DynamicImage::ImageRgb8(image_io::resize(
            &image_io::load_image(&path).unwrap(),
            Size::Longest(32),
        ));
        let jpeg = encode(&small, ImageFormat::Jpeg);
        // An APP1 segment right after SOI holding a thumbnail's SOI .. EOI.
        let mut exif = jpeg[..2].to_vec();
        let thumb = [b"Exif\0\0".as_slice(), &[0xFF, 0xD8, 0xFF, 0xD9]].concat();
        exif.extend([0xFF, 0xE1]);
        exif.extend(((thumb.len() + 2) as u16).to_be_bytes());
        exif.extend(&thumb);
        exif.extend(&jpeg[2..]);
        let cut = jpeg[..jpeg.len() * 2 / 3].to_vec();
        let gray = DynamicImage::ImageLuma8(small.to_luma8());
        let rgba = DynamicImage::ImageRgba8(small.to_rgba8());
        let rgb16 = DynamicImage::ImageRgb16(small.to_rgb16());
        let files: Vec<(String, Vec<u8>)> = vec![
            (format!("{name}.jpg"), jpeg.clone()),
            (format!("{name}_exif.jpg"), exif.clone()),
            (format!("{name}_truncated.jpg"), cut.clone()),
            (format!("{name}_gray.jpg"), encode(&gray, ImageFormat::Jpeg)),
            (format!("{name}.png"), encode(&small, ImageFormat::Png)),
            (format!("{name}_gray.png"), encode(&gray, ImageFormat::Png)),
            (format!("{name}_rgba.png"), encode(&rgba, ImageFormat::Png)),
            (
                format!("{name}_rgb16.png"),
                encode(&rgb16, ImageFormat::Png),
            ),
            (format!("{name}.webp"), encode(&small, ImageFormat::WebP)),
        ];
        for (file, bytes) in &files {
            let decoded = image_io::decode_image_bytes(bytes);
            assert_eq!(decoded.is_ok(), !file.contains("truncated"), "{file}");
            std::fs::write(images.join(file), bytes).unwrap();
        }
        assert!(image_io::jpeg_is_complete(&exif) && !image_io::jpeg_is_complete(&cut));
        for (file, bytes) in [
            ("a.jpg", &jpeg),
            ("exif.jpg", &exif),
            ("truncated.jpg", &cut),
        ] {
            std::fs::write(markers.join(format!("{name}_{file}")), bytes).unwrap();
        }
    }
}
