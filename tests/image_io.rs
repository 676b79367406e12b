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
fn sample_images_load_and_resize() {
    let tubingen = common::image("tubingen.jpg");
    assert_eq!(tubingen.dimensions(), (512, 384));
    assert_eq!(
        image_io::resize(&tubingen, Size::Longest(256)).dimensions(),
        (256, 192)
    );
    assert_eq!(
        image_io::resize(&tubingen, "64x64".parse().unwrap()).dimensions(),
        (64, 64)
    );
    let scream = common::image("the_scream.jpg");
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

/// The seed corpora of the `image_decode` and `jpeg_markers` fuzz targets (docs/fuzzing.md),
/// as committed: the sample photos downscaled to 32 px as JPEG, PNG (RGB, grey, RGBA,
/// 16-bit) and WebP, a JPEG with an EXIF-like APP1 segment holding its own markers, and
/// truncated copies (`WRITE_FUZZ_SEEDS=1` writes them).
#[test]
fn fuzz_seeds_are_current() {
    let (image_seeds, marker_seeds) = (
        common::FuzzSeeds::new("image_decode"),
        common::FuzzSeeds::new("jpeg_markers"),
    );
    let (images, markers) = (image_seeds.path(), marker_seeds.path());
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
    assert_eq!(image_seeds.finish(), 18);
    assert_eq!(marker_seeds.finish(), 6);
}

/// Found by the `image_decode` fuzz target (docs/fuzzing.md): a JPEG whose second colour
/// component is sampled more finely (2x4) than the first (1x1) made zune-jpeg 0.5.15 panic in
/// its AVX2 IDCT (`idct/avx2.rs:246`, an `unwrap` on a slice too short). Such files are
/// refused before decoding, with a typed error.
const FUZZ_JPEG_FINER_CHROMA: [&str; 10] = [
    "ffd8ffe1000c45786966000100010000ffc00011080018002003011100022401031101ffdb00430008060706",
    "06050807070d0c89ffffff00000900000000000000000000000000000000000000000000000000000000000b",
    "0b0c191213000000393d38323c2e3334ffdb004301090909461105080707070909080a0c140d0c0b0b0c1912",
    "130f141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e333432ffc400",
    "1f0000010501010101010100000000000000000102030700060708090a0bffc400b510000201030302040305",
    "0504040000017d01020300041105122131410613514445464748494a535455565758595a636465f3f4f5f6f7",
    "f8f9faffc4ffda0008010100003f00ced2313db8e0ee1d01000000000003a3b700ced2313db8e0ee1d010000",
    "00000003a3b70bdc9ed5b23fffd9d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffda0008010100",
    "003f00ced2313db8e0ee1d000003a3b70bdc9ed5b23fffd9e8e9eaf1f2f3f4f5f6f7f8f9faffda0008010100",
    "003f00ced2313db8e0ee1d000003a30bdcffd9",
];

fn hex_bytes(parts: &[&str]) -> Vec<u8> {
    let hex: String = parts.concat();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn jpeg_with_chroma_sampled_finer_than_luma_is_refused_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = hex_bytes(&FUZZ_JPEG_FINER_CHROMA);
    // The fuzzer's file (Cb 2x4 over Y 1x1) and the same with Cb 2x1.
    let sof = bytes.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    let mut wider = bytes.clone();
    wider[sof + 14] = 0x21;
    for (name, bytes) in [("fuzz.jpg", &bytes), ("wider.jpg", &wider)] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = image_io::load_image(&path).unwrap_err();
        assert!(
            matches!(&err, Error::ImageDecode { .. }) && err.to_string().contains("sampled"),
            "{name}: {err}"
        );
        assert!(image_io::decode_image_bytes(bytes).is_err(), "{name}");
    }
}

/// Found by the `image_decode` fuzz target (docs/fuzzing.md): 1862 bytes of JPEG declaring
/// 14336x10516 pixels. The decoder filled in the missing data (450 MB, 30 s under the fuzzer's
/// instrumentation) before the truncation check refused the result; now the header is
/// refused first, since each 8x8 block costs at least one bit.
const FUZZ_JPEG_TOO_MANY_BLOCKS: [&str; 43] = [
    "ffd8ffe000104a46494600010200000100010000ffc00011082914380003011100021101031101ffdb004300",
    "080606070605080707070909080a0c140d0c0b0b0c1912130f141d1a1f1e1d1a1c1c20242e2720222c231c1c",
    "2837292c30313434341f2827393d38323c2e333432ffdb0043010909090c0b0c180d0d1832211c2132323232",
    "3232323232323232323232323232323232323232323232323232323207003232323232323232323232323232",
    "32323232ffc4001f0000010501010101010100000000000000000102030405060708090a0bffc400b5100002",
    "010303020403050504040000017d01020300041105122131410613516107227114328191a1082342b1c11552",
    "d1f02433627282090a161707191a25262728292a3435363738393a434445464748494a535455565758595a63",
    "6465666768696a737475767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4",
    "b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9fa",
    "ffc4001f0100030101010101010101010000000000000102030405060708090a0bffc400b511000201020404",
    "03040705040400010277000102031104052131061241510761711322ce7ef7ebbd6e5e50c109233352f01562",
    "72d10a162434e125f11718191a262728292a35363738393a434445464748494a535455565758595a63646566",
    "6768696a737475767778797a82838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2a9aab2b3",
    "b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae2e3e4e5e6e7e8e9eaf2f3f4f5f6f7f8f9faff",
    "da000c03010002110311003f00ce3a6db6897f6773e6c6b1c938548a54565c1182739c10339af4710d55a7ec",
    "decfb68cf3695495eeb748b5656ba7a234b691db5c4230c6799770524ff2e3b1eff950e539e8ee97f5a937e5",
    "778f965ac6d4496e25b16b9b508ccd0c2e70a4f46c763fce9be66aca5cafcd02975b5cd7d1fc53159e90b666",
    "de69654252358d376f04f19f7af1f32c9a75f11f098cd4575b9d585c74690000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000ffffffffffff00fb00d3f64e36679d",
    "78a2e9d6d74e06782e639263299563dae1b00107db038aefaaad2536acd696be9df4f3ee1435e68a3b4158f5",
    "bd02ebc35a7a5ac90d8dc702638c9738c1047bfbe28a7ed79e53bf32fc8cea421650dbb66ddbb66d698c9e96",
    "4aaf9e323322eef976b76a7aa6873b6bd5afbe4759cc23240921404606db7636d731b7228a8404080830c24e",
    "4b5987b9a32a020102100263d299aec34c5d0421810001c280c3e9ac40ac24c69a0810a12bcd3026c3ae631d",
    "0e73ab2021048268b96100e7ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "ffffffffffffffffffffffffffffffffffffffffd154350e530000010094820442083873d125db2aa65b56bf",
    "5b3b13f352901048a0a8939fb6389f3e75a35a74b1b3312822a244a95d2945fb5b870fde7ac5979a8e6e180f",
    "1f5cd7010000000000000a669b65387a6abff95ad73ce2863c76b5999b1ea9a2e9ece26bf96563829e55b7ca",
    "0a78c7ff00aaadceabda36f98bd926b72b4fe3b9acac4dbf872ccc3b41f36e2e5012c4f7fafe95cb3c1d4c44",
    "9cab3bf6ecbe46f0953a6925ff0004f30dc4ba824918e327a5693d8de3b972ca42b731e00e580fa66a632714",
    "da09453d0d5bb9dd27484636151db91d3bfe35bb9bb2473460b565392fe6880000000000d3f64e37679d78a2",
    "e9d6d74e06782e639263299563dae1b00107db038aefaaada8939fb6389f3e75a35a74b1b3312822a244a95d",
    "2945fb5b870fde7ac5979a8e6e180f1f5cd7010000000000000a669b65387a6abff95ad73ce2863c76b5999b",
    "1ea9a2e9ece26bf96563829e55b7ca0e78c7ff00aaadceabda36f98bd926b72b4fe3b9acac4dbf872ccc3b41",
    "f36e2e5012c4f7fafe95cb3c1d4c449cab3bf6ecbe46f0953a6925ff0004f304000102770001020311040521",
    "31061241510797f5a937e5777b965ac6d4496e25b16b9b508ccd0c2e70a4f46c763fce9be66aca5cafcd0297",
    "5b5cd7d1fc53159e90b666de69654252358d376f04f19f7af1f32c9a75f11f588cd4575b9d585c7469000000",
    "00000000000000000000000000000000000000000000000000000000000000000000000000000000ffffffff",
    "ffff00fb00d3f64e36679d78a2e9d6d74e06782e639263299563dae1b00107db038aefaaad2536acd696be9d",
    "f4f3ee1435e68a3b4158f5bd02ebc35a7a5ac90d8dc702638c9738c1047bfbe28a7ed79e53bf32fc8cea4216",
    "50b5999b1ea9a2e9ece26bf96563829e55b7ca0e78c7ff00aaadceabda36f98bd926b72b4fe3b9acac4dbf87",
    "2ccc3b41f36e2e5012c4f7fafe95cb3c1d4c449cab3bf6ecbe46f0953a69e327a5693d8de3b972cae042b731",
    "e00e580fa66a632714da09453d0d5bb9dd27484636151db91d3bfe35bb9bb2473460b565392fe688cc836b01",
    "26ce57b0fa5672b1a455f53fffd9",
];

#[test]
fn jpeg_declaring_more_blocks_than_its_bytes_is_refused_before_decoding() {
    let bytes = hex_bytes(&FUZZ_JPEG_TOO_MANY_BLOCKS);
    let started = std::time::Instant::now();
    let err = image_io::decode_image_bytes(&bytes)
        .unwrap_err()
        .to_string();
    assert!(err.contains("14336x10516"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.jpg");
    std::fs::write(&path, &bytes).unwrap();
    let err = image_io::load_image(&path).unwrap_err();
    assert!(matches!(err, Error::ImageDecode { .. }), "{err:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "refused from the header, without decoding: {:?}",
        started.elapsed()
    );
}
