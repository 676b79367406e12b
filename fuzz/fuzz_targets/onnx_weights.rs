//! ONNX weights: the protobuf decode and the graph walk of `VggWeights::from_onnx`
//! (Conv nodes, initializers, Constant and Identity nodes, every tensor encoding and external
//! data), on arbitrary bytes. The model's folder is a fixed directory holding one data file,
//! `vgg19.onnx.data` (conv1_1's weight at offset 0, its bias at 6912: 7168 bytes), so that
//! external data can be found as well as refused.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use style_transfer::VggWeights;

/// The model folder, made once per process.
fn model_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("style-transfer-fuzz-onnx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the model folder");
        let data: Vec<u8> = (0..7168 / 4)
            .flat_map(|i| ((i % 97) as f32 * 1e-3 - 0.05).to_le_bytes())
            .collect();
        std::fs::write(dir.join("vgg19.onnx.data"), data).expect("write the data file");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = VggWeights::from_onnx_bytes(data, model_dir());
});
