//! Memory plans: before any work, the peak memory a run will take (a model fitted to
//! measured peaks, per mode; docs/performance.md lists the points, `benches/memory_plan.sh`
//! measures them again) against what the machine has (the cgroup's limit, else
//! `MemAvailable`), and whether the run goes in bands of rows to fit.
//!
//! May use: `error`, `backend`. Used by `feedforward` and `optimize`, which know their sizes.

use std::fmt;

use burn::tensor::Device;

use crate::backend;
use crate::error::{Error, Result};

/// One mebibyte.
const MIB: u64 = 1 << 20;

/// The largest side any plan accepts (pixels): beyond it no picture fits in memory a
/// machine has (a 65535-pixel square is 4.3 gigapixels), and image formats end there.
pub const MAX_SIDE: u32 = 65_535;

/// Share of the available memory a plan may use: the rest is the operating system's, the
/// allocator's slack and the model's error (measured within 15%).
const USABLE: f64 = 0.85;

/// How a run may be split to fit in memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tiling {
    /// In bands only when the whole picture at once does not fit (the default).
    #[default]
    Auto,
    /// Never: a run that does not fit is refused before it starts.
    Off,
    /// Always, in bands of about this many rows of the picture (the feed-forward networks).
    Rows(u32),
    /// The optimization's objective evaluated in square tiles of this many pixels a side
    /// (rounded down to a multiple of 16) at every scale larger than one tile, on any
    /// backend.
    Tiles(u32),
}

/// A run's memory plan: what it will take at its peak and how it is split.
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryPlan {
    /// The picture's size at the largest scale.
    pub size: (u32, u32),
    /// The estimated peak memory of the run (bytes).
    pub peak_bytes: u64,
    /// What the machine has for it (bytes): the cgroup's limit less its usage, or
    /// `MemAvailable`, whichever is smaller; `None` where neither can be read.
    pub available_bytes: Option<u64>,
    /// Rows of the picture per band, when the run goes in bands.
    pub band_rows: Option<u32>,
    /// The side of the optimization's tiles (pixels, without their halo) at the largest
    /// scale, when it goes in tiles.
    pub tile_side: Option<u32>,
    /// The L-BFGS history the plan shortened the run's to, where the whole history's
    /// correction pairs (whole-picture vectors) would not fit.
    pub lbfgs_history: Option<usize>,
    /// What else the plan decided, one line each (for the CLI's first lines).
    pub notes: Vec<String>,
}

impl MemoryPlan {
    /// A plan for a picture of `size` run whole, `peak_bytes` at its peak, against
    /// `available_bytes`; no notes yet.
    pub(crate) fn whole(size: (u32, u32), peak_bytes: u64, available_bytes: Option<u64>) -> Self {
        MemoryPlan {
            size,
            peak_bytes,
            available_bytes,
            band_rows: None,
            tile_side: None,
            lbfgs_history: None,
            notes: Vec::new(),
        }
    }

    /// Whether the peak fits in the usable share of what the machine has (a machine whose
    /// memory cannot be read is taken to fit).
    pub fn fits(&self) -> bool {
        fits(self.peak_bytes, self.available_bytes)
    }
}

impl fmt::Display for MemoryPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (w, h) = self.size;
        write!(f, "plan: {w}x{h}, ")?;
        match (self.band_rows, self.tile_side) {
            (Some(rows), _) => write!(f, "in bands of {rows} rows, ")?,
            (None, Some(side)) => write!(f, "in tiles of {side}x{side}, ")?,
            (None, None) => write!(f, "whole, ")?,
        }
        write!(f, "peak memory about {}", gib(self.peak_bytes))?;
        if let Some(available) = self.available_bytes {
            write!(f, " of {} available", gib(available))?;
        }
        for note in &self.notes {
            write!(f, "\n  {note}")?;
        }
        Ok(())
    }
}

/// Whether `peak` fits in the usable share of `available`.
pub(crate) fn fits(peak: u64, available: Option<u64>) -> bool {
    available.is_none_or(|a| peak as f64 <= a as f64 * USABLE)
}

/// Bytes as GiB with two decimals (MiB below one GiB).
pub fn gib(bytes: u64) -> String {
    match bytes < 1 << 30 {
        true => format!("{} MiB", bytes.div_ceil(MIB)),
        false => format!("{:.2} GiB", bytes as f64 / (1u64 << 30) as f64),
    }
}

/// The memory this process may still use: the smallest of the cgroup's limit less its
/// usage (cgroup v2, then v1) and the kernel's `MemAvailable`; `None` if none can be read.
pub fn available_memory() -> Option<u64> {
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
    };
    let cgroup = [
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ]
    .into_iter()
    .find_map(|(limit, usage)| Some(read(limit)?.saturating_sub(read(usage).unwrap_or(0))));
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("MemAvailable:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    });
    match (cgroup, meminfo) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What a device has for a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DeviceMemory {
    /// The bytes a run may use: [`available_memory`] on the CPU backends and on a GPU that
    /// computes on the host (lavapipe, whatever heap it states); the budget of a GPU's
    /// device-local memory otherwise (`None` where its graphics API states none).
    pub(crate) available: Option<u64>,
    /// The largest buffer one tensor may occupy (GPUs only).
    pub(crate) largest_buffer: Option<u64>,
}

impl DeviceMemory {
    /// What `device` has now.
    pub(crate) fn of(device: &Device) -> DeviceMemory {
        match backend::gpu_memory(device) {
            Some(gpu) => DeviceMemory {
                available: match gpu.on_host {
                    true => available_memory().or(gpu.usable),
                    false => gpu.usable,
                },
                largest_buffer: Some(gpu.largest_buffer),
            },
            None => DeviceMemory {
                available: available_memory(),
                largest_buffer: None,
            },
        }
    }

    /// Whether the device is a GPU.
    pub(crate) fn is_gpu(&self) -> bool {
        self.largest_buffer.is_some()
    }

    /// Refuses a run on a GPU whose largest tensor, `tensor` of `bytes_per_pixel` over a
    /// picture of `size`, no buffer holds ([`Error::GpuBufferTooSmall`]), with the largest
    /// size whose tensor fits (`size_at(side)`: the picture at that longest side) and `more`
    /// to say; `Ok` off the GPU and where one buffer holds it.
    pub(crate) fn check_buffer(
        &self,
        (what, tensor, more): (String, &'static str, &str),
        bytes_per_pixel: u64,
        size: (u32, u32),
        size_at: impl Fn(u32) -> (u32, u32),
    ) -> Result<()> {
        let holds = |(w, h): (u32, u32)| {
            self.largest_buffer
                .is_none_or(|most| bytes_per_pixel * w as u64 * h as u64 <= most)
        };
        let Some(most) = self.largest_buffer.filter(|_| !holds(size)) else {
            return Ok(());
        };
        let side = largest(16, MAX_SIDE, |side| holds(size_at(side)));
        let hint = match side {
            Some(side) => {
                format!("ask for a smaller --size: at most {side} pixels on the longest side")
            }
            None => "ask for a smaller --size".into(),
        };
        Err(Error::GpuBufferTooSmall {
            what,
            tensor,
            needed: gib(bytes_per_pixel * size.0 as u64 * size.1 as u64),
            largest: gib(most),
            hint: format!("{hint}{more}; a CPU backend (--backend flex) has no such limit"),
        })
    }
}

/// [`Error::DoesNotFit`] for `what` at `peak` bytes, with what to do.
pub(crate) fn refuse(what: String, peak: u64, available: u64, hint: String) -> Error {
    Error::DoesNotFit {
        what,
        needed: gib(peak),
        available: gib(available),
        hint,
    }
}

/// Refuses a side beyond [`MAX_SIDE`] before any other estimate.
pub(crate) fn check_side(width: u32, height: u32) -> Result<()> {
    if width.max(height) > MAX_SIDE {
        return Err(Error::InvalidConfig {
            name: "size",
            reason: format!(
                "{width}x{height} is past the largest side any run can make ({MAX_SIDE} \
                 pixels); ask for a smaller --size"
            ),
        });
    }
    Ok(())
}

/// What to ask for instead of a run that does not fit: the largest longest side from `min`
/// up at which `fits` holds, or freeing memory when none does.
pub(crate) fn smaller_size_hint(min: u32, fits: impl Fn(u32) -> bool) -> String {
    match largest(min, MAX_SIDE, fits) {
        Some(side) => format!(
            "ask for a smaller --size: the largest that fits here is about {side} pixels on the \
             longest side"
        ),
        None => "free some memory: not even the smallest picture fits".to_string(),
    }
}

/// The largest `s` in `lo..=hi` for which `ok(s)` holds (`ok` monotone, true at `lo`), or
/// `None` if it is false at `lo`.
pub(crate) fn largest(lo: u32, hi: u32, ok: impl Fn(u32) -> bool) -> Option<u32> {
    if !ok(lo) {
        return None;
    }
    let (mut lo, mut hi) = (lo, hi);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        match ok(mid) {
            true => lo = mid,
            false => hi = mid - 1,
        }
    }
    Some(lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_has_some_memory_and_the_search_finds_the_edge() {
        let available = available_memory().expect("Linux exposes MemAvailable");
        assert!(available > 16 * MIB, "{available}");
        assert_eq!(largest(1, 1000, |s| s * s <= 5000), Some(70));
        assert_eq!(largest(10, 1000, |s| s < 10), None);
        assert!(fits(85, Some(100)) && !fits(86, Some(100)) && fits(u64::MAX, None));
        assert_eq!(gib(3 * MIB / 2), "2 MiB");
        assert_eq!(gib(3 << 29), "1.50 GiB");
    }
}
