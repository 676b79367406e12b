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
    /// Burn's `wgpu` GPU backend (feature `wgpu`): Vulkan, Metal or DirectX 12 through wgpu,
    /// including Mesa's software Vulkan (lavapipe) where no GPU is present.
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

    /// The preferred backend of this build: `flex` if compiled in, then `ndarray`, then `wgpu`.
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

    /// The default device of this backend (without autodiff), or
    /// [`Error::BackendUnavailable`] when its feature is not compiled in.
    pub fn device(self) -> Result<Device, Error> {
        match self {
            #[cfg(feature = "flex")]
            Backend::Flex => Ok(Device::flex()),
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)]
            // burn-ndarray is deprecated upstream; users asked for it.
            Backend::Ndarray => Ok(Device::ndarray()),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
            #[allow(unreachable_patterns)]
            _ => Err(Error::BackendUnavailable {
                requested: self.name().into(),
                available: available_list(),
            }),
        }
    }
}

/// Whether `device` computes on the host CPU (flex or ndarray), where the Winograd CPU path
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
