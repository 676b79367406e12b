//! The compute backends compiled into this build, and the [`Device`] each gives.
//!
//! A backend is a cargo feature (compiled in or not) plus a [`Device`] (what runs): the model,
//! the losses and the optimizer have one code path for all of them.

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;

use crate::error::Error;

/// A compute backend this crate can run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Burn's `flex` CPU backend (feature `flex`, the default): fast, pure Rust.
    Flex,
    /// Burn's `ndarray` CPU backend (feature `ndarray`): simple, much slower on convolutions.
    Ndarray,
    /// Burn's `wgpu` GPU backend (feature `wgpu`): Vulkan, Metal or DirectX 12 through wgpu
    /// (OpenGL through EGL where none of those has an adapter), including Mesa's software
    /// Vulkan (lavapipe) where no GPU is present. The GPU backend, for every vendor.
    Wgpu,
}

impl Backend {
    /// Every backend, compiled in or not.
    pub const ALL: [Backend; 3] = [Backend::Flex, Backend::Ndarray, Backend::Wgpu];

    /// The backends compiled into this build, in order of preference.
    pub fn available() -> Vec<Backend> {
        Backend::ALL
            .into_iter()
            .filter(|b| b.is_available())
            .collect()
    }

    /// The preferred backend of this build: `flex` if compiled in, then `ndarray`, then `wgpu`
    /// (a CPU backend needs no driver, so it is the safe default).
    pub fn preferred() -> Option<Backend> {
        Backend::available().first().copied()
    }

    /// Whether this backend's cargo feature is enabled.
    pub fn is_available(self) -> bool {
        match self {
            Backend::Flex => cfg!(feature = "flex"),
            Backend::Ndarray => cfg!(feature = "ndarray"),
            Backend::Wgpu => cfg!(feature = "wgpu"),
        }
    }

    /// The name used on the command line and in test names: `flex`, `ndarray` or `wgpu`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::Ndarray => "ndarray",
            Backend::Wgpu => "wgpu",
        }
    }

    /// The default device of this backend (without autodiff); [`Error::BackendUnavailable`]
    /// when its feature is not compiled in, [`Error::GpuUnavailable`] when a GPU backend finds
    /// no usable device or driver. GPU devices are probed here, once per process, so that a
    /// missing driver is an error now rather than a panic at the first tensor operation.
    pub fn device(self) -> Result<Device, Error> {
        match self {
            #[cfg(feature = "flex")]
            Backend::Flex => Ok(Device::flex()),
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)]
            // burn-ndarray is deprecated upstream; users asked for it.
            Backend::Ndarray => Ok(Device::ndarray()),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => probe::wgpu(),
            #[allow(unreachable_patterns)]
            _ => Err(Error::BackendUnavailable {
                requested: self.name().into(),
                available: available_list(),
            }),
        }
    }
}

/// Whether `device` computes on the host CPU (flex or ndarray), where the host path
/// can take over the network's forward and backward passes.
pub(crate) fn is_host_device(device: &Device) -> bool {
    #[cfg(feature = "flex")]
    if *device == Device::flex() {
        return true;
    }
    #[cfg(feature = "ndarray")]
    #[allow(deprecated)]
    if *device == Device::ndarray() {
        return true;
    }
    let _ = device;
    false
}

/// Whether `device` has float16 tensors (everything but ndarray, which panics on a cast to
/// float16): what [`crate::Convolution::Half`] needs.
pub(crate) fn has_float16(device: &Device) -> bool {
    #[cfg(feature = "ndarray")]
    #[allow(deprecated)]
    if *device == Device::ndarray() {
        return false;
    }
    let _ = device;
    true
}

/// What a GPU adapter says about its memory, read once when its device is acquired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GpuMemory {
    /// The bytes this process may use on the device: the budget of its largest device-local
    /// heap (`VK_EXT_memory_budget`: the heap less what other processes hold), else that
    /// heap's size; `None` where the graphics API states none (wgpu on OpenGL, Metal, DirectX).
    pub(crate) usable: Option<u64>,
    /// The largest buffer one tensor may occupy: the device's storage-binding and buffer limits
    /// (what CubeCL's memory pages are capped at).
    pub(crate) largest_buffer: u64,
    /// Whether the adapter computes on the host CPU (Mesa's lavapipe): its device memory is
    /// the machine's memory.
    pub(crate) on_host: bool,
}

/// What the GPU behind `device` says about its memory; `None` for the CPU devices.
pub(crate) fn gpu_memory(device: &Device) -> Option<GpuMemory> {
    #[cfg(feature = "wgpu")]
    if let Some(memory) = probe::memory(device) {
        return Some(memory);
    }
    let _ = device;
    None
}

/// The device probe of the GPU backend, run once per process: Burn acquires a GPU lazily and
/// panics inside its runtime when none is there.
#[cfg(feature = "wgpu")]
mod probe {
    use std::sync::OnceLock;

    use burn::tensor::Device;
    use burn::tensor::wgpu::{WgpuSetup, wgpu};

    use super::GpuMemory;
    use crate::error::Error;

    /// A probe's outcome, kept for the process (a runtime initializes only once).
    type Probed = Result<(Device, GpuMemory), String>;

    /// The probe's outcome, kept for the process.
    static DEVICE: OnceLock<Probed> = OnceLock::new();

    fn probed() -> &'static Probed {
        DEVICE.get_or_init(|| {
            let (device, setup) = Device::wgpu_options()
                .init_with_setup()
                .map_err(|e| e.to_string())?;
            let memory = read_memory(&setup);
            Ok((device, memory))
        })
    }

    /// Acquires wgpu's default adapter (a high-performance GPU first) through Burn's fallible
    /// initialization.
    pub(super) fn wgpu() -> Result<Device, Error> {
        probed()
            .clone()
            .map(|(device, _)| device)
            .map_err(|reason| Error::GpuUnavailable {
                backend: "wgpu",
                reason,
                hint: "install a Vulkan driver for your GPU (on Linux: the vendor's driver, or Mesa's \
                     `mesa-vulkan-drivers`, which also runs on the CPU as lavapipe; VK_DRIVER_FILES \
                     selects a driver file; wgpu falls back to OpenGL through EGL when no Vulkan \
                     adapter answers), or use --backend flex",
            })
    }

    /// The memory of the probed adapter when `device` is its device. Never probes: a
    /// device from anywhere else (a CPU backend's) must not start a GPU runtime.
    pub(super) fn memory(device: &Device) -> Option<GpuMemory> {
        match DEVICE.get() {
            Some(Ok((probed, memory))) if probed == device => Some(memory.clone()),
            _ => None,
        }
    }

    fn read_memory(setup: &WgpuSetup) -> GpuMemory {
        let limits = setup.device.limits();
        GpuMemory {
            usable: vulkan_memory(&setup.adapter),
            largest_buffer: limits
                .max_storage_buffer_binding_size
                .min(limits.max_buffer_size),
            on_host: setup.adapter.get_info().device_type == wgpu::DeviceType::Cpu,
        }
    }

    /// The budget (or, without `VK_EXT_memory_budget`, the size) of the adapter's largest
    /// device-local heap, read through Vulkan; `None` on any other graphics API.
    fn vulkan_memory(adapter: &wgpu::Adapter) -> Option<u64> {
        use ash::vk;
        // SAFETY: the raw handles are only read, while the adapter is alive.
        let hal = unsafe { adapter.as_hal::<wgpu::hal::api::Vulkan>() }?;
        let shared = hal.shared_instance();
        let instance = shared.raw_instance();
        let physical = hal.raw_physical_device();
        // SAFETY: `physical` belongs to `instance`; the calls only fill structures we own.
        let (properties, budget) = unsafe {
            let properties = instance.get_physical_device_memory_properties(physical);
            let has_budget = instance
                .enumerate_device_extension_properties(physical)
                .unwrap_or_default()
                .iter()
                .any(|e| e.extension_name_as_c_str() == Ok(vk::EXT_MEMORY_BUDGET_NAME));
            let api = instance
                .get_physical_device_properties(physical)
                .api_version
                .min(shared.instance_api_version());
            let budget = (has_budget && api >= vk::API_VERSION_1_1).then(|| {
                let mut budget = vk::PhysicalDeviceMemoryBudgetPropertiesEXT::default();
                let mut both =
                    vk::PhysicalDeviceMemoryProperties2::default().push_next(&mut budget);
                instance.get_physical_device_memory_properties2(physical, &mut both);
                budget.heap_budget
            });
            (properties, budget)
        };
        properties
            .memory_heaps_as_slice()
            .iter()
            .enumerate()
            .filter(|(_, heap)| heap.flags.contains(vk::MemoryHeapFlags::DEVICE_LOCAL))
            .map(|(i, heap)| match budget {
                Some(budget) if budget[i] > 0 => budget[i].min(heap.size),
                _ => heap.size,
            })
            .max()
    }
}

fn available_list() -> String {
    let names: Vec<&str> = Backend::available().iter().map(|b| b.name()).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = Error;

    /// Parses `flex`, `ndarray` or `wgpu` (case-insensitive), whether compiled in or not.
    fn from_str(s: &str) -> Result<Self, Error> {
        Backend::ALL
            .into_iter()
            .find(|b| b.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| Error::BackendUnavailable {
                requested: s.into(),
                available: available_list(),
            })
    }
}
