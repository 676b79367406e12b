//! Image decoding as `image_io::load_image` does it: format guessed from the content (JPEG,
//! PNG, WebP), the size and allocation limits, conversion to 8-bit RGB, the truncated-JPEG
//! check.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = style_transfer::image_io::decode_image_bytes(data);
});
