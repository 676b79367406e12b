//! Batches, in both modes: the pictures a run paints (files, folders, standard input), where
//! each result goes (one file, or `STEM.EXT` in an output folder), which of them are this
//! process's part ([`crate::shard`]), which are already done (resumable runs), and the loop
//! that paints them, reports each failure and exits non-zero at the end.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use image::ImageFormat;
use style_transfer::image_io::{self, DecodeLimits};

use crate::cli::CommonArgs;
use crate::failure::{Failure, Kind};
use crate::output::{Output, is_stdout, prove_writable};
use crate::shard::{self, Shard};

/// One picture to paint: where it comes from and where its result goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// The photo (`-` for standard input).
    pub input: PathBuf,
    /// The result's path (`-` for standard output).
    pub output: PathBuf,
}

/// How painting one picture ended, when it did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Painted {
    /// The result was written.
    Written,
    /// Ctrl-C or a termination signal stopped the run; a single picture's image so far was
    /// written, a batch's current picture was not (so that a rerun redoes it).
    Interrupted,
    /// `--dry-run`: its plan was printed, nothing painted.
    Planned,
}

/// The pictures of a run: this process's part, split into those to paint and those done.
#[derive(Debug)]
pub struct Batch {
    /// This part's pictures whose results are still to be made, in sorted order.
    pub jobs: Vec<Job>,
    /// This part's pictures whose results are already there (skipped).
    pub done: Vec<Job>,
    /// Whether the results go into an output folder (several pictures or a folder given).
    pub into_folder: bool,
    /// The part of the batch this process paints, if split.
    pub shard: Option<Shard>,
    /// The number of pictures in the whole batch, over every part.
    pub total: usize,
}

impl Batch {
    /// Plans a run over `inputs` (files, folders of pictures, or `-`) with the output, shard
    /// and resume flags of `common`; `read` are the run's other input files (style images,
    /// masks, weights), which no output may replace. Everything is checked before any work
    /// and before anything is written: the shard, every output name (no two alike, none an
    /// input), the output folder (not a file, writable; created if missing).
    fn plan(inputs: &[PathBuf], common: &CommonArgs, read: &[&Path]) -> Result<Self, Failure> {
        let shard = shard::choose(common.shard, common.shards, &|name| {
            std::env::var(name).ok()
        })?;
        let mut pictures = Vec::new();
        for input in inputs {
            if input.is_dir() {
                pictures.extend(folder_pictures(input, common)?);
            } else {
                pictures.push(input.clone());
            }
        }
        let into_folder = pictures.len() > 1 || inputs.iter().any(|p| p.is_dir());
        let jobs = if into_folder {
            folder_jobs(pictures, common, read)?
        } else {
            single_job(pictures.remove(0), common, read)?
        };
        let total = jobs.len();
        let mine = shard::part(jobs, |job| &job.input, shard.as_ref());
        let (done, jobs) = match into_folder && !common.overwrite {
            true => mine.into_iter().partition(|job| complete(&job.output)),
            false => (Vec::new(), mine),
        };
        Ok(Batch {
            jobs,
            done,
            into_folder,
            shard,
            total,
        })
    }

    /// Plans the batch ([`Batch::plan`]) and begins it: with `--list`, lists it; otherwise
    /// announces it. `None` when there is nothing more to do (listed, or every result there).
    pub fn start(
        inputs: &[PathBuf],
        common: &CommonArgs,
        read: &[&Path],
    ) -> Result<Option<Self>, Failure> {
        let batch = Batch::plan(inputs, common, read)?;
        if common.list {
            batch.list(common);
            return Ok(None);
        }
        batch.announce(common);
        Ok((!batch.jobs.is_empty()).then_some(batch))
    }

    /// `--list`: this part's pictures on standard output, one per line: the input, the
    /// output, and `todo` or `done` (already there), separated by tabs; which part it is on
    /// standard error.
    fn list(&self, common: &CommonArgs) {
        if let Some(shard) = &self.shard {
            common.say(&shard.to_string());
        }
        let mut all: Vec<(&Job, &str)> = (self.jobs.iter().map(|j| (j, "todo")))
            .chain(self.done.iter().map(|j| (j, "done")))
            .collect();
        all.sort_by(|a, b| a.0.input.cmp(&b.0.input));
        for (job, state) in all {
            println!("{}\t{}\t{state}", job.input.display(), job.output.display());
        }
    }

    /// The run's first lines on standard error (unless `--quiet`): which part this is and
    /// where that came from, and each picture skipped because its result is there.
    fn announce(&self, common: &CommonArgs) {
        if let Some(shard) = &self.shard {
            common.say(&format!(
                "{shard}: {} of the batch's {} pictures, {} to paint",
                self.jobs.len() + self.done.len(),
                self.total,
                self.jobs.len()
            ));
        }
        for job in &self.done {
            common.say(&format!(
                "skipping {}: {} is already there (--overwrite redoes it)",
                job.input.display(),
                job.output.display()
            ));
        }
        if self.jobs.is_empty() {
            common.say("nothing to paint: every result of this part is there");
        }
    }

    /// Paints every job with `paint`, in order. With an output folder a picture that fails is
    /// reported and the others still painted; the run then fails at the end (exit 3 if only
    /// inputs were bad, else 1), so that a scheduler retries the part and the retry does only
    /// what is left. An interruption stops the run (exit 130). With one picture its failure is
    /// the run's.
    pub fn run(
        &self,
        mut paint: impl FnMut(&Job) -> Result<Painted, Failure>,
    ) -> Result<ExitCode, Failure> {
        let (mut failed, mut kind, mut written) = (0, Kind::Input, 0);
        for job in &self.jobs {
            match paint(job) {
                Ok(Painted::Written) => written += 1,
                Ok(Painted::Planned) => {}
                Ok(Painted::Interrupted) if !self.into_folder => {
                    return Ok(ExitCode::from(Kind::Interrupted.code()));
                }
                Ok(Painted::Interrupted) => {
                    return Err(Failure {
                        kind: Kind::Interrupted,
                        message: format!(
                            "interrupted: {written} of {} pictures written, {} not finished and \
                             not written; the same command again paints the rest",
                            self.jobs.len(),
                            job.input.display()
                        ),
                    });
                }
                Err(failure) if !self.into_folder => return Err(failure),
                Err(failure) => {
                    failure.report();
                    failed += 1;
                    // A bad picture (unreadable, too small for the settings) is an input
                    // failure; anything else (a write, the device) a runtime one.
                    if failure.kind == Kind::Runtime {
                        kind = Kind::Runtime;
                    }
                }
            }
        }
        if failed > 0 {
            return Err(Failure {
                kind,
                message: format!(
                    "{failed} of {} pictures failed (above); the rest were written, and the \
                     same command again retries only what failed",
                    self.jobs.len()
                ),
            });
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Whether the result at `path` is there and complete: it decodes as an image. Results are
/// written whole (a temporary file renamed into place), so a file that does not decode was
/// put there some other way (a copy cut short) and is redone.
fn complete(path: &Path) -> bool {
    // Our own results: the raised limits, so that a large one is not taken for a broken one.
    path.is_file() && image_io::load_picture(path, DecodeLimits::RAISED).is_ok()
}

/// One picture to one file, or `-` for standard output (checked by [`Output::new`]).
fn single_job(input: PathBuf, common: &CommonArgs, read: &[&Path]) -> Result<Vec<Job>, Failure> {
    if common.format.is_some() {
        return Err(Failure::usage(
            "--format names the type of the results in an output folder; with one picture the \
             output file's extension does (out.jpg)",
        ));
    }
    let output = &common.output;
    if !is_stdout(output) {
        let mut refs: Vec<&Path> = read.to_vec();
        if !is_stdin(&input) {
            refs.push(&input);
        }
        Output::new(output, &refs)?;
    }
    Ok(vec![Job {
        input,
        output: output.clone(),
    }])
}

/// Several pictures into the folder `common.output`, each as `STEM.EXT` (`--format`, PNG by
/// default). The folder is created only after every name is checked.
fn folder_jobs(
    inputs: Vec<PathBuf>,
    common: &CommonArgs,
    read: &[&Path],
) -> Result<Vec<Job>, Failure> {
    let output = &common.output;
    if is_stdout(output) || inputs.iter().any(|p| is_stdin(p)) {
        return Err(Failure::usage(
            "`-` (standard input or output) takes one picture; give an output folder for several",
        ));
    }
    if output.exists() && !output.is_dir() {
        return Err(Failure::usage(format!(
            "{}: several pictures need an output folder, and this is a file",
            output.display()
        )));
    }
    let extension = common.format.unwrap_or_default().extension();
    let read: Vec<PathBuf> = (inputs
        .iter()
        .map(PathBuf::as_path)
        .chain(read.iter().copied()))
    .filter_map(|p| p.canonicalize().ok())
    .collect();
    let mut jobs: Vec<Job> = Vec::new();
    for input in inputs {
        let stem = input
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let path = output.join(format!("{stem}.{extension}"));
        if let Some(other) = jobs.iter().find(|j| j.output == path) {
            return Err(Failure::usage(format!(
                "{} and {} would both be written to {}; rename one, or give them in two runs",
                other.input.display(),
                input.display(),
                path.display()
            )));
        }
        if path.canonicalize().is_ok_and(|p| read.contains(&p)) {
            return Err(Failure::usage(format!(
                "{} would overwrite an input; choose another output folder",
                path.display()
            )));
        }
        jobs.push(Job {
            input,
            output: path,
        });
    }
    if !common.list {
        writable_folder(output)?;
    }
    Ok(jobs)
}

/// Creates the output folder if missing and proves it writable, before any work.
fn writable_folder(folder: &Path) -> Result<(), Failure> {
    let fail = |e: std::io::Error| {
        Failure::usage(format!(
            "{}: cannot write into this output folder: {e}",
            folder.display()
        ))
    };
    std::fs::create_dir_all(folder).map_err(fail)?;
    prove_writable(folder).map_err(fail)
}

/// Whether an input is `-`, standard input (a file of that name is `./-`).
pub fn is_stdin(path: &Path) -> bool {
    path == Path::new("-")
}

/// The extensions (lower case) of the image formats this build decodes, as the `image`
/// crate that the library decodes with is compiled: a folder contributes files with these.
pub fn readable_extensions() -> Vec<&'static str> {
    ImageFormat::all()
        .filter(ImageFormat::reading_enabled)
        .flat_map(ImageFormat::extensions_str)
        .copied()
        .collect()
}

/// The pictures in `folder` that this build decodes (by extension), sorted; files of an image
/// format it does not decode (.bmp, .tif, ...) are named in a note and left out, as are
/// hidden files (a result being written by another process is one).
fn folder_pictures(folder: &Path, common: &CommonArgs) -> Result<Vec<PathBuf>, Failure> {
    let readable = readable_extensions();
    let mut pictures = Vec::new();
    let mut unsupported = Vec::new();
    let entries = std::fs::read_dir(folder).map_err(|e| Failure::io(Kind::Input, folder, e))?;
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        let Some(extension) = path.extension().and_then(|e| e.to_str()) else {
            continue;
        };
        if hidden || path.is_dir() {
            continue;
        }
        if readable.contains(&extension.to_lowercase().as_str()) {
            pictures.push(path);
        } else if ImageFormat::from_extension(extension).is_some() {
            unsupported.push(path);
        }
    }
    let reads = readable.join(", .");
    if !unsupported.is_empty() {
        unsupported.sort();
        let names: Vec<String> = unsupported
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        common.say(&format!(
            "skipping {} (this build reads .{reads})",
            names.join(", ")
        ));
    }
    if pictures.is_empty() {
        return Err(Failure {
            kind: Kind::Input,
            message: format!(
                "{}: no image files in this folder (this build reads .{reads})",
                folder.display()
            ),
        });
    }
    pictures.sort();
    Ok(pictures)
}

/// A flag set by the first Ctrl-C or termination signal (SIGTERM, as Slurm and Kubernetes
/// send before they stop a job), so that the run stops at the next iteration or between
/// pictures; the second leaves at once.
pub fn stop_signal() -> Arc<AtomicBool> {
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = interrupted.clone();
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(Kind::Interrupted.code().into());
        }
    });
    interrupted
}
