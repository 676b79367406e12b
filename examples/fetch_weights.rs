//! Fetches and converts the VGG19 weights explicitly (the library otherwise does it on first
//! use) and prints where they are.
//!
//! ```text
//! cargo run --release --example fetch_weights [-- CACHE_DIR]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use style_transfer::{VggWeights, fetch};

fn main() -> ExitCode {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(fetch::cache_dir);
    let result = fetch::fetch_weights(&dir, &mut |msg| eprintln!("{msg}")).and_then(|path| {
        let weights = VggWeights::from_onnx(&path)?;
        Ok((path, weights.convention()))
    });
    match result {
        Ok((path, convention)) => {
            println!("{} ({convention} input convention)", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
