//! The JPEG marker walk that refuses truncated JPEGs (`image_io::jpeg_is_complete`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = style_transfer::image_io::jpeg_is_complete(data);
});
