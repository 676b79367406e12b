//! `stylize fetch` (and the older `stylize fetch-weights`, which is `stylize fetch vgg`):
//! each download through the library's `fetch` module, ahead of use, each file's path printed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use style_transfer::fetch::{self, FastNetwork};

use crate::cli::{Download, FetchArgs};
use crate::failure::Failure;

/// One file that `stylize fetch` makes sure of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum File {
    /// The VGG19 weights, converted to ONNX.
    Vgg,
    /// A feed-forward network.
    Network(FastNetwork),
}

/// Runs `stylize fetch`: the files of `args.what` (every download when none is named) into
/// `args.dir` (the cache when not given), each path printed on stdout once it is there.
pub fn run(args: FetchArgs) -> Result<ExitCode, Failure> {
    let dir = args.dir.unwrap_or_else(fetch::cache_dir);
    for file in files(&args.what) {
        println!("{}", fetch_file(file, &dir)?.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The files of these downloads, each once, in the order vgg, fast, arbitrary.
fn files(what: &[Download]) -> Vec<File> {
    let all = what.is_empty() || what.contains(&Download::All);
    let asked = |download| all || what.contains(&download);
    let mut files = Vec::new();
    if asked(Download::Vgg) {
        files.push(File::Vgg);
    }
    if asked(Download::Fast) {
        files.push(File::Network(FastNetwork::BuiltIn));
    }
    if asked(Download::Arbitrary) {
        files.push(File::Network(FastNetwork::Predictor));
        files.push(File::Network(FastNetwork::Transformer));
    }
    files
}

/// Fetches one file into `dir` (a file already there is checked), pip's and the library's
/// steps on stderr.
fn fetch_file(file: File, dir: &Path) -> Result<PathBuf, Failure> {
    let progress = &mut |msg: &str| eprintln!("{msg}");
    match file {
        File::Vgg => fetch::fetch_weights(dir, progress),
        File::Network(network) => {
            fetch::fetch_fast_network(dir, &fetch::python(), network, progress)
        }
    }
    .map_err(Failure::input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_download_names_its_files_once() {
        let networks = |n: &[FastNetwork]| n.iter().map(|&n| File::Network(n)).collect::<Vec<_>>();
        let mut all = vec![File::Vgg];
        all.extend(networks(&FastNetwork::ALL));
        assert_eq!(files(&[]), all);
        assert_eq!(files(&[Download::All, Download::Vgg]), all);
        assert_eq!(files(&[Download::Vgg]), [File::Vgg]);
        assert_eq!(files(&[Download::Fast]), networks(&[FastNetwork::BuiltIn]));
        assert_eq!(
            files(&[Download::Arbitrary, Download::Fast]),
            networks(&FastNetwork::ALL)
        );
    }
}
