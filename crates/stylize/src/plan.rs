//! The memory plan of each picture in both modes: printed in the run's first lines, or
//! alone with `--dry-run`; and the output's disk checked for room before the work.

use std::path::Path;

use style_transfer::MemoryPlan;
use style_transfer::image_io::Depth;

use crate::batch::{Job, Painted};
use crate::cli::CommonArgs;
use crate::failure::Failure;
use crate::output::is_stdout;

/// Shows `plan` for `job`: with `--dry-run` on standard output (a JSON object with
/// `--json`), returning [`Painted::Planned`] so that nothing is painted; otherwise on standard
/// error (unless `--quiet` or `--json`), after checking that the output's disk has room.
pub fn show(plan: &MemoryPlan, job: &Job, common: &CommonArgs) -> Result<Option<Painted>, Failure> {
    if common.dry_run {
        match common.json {
            true => println!("{}", json(plan, job)),
            false => println!("{}: {plan}", job.input.display()),
        }
        return Ok(Some(Painted::Planned));
    }
    if !common.json {
        common.say(&plan.to_string());
    }
    check_room(&job.output, plan.size, common.depth_for(&job.output))?;
    Ok(None)
}

/// The plan as one JSON object.
fn json(plan: &MemoryPlan, job: &Job) -> serde_json::Value {
    serde_json::json!({
        "input": job.input.display().to_string(),
        "output": job.output.display().to_string(),
        "width": plan.size.0,
        "height": plan.size.1,
        "peak_bytes": plan.peak_bytes,
        "available_bytes": plan.available_bytes,
        "band_rows": plan.band_rows,
        "tile_side": plan.tile_side,
        "fits": plan.fits(),
        "notes": plan.notes,
    })
}

/// Refuses, before the work, an output whose disk lacks room for a `size` result at `depth`:
/// the uncompressed size for TIFF and PNG (PNG's worst case), a quarter of it for JPEG and
/// WebP.
fn check_room(output: &Path, (w, h): (u32, u32), depth: Depth) -> Result<(), Failure> {
    if is_stdout(output) {
        return Ok(());
    }
    let raw = w as u64 * h as u64 * 3 * if depth == Depth::Sixteen { 2 } else { 1 };
    let needed = match image::ImageFormat::from_path(output) {
        Ok(image::ImageFormat::Jpeg | image::ImageFormat::WebP) => raw / 4,
        _ => raw,
    };
    let folder = match output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Some(free) = free_space(folder) else {
        return Ok(());
    };
    if free < needed {
        return Err(Failure::usage(format!(
            "{}: the disk holding {} has {} free, the {w}x{h} result may need {}; free some \
             space or write elsewhere",
            output.display(),
            folder.display(),
            style_transfer::plan::gib(free),
            style_transfer::plan::gib(needed)
        )));
    }
    Ok(())
}

/// Bytes free to this user on the filesystem holding `folder`.
#[cfg(unix)]
fn free_space(folder: &Path) -> Option<u64> {
    let stats = nix::sys::statvfs::statvfs(folder).ok()?;
    Some(stats.blocks_available() as u64 * stats.fragment_size() as u64)
}

#[cfg(not(unix))]
fn free_space(_folder: &Path) -> Option<u64> {
    None
}
