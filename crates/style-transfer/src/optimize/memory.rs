//! The optimization's memory plan: the peak memory of a run from its size, settings and
//! device (a model fitted to measured peaks, per path: docs/performance.md, "Memory plan"),
//! against what the device has, and whether the finest scale runs whole or in tiles.

use burn::tensor::Device;

use crate::backend;
use crate::error::{Error, Result};
use crate::image_io::Size;
use crate::optimize::settings::{MIN_TILE_SIDE, Settings, Solver};
use crate::optimize::tiles::{ALIGN, TileGrid};
use crate::plan::{self, DeviceMemory, MemoryPlan, Tiling};
use crate::vgg::convolution::Convolution;
use crate::vgg::model::MIN_INPUT_SIDE;

/// A path's memory model: a base plus bytes per pixel of the finest scale, fitted to
/// measured peaks.
#[derive(Clone, Copy, Debug)]
struct Model {
    /// The peak besides the pictures: VGG19's weights, read and on the device, and the
    /// allocator's base.
    base: u64,
    /// Bytes per pixel with Adam (VGG19's activations at every layer, their gradients, the
    /// losses' maps, Adam's two moments).
    adam: u64,
    /// Bytes per pixel with L-BFGS, besides its correction pairs.
    lbfgs: u64,
    /// Bytes per pixel held whole when the objective runs in tiles (the picture and its
    /// gradient, the solver's vectors besides L-BFGS's pairs, the best image so far, the
    /// content targets at `conv4_2`).
    tiled_state: u64,
    /// Bytes per pixel of one tile with its halo (the network's working set for it).
    tile: u64,
}

/// The CPU backends' host path (flex, ndarray): fitted to the peaks measured on flex at 256
/// to 768 pixels.
const HOST: Model = Model {
    base: 306 << 20,
    adam: 1330,
    lbfgs: 1390,
    tiled_state: 200,
    tile: 1250,
};

/// Burn's path on a GPU (wgpu), in device memory: CubeCL's memory pools keep pages of every
/// size a run has used, so a pixel costs several times the host path's. Fitted to the GPU
/// memory measured on an H100 (512 and 1024 px) and lavapipe's resident memory (64 to 256
/// px), docs/performance.md.
const GPU: Model = Model {
    base: 1500 << 20,
    adam: 6400,
    lbfgs: 6400,
    tiled_state: 300,
    tile: 6400,
};

/// Bytes per pixel of one L-BFGS correction pair (two RGB float vectors).
pub(crate) const PAIR_BYTES_PER_PIXEL: u64 = 24;

/// Bytes per evaluated pixel of the largest single tensor of Burn's path with Burn's
/// convolution: a 64-channel float activation of VGG19's first block (or its gradient).
const LARGEST_TENSOR_BYTES_PER_PIXEL: u64 = 64 * 4;

/// Bytes per pixel of the largest whole-picture tensor of a run in tiles: the picture, its
/// gradient or one of L-BFGS's vectors (3 channels of floats). Everything larger (the
/// network's activations, the targets' too) is one tile's.
const IMAGE_BYTES_PER_PIXEL: u64 = 3 * 4;

/// Where a plan runs: the memory model of its path and what the device has.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Machine {
    model: Model,
    /// Whether the plan may choose tiles itself (the paths whose tiles the model covers: the
    /// CPU host path and the GPU).
    auto_tiles: bool,
    /// What the device has for the run: its memory, and a GPU's largest buffer.
    memory: DeviceMemory,
    /// Bytes per evaluated pixel of the run's largest single tensor.
    largest_tensor: u64,
    /// Bytes per pixel the chosen convolution adds to the model's (its own temporaries).
    extra: u64,
}

impl Machine {
    /// A CPU backend with `available` bytes: the host path when `settings` has it on (else
    /// Burn's path, which the plan models as the host path's and does not tile by itself).
    pub(crate) fn cpu(settings: &Settings, available: Option<u64>) -> Machine {
        Machine {
            model: HOST,
            auto_tiles: settings.winograd,
            memory: DeviceMemory {
                available,
                largest_buffer: None,
            },
            largest_tensor: LARGEST_TENSOR_BYTES_PER_PIXEL,
            extra: 0,
        }
    }

    /// The machine `device` is: a CPU backend's, or a GPU's, whose device memory and largest
    /// buffer its adapter states (a GPU computing on the host, lavapipe, has the machine's
    /// memory).
    pub(crate) fn of(settings: &Settings, device: &Device) -> Machine {
        let memory = DeviceMemory::of(device);
        let cpu = Machine {
            memory,
            ..Machine::cpu(settings, memory.available)
        };
        if !memory.is_gpu() {
            let auto_tiles = cpu.auto_tiles && backend::is_host_device(device);
            return Machine { auto_tiles, ..cpu };
        }
        let largest = largest_tensor(settings.convolution);
        Machine {
            model: GPU,
            auto_tiles: true,
            largest_tensor: largest,
            extra: largest - LARGEST_TENSOR_BYTES_PER_PIXEL,
            ..cpu
        }
    }

    /// Whether the device is a GPU (the plan then speaks of device memory).
    fn is_gpu(&self) -> bool {
        self.memory.is_gpu()
    }
}

/// Bytes per evaluated pixel of the largest tensor each convolution makes: Burn's, a 64-channel
/// activation; im2col, the nine shifted windows of conv1_2's 64-channel input; Winograd, the
/// transformed input's 16 (36) points per 2x2 (4x4) block of 64 channels.
fn largest_tensor(convolution: Convolution) -> u64 {
    match convolution {
        Convolution::Burn | Convolution::Half => LARGEST_TENSOR_BYTES_PER_PIXEL,
        Convolution::Im2col => 9 * LARGEST_TENSOR_BYTES_PER_PIXEL,
        Convolution::Winograd2 => 16 * LARGEST_TENSOR_BYTES_PER_PIXEL / 4,
        Convolution::Winograd4 => 36 * LARGEST_TENSOR_BYTES_PER_PIXEL / 16,
    }
}

impl Settings {
    /// L-BFGS's correction pairs kept with `solver`.
    fn pairs(&self, solver: Solver) -> u64 {
        match solver {
            Solver::Adam { .. } => 0,
            Solver::Lbfgs { history } => history.min(self.iterations) as u64,
        }
    }

    /// The estimated peak on `machine` of a run whose finest scale is `w x h` (on a
    /// `width x height` content image) with `solver`, whole or in tiles of `tile` pixels.
    fn peak(
        &self,
        machine: &Machine,
        (w, h): (u32, u32),
        input: (u32, u32),
        solver: Solver,
        tile: Option<u32>,
    ) -> u64 {
        let model = machine.model;
        let pixels = w as u64 * h as u64;
        let pairs = PAIR_BYTES_PER_PIXEL * self.pairs(solver) * pixels;
        let input = 3 * input.0 as u64 * input.1 as u64;
        let Some(side) = tile else {
            let per_pixel = match solver {
                Solver::Adam { .. } => model.adam,
                Solver::Lbfgs { .. } => model.lbfgs,
            };
            return model.base + (per_pixel + machine.extra) * pixels + pairs + input;
        };
        model.base
            + model.tiled_state * pixels
            + pairs
            + input
            + (model.tile + machine.extra) * self.tile_pixels((w, h), side)
    }

    /// The pixels of one tile of `side` with its halo at a scale of `w x h`.
    fn tile_pixels(&self, (w, h): (u32, u32), side: u32) -> u64 {
        let with_halo = side + 2 * self.halo();
        with_halo.min(w) as u64 * with_halo.min(h) as u64
    }

    /// The halo in pixels, a multiple of 16.
    pub(crate) fn halo(&self) -> u32 {
        self.tile_halo.div_ceil(ALIGN as u32) * ALIGN as u32
    }

    /// Whether a scale of `size` fits on `machine` with `solver`, whole or in tiles of `tile`.
    fn fits_on(
        &self,
        machine: &Machine,
        size: (u32, u32),
        input: (u32, u32),
        solver: Solver,
        tile: Option<u32>,
    ) -> bool {
        plan::fits(
            self.peak(machine, size, input, solver, tile),
            machine.memory.available,
        ) && self.buffer_holds(machine, size, tile)
    }

    /// Whether a GPU's largest buffer holds the run's largest tensor at a scale of `w x h`,
    /// whole or in tiles of `tile` (always off the GPU).
    fn buffer_holds(&self, machine: &Machine, (w, h): (u32, u32), tile: Option<u32>) -> bool {
        let Some(most) = machine.memory.largest_buffer else {
            return true;
        };
        let pixels = w as u64 * h as u64;
        match tile {
            None => machine.largest_tensor * pixels <= most,
            Some(side) => {
                machine.largest_tensor * self.tile_pixels((w, h), side) <= most
                    && IMAGE_BYTES_PER_PIXEL * pixels <= most
            }
        }
    }

    /// The largest tile side (a multiple of 16 from [`MIN_TILE_SIDE`], below the picture's
    /// longest side) at which a scale of `w x h` fits on `machine`.
    fn largest_tile(
        &self,
        machine: &Machine,
        size: (u32, u32),
        input: (u32, u32),
        solver: Solver,
    ) -> Option<u32> {
        let steps = size.0.max(size.1).saturating_sub(1) / ALIGN as u32;
        let min = MIN_TILE_SIDE / ALIGN as u32;
        let fits =
            |step: u32| self.fits_on(machine, size, input, solver, Some(step * ALIGN as u32));
        (steps >= min)
            .then(|| plan::largest(min, steps, fits))
            .flatten()
            .map(|step| step * ALIGN as u32)
    }

    /// How a scale of `w x h` is evaluated on `machine`: whole (`None`) or in tiles (asked
    /// for, or, with [`Tiling::Auto`], where the whole does not fit and the plan may tile).
    pub(crate) fn tile_grid(&self, machine: &Machine, (w, h): (u32, u32)) -> Option<TileGrid> {
        let grid = |side: u32| TileGrid {
            tile: side as usize,
            halo: self.halo() as usize,
            shift: self.tile_shift,
        };
        match self.tiling {
            Tiling::Off | Tiling::Rows(_) => None,
            Tiling::Tiles(side) => {
                let side = side / ALIGN as u32 * ALIGN as u32;
                (side < w.max(h)).then(|| grid(side))
            }
            Tiling::Auto => {
                let size = (w, h);
                if !machine.auto_tiles || self.fits_on(machine, size, size, self.solver, None) {
                    return None;
                }
                self.largest_tile(machine, size, size, self.solver)
                    .map(grid)
            }
        }
    }

    /// The memory plan of a run on a `width` x `height` content image on a CPU backend:
    /// [`Settings::plan_on`] for flex or ndarray.
    pub fn plan(&self, width: u32, height: u32) -> Result<MemoryPlan> {
        self.plan_for(&Machine::cpu(self, plan::available_memory()), width, height)
    }

    /// The memory plan of a run on a `width` x `height` content image on `device`: the
    /// scales, the estimated peak memory at the finest one (a model fitted to measured peaks
    /// per path, docs/performance.md: a base, bytes per pixel, and 24 bytes a pixel per
    /// L-BFGS correction pair kept, `min(history, iterations)` of them) against what the
    /// device has (on the CPU backends the memory this process may use; on a GPU the budget
    /// of its device-local memory as Vulkan states it, and its largest buffer, which must hold
    /// the largest tensor), and how the finest scale is evaluated: whole, or, when that does
    /// not fit (or with [`Tiling::Tiles`]), in tiles of the largest side that fits (a
    /// whole-picture state plus one tile's working set); with L-BFGS whose pairs alone do not
    /// fit, a shorter history ([`MemoryPlan::lbfgs_history`], applied by
    /// [`Settings::planned`]). The plan tiles by itself on the CPU backends' host path
    /// (the default) and on wgpu. [`Error::DoesNotFit`](crate::Error::DoesNotFit) when
    /// nothing fits (or [`Tiling::Off`] and the whole does not), saying the largest size that
    /// does and what a lighter solver would save;
    /// [`Error::InvalidConfig`](crate::Error::InvalidConfig) for a side past
    /// [`crate::plan::MAX_SIDE`] or tile settings no run can use.
    pub fn plan_on(&self, device: &Device, width: u32, height: u32) -> Result<MemoryPlan> {
        self.plan_for(&Machine::of(self, device), width, height)
    }

    fn plan_for(&self, machine: &Machine, width: u32, height: u32) -> Result<MemoryPlan> {
        let (w, h) = self.output_size(width, height);
        plan::check_side(w, h)?;
        self.validate_tiling()?;
        let levels = self.level_sizes(width, height);
        let input = (width, height);
        let size = (w, h);
        let available = machine.memory.available;
        let mut notes = vec![format!(
            "{} scale(s): {}",
            levels.len(),
            levels
                .iter()
                .map(|(w, h)| format!("{w}x{h}"))
                .collect::<Vec<_>>()
                .join(", ")
        )];
        if machine.is_gpu() {
            notes.push(format!(
                "on the GPU: {} of device memory, buffers of at most {}",
                available.map_or("an unstated amount".into(), plan::gib),
                plan::gib(machine.memory.largest_buffer.unwrap_or(u64::MAX)),
            ));
        }
        let whole = self.peak(machine, size, input, self.solver, None);
        let mut plan = MemoryPlan::whole(size, whole, available);
        let mut solver = self.solver;
        let whole_fits = self.fits_on(machine, size, input, solver, None);
        let tile = match self.tiling {
            Tiling::Tiles(side) => self
                .tile_grid(machine, size)
                .map(|_| side / ALIGN as u32 * ALIGN as u32),
            Tiling::Auto if machine.auto_tiles && !whole_fits => {
                let mut tile = self.largest_tile(machine, size, input, solver);
                // L-BFGS's pairs are whole-picture vectors: keep fewer when they alone
                // keep the run from fitting.
                if let (None, Solver::Lbfgs { history }) = (tile, solver) {
                    let shorter = |kept: usize| Solver::Lbfgs { history: kept };
                    let fits = |kept: u32| {
                        self.largest_tile(machine, size, input, shorter(kept as usize))
                            .is_some()
                    };
                    let most = history.min(self.iterations).max(1) as u32;
                    if let Some(kept) = plan::largest(1, most, fits) {
                        solver = shorter(kept as usize);
                        plan.lbfgs_history = Some(kept as usize);
                        tile = self.largest_tile(machine, size, input, solver);
                        notes.push(format!(
                            "L-BFGS keeps {kept} correction pairs instead of {most}: more \
                             would not fit (--optimizer adam keeps none)"
                        ));
                    }
                }
                tile
            }
            _ => None,
        };
        // On a GPU the largest tensor must fit one buffer: whole, VGG19's first activations
        // of the picture; in tiles, those of one tile (the targets are computed in tiles
        // too) and the picture itself.
        let size_at = |side| Size::Longest(side).dimensions(width, height);
        // In tiles, or where tiles were allowed but none fits, the picture itself may be
        // what no buffer holds.
        if tile.is_some() || (self.tiling != Tiling::Off && machine.auto_tiles) {
            machine.memory.check_buffer(
                (format!("optimizing {w}x{h} in tiles"), "the picture", ""),
                IMAGE_BYTES_PER_PIXEL,
                size,
                size_at,
            )?;
        }
        match tile {
            None => machine.memory.check_buffer(
                (
                    format!("optimizing {w}x{h}"),
                    "VGG19's first activations",
                    match self.tiling {
                        Tiling::Off => ", or let it run in tiles (--tile auto)",
                        _ => "",
                    },
                ),
                machine.largest_tensor,
                size,
                size_at,
            )?,
            Some(side) => {
                let tile_pixels = self.tile_pixels(size, side);
                let one_tile = |most: u64| machine.largest_tensor * tile_pixels > most;
                if let Some(most) = machine.memory.largest_buffer.filter(|m| one_tile(*m)) {
                    return Err(Error::GpuBufferTooSmall {
                        what: format!("optimizing {w}x{h} in tiles of {side} px"),
                        tensor: "VGG19's first activations of one tile",
                        needed: plan::gib(machine.largest_tensor * tile_pixels),
                        largest: plan::gib(most),
                        hint: format!(
                            "ask for smaller tiles (--tile PIXELS) or a smaller --tile-halo \
                             (now {} px), or let the plan choose (--tile auto)",
                            self.halo()
                        ),
                    });
                }
            }
        }
        if let Some(side) = tile {
            plan.tile_side = Some(side);
            plan.peak_bytes = self.peak(machine, size, input, solver, Some(side));
            let grid = TileGrid {
                tile: side as usize,
                halo: self.halo() as usize,
                shift: self.tile_shift,
            };
            notes.push(format!(
                "the objective in tiles of {side}x{side} with a {} px halo, up to {} tiles, two \
                 passes per evaluation{}",
                self.halo(),
                grid.count(h as usize, w as usize),
                match self.tiling {
                    Tiling::Auto => format!(
                        " (the whole picture at once would take about {})",
                        plan::gib(whole)
                    ),
                    _ => String::new(),
                }
            ));
        }
        let pairs = self.pairs(solver);
        if pairs > 0 {
            notes.push(format!(
                "L-BFGS keeps {pairs} correction pairs: {} of the peak",
                plan::gib(PAIR_BYTES_PER_PIXEL * pairs * w as u64 * h as u64)
            ));
        }
        plan.notes = notes;
        if self.fits_on(machine, size, input, solver, tile) {
            return Ok(plan);
        }
        // Nothing fits: the largest size that would, and lighter ways to keep this one.
        let tiles = machine.auto_tiles && self.tiling != Tiling::Off;
        // In tiles, the plan would shorten L-BFGS's history down to one pair.
        let shortest = match solver {
            Solver::Lbfgs { .. } if tiles => Solver::Lbfgs { history: 1 },
            other => other,
        };
        // Whether `size` fits with `solver`, whole or (where the plan may tile) in the
        // smallest tiles.
        let lightest = |size: (u32, u32), solver: Solver| {
            self.fits_on(machine, size, input, solver, None)
                || (tiles && self.fits_on(machine, size, input, solver, Some(MIN_TILE_SIDE)))
        };
        let needed = match (plan.tile_side, tiles) {
            (None, true) => self.peak(machine, size, input, shortest, Some(MIN_TILE_SIDE)),
            _ => plan.peak_bytes,
        };
        let mut hint = plan::smaller_size_hint(MIN_INPUT_SIDE as u32, |side| {
            lightest(Size::Longest(side).dimensions(width, height), shortest)
        });
        if tiles {
            hint.push_str(" (in tiles)");
        }
        if let Solver::Lbfgs { .. } = self.solver {
            let adam = Solver::Adam { lr: 1.0 };
            if lightest(size, adam) {
                let side = tiles.then_some(MIN_TILE_SIDE);
                hint.push_str(&format!(
                    "; or keep the size with --optimizer adam (about {} at its peak) or a \
                     shorter --history",
                    plan::gib(self.peak(machine, size, input, adam, side))
                ));
            }
        }
        let tiled = (self.tiling == Tiling::Off && machine.auto_tiles)
            .then(|| self.largest_tile(machine, size, input, solver))
            .flatten();
        if let Some(side) = tiled {
            hint.push_str(&format!(
                "; or let it run in tiles (--tile auto: tiles of {side} px, about {})",
                plan::gib(self.peak(machine, size, input, solver, Some(side)))
            ));
        }
        if !machine.auto_tiles {
            hint.push_str(
                " (the plan tiles by itself on wgpu and on the CPU backends' Winograd host path)",
            );
        }
        let what = match (plan.tile_side, tiles) {
            (Some(side), _) => format!(" even in tiles of {side} px"),
            (None, true) => format!(" even in tiles of {MIN_TILE_SIDE} px"),
            (None, false) => String::new(),
        };
        let device = if machine.is_gpu() { " on the GPU" } else { "" };
        Err(Error::DoesNotFit {
            what: format!("optimizing {w}x{h}{what}{device}"),
            needed: plan::gib(needed),
            available: plan::gib(available.unwrap_or(0)),
            hint,
        })
    }

    /// Refuses tile settings no run can use: bands of rows, tiles below
    /// [`MIN_TILE_SIDE`] or below their halo.
    pub(crate) fn validate_tiling(&self) -> Result<()> {
        let refuse = |reason: String| {
            Err(Error::InvalidConfig {
                name: "tile",
                reason,
            })
        };
        match self.tiling {
            Tiling::Rows(rows) => refuse(format!(
                "bands of {rows} rows are the feed-forward networks'; the optimization goes in \
                 square tiles (Tiling::Tiles, --tile PIXELS) or auto"
            )),
            Tiling::Tiles(side) if side < MIN_TILE_SIDE => refuse(format!(
                "tiles of {side} pixels are below the smallest the optimization accepts \
                 ({MIN_TILE_SIDE}: VGG19 pools a tile down to 1/16 of its side); ask for more"
            )),
            Tiling::Tiles(side) if side < self.halo() => refuse(format!(
                "tiles of {side} pixels are smaller than their {} pixel halo, so each tile \
                 would compute mostly context; ask for tiles of at least {} pixels or a \
                 smaller halo",
                self.halo(),
                self.halo()
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    const MIB: u64 = 1 << 20;

    /// A GPU with `available` bytes of device memory and buffers of at most `buffer`.
    fn gpu(available: u64, buffer: u64) -> Machine {
        Machine {
            model: GPU,
            auto_tiles: true,
            memory: DeviceMemory {
                available: Some(available),
                largest_buffer: Some(buffer),
            },
            largest_tensor: LARGEST_TENSOR_BYTES_PER_PIXEL,
            extra: 0,
        }
    }

    /// Adam at one scale, the output the content's size (planned on 1024x768 unless said).
    fn adam() -> Settings {
        Settings::default()
            .with_solver(Solver::Adam { lr: 1.0 })
            .with_scales(1)
            .with_size(Size::Longest(1024))
    }

    #[test]
    fn a_gpu_plan_runs_whole_where_memory_and_buffers_hold_it() {
        let machine = gpu(80 << 30, 4 << 30);
        let plan = adam().plan_for(&machine, 1024, 768).unwrap();
        assert_eq!(plan.tile_side, None);
        assert_eq!(plan.available_bytes, Some(80 << 30));
        let pixels = 1024 * 768;
        assert_eq!(plan.peak_bytes, GPU.base + GPU.adam * pixels + 3 * pixels);
        assert!(
            plan.notes.iter().any(|n| n.contains("on the GPU")),
            "{plan}"
        );
    }

    #[test]
    fn a_tensor_past_the_largest_buffer_tiles_or_is_refused_before_any_work() {
        // Memory for the whole, but conv1's activations of 1024x768 (192 MiB) exceed a
        // 128 MiB buffer (lavapipe's). With tiles off: refused, saying tiles would run it.
        let machine = gpu(80 << 30, 128 * MIB);
        match adam()
            .with_tiling(Tiling::Off)
            .plan_for(&machine, 1024, 768)
        {
            Err(Error::GpuBufferTooSmall {
                what,
                needed,
                largest,
                hint,
                ..
            }) => {
                assert_eq!(
                    (what.as_str(), needed.as_str()),
                    ("optimizing 1024x768", "192 MiB")
                );
                assert_eq!(largest, "128 MiB");
                assert!(hint.contains("--backend flex"), "{hint}");
                assert!(hint.contains("--tile auto"), "{hint}");
                // The largest size that fits: its activations fill at most one buffer.
                let side: u32 = hint
                    .split("at most ")
                    .nth(1)
                    .and_then(|s| s.split(' ').next())
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| panic!("{hint}"));
                let pixels = |side: u32| {
                    let (w, h) = Size::Longest(side).dimensions(1024, 768);
                    LARGEST_TENSOR_BYTES_PER_PIXEL * w as u64 * h as u64
                };
                assert!(pixels(side) <= 128 * MIB, "{hint}");
                assert!(pixels(side + 1) > 128 * MIB, "{hint}");
            }
            other => panic!("{other:?}"),
        }
        // The targets are computed in tiles too, so tiles run it: the plan's own (the largest
        // whose activations, halo included, fit one buffer) or those asked for.
        let settings = adam();
        let auto = settings.plan_for(&machine, 1024, 768).unwrap();
        let side = auto.tile_side.expect("tiles");
        let tile_bytes =
            |side: u32| LARGEST_TENSOR_BYTES_PER_PIXEL * settings.tile_pixels((1024, 768), side);
        assert!(tile_bytes(side) <= 128 * MIB, "{auto}");
        assert!(tile_bytes(side + ALIGN as u32) > 128 * MIB, "{auto}");
        let asked = adam().with_tiling(Tiling::Tiles(256));
        assert_eq!(
            asked.plan_for(&machine, 1024, 768).unwrap().tile_side,
            Some(256)
        );
        // Tiles asked for whose activations no buffer holds: refused, naming the tile.
        let wide = adam().with_tiling(Tiling::Tiles(768)).with_tile_halo(128);
        match wide.plan_for(&machine, 1024, 768) {
            Err(Error::GpuBufferTooSmall { tensor, hint, .. }) => {
                assert_eq!(tensor, "VGG19's first activations of one tile");
                assert!(hint.contains("--tile-halo"), "{hint}");
            }
            other => panic!("{other:?}"),
        }
        // A picture whose own 3 channels no buffer holds: refused even in tiles.
        let huge = adam().with_size(Size::Longest(4096));
        match huge.plan_for(&gpu(80 << 30, 32 * MIB), 4096, 3072) {
            Err(Error::GpuBufferTooSmall { tensor, .. }) => assert_eq!(tensor, "the picture"),
            other => panic!("{other:?}"),
        }
        // 640x480 fits one buffer: whole.
        let small = adam().with_size(Size::Longest(640));
        assert_eq!(small.plan_for(&machine, 640, 480).unwrap().tile_side, None);
    }

    #[test]
    fn a_gpu_plan_tiles_past_device_memory_and_refuses_past_its_tiles() {
        let machine = gpu(4 << 30, 4 << 30);
        let settings = adam().with_size(Size::Longest(2048));
        let whole = settings
            .plan_for(&gpu(1 << 40, 4 << 30), 2048, 1536)
            .unwrap();
        assert!(!plan::fits(whole.peak_bytes, Some(4 << 30)));
        let plan = settings.plan_for(&machine, 2048, 1536).unwrap();
        assert!(plan.tile_side.is_some(), "{plan}");
        assert!(plan.fits(), "{plan}");
        // Past what even the smallest tiles fit: refused before any work.
        // (On a GPU whose buffers would hold its activations: a 4 GiB buffer does not.)
        let huge = adam().with_size(Size::Longest(20000));
        match huge.plan_for(&gpu(4 << 30, 1 << 40), 20000, 15000) {
            Err(Error::DoesNotFit { hint, .. }) => assert!(hint.contains("in tiles"), "{hint}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn burns_path_on_a_cpu_backend_never_tiles_by_itself() {
        let mut machine = Machine::cpu(&adam(), Some(1 << 30));
        machine.auto_tiles = false;
        let settings = adam().with_size(Size::Longest(4096));
        assert_eq!(settings.tile_grid(&machine, (4096, 3072)), None);
        match settings.plan_for(&machine, 4096, 3072) {
            Err(Error::DoesNotFit { hint, .. }) => {
                assert!(hint.contains("tiles by itself on wgpu"), "{hint}")
            }
            other => panic!("{other:?}"),
        }
    }
}
