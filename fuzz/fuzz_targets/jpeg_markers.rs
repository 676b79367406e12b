//! The JPEG marker walks run before decoding: the truncation check
//! (`image_io::jpeg_is_complete`) and the frame header check
//! (`image_io::check_jpeg_header`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = style_transfer::image_io::jpeg_is_complete(data);
    let _ = style_transfer::image_io::check_jpeg_header(data);
});
