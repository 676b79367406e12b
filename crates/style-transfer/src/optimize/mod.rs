//! The Gatys et al. optimization: [`StyleTransfer`] repaints a photo by optimizing its
//! pixels against VGG19's features.
//!
//! - [`settings`]: what a run is asked to do, checked before any weights are read;
//! - [`engine`]: one run in order (sizes, colours, the starting image, the scales);
//! - [`objective`]: one scale's objective (targets once, loss terms and gradient per
//!   evaluation), evaluated by Burn's path ([`losses`], autodiff) or by the host path
//!   ([`host_path`], the Winograd kernels and a hand-written backward pass, on the CPU
//!   backends);
//! - [`terms`]: the one definition of each loss formula, shared by both paths;
//! - [`tiles`] and [`tiles_burn`]: the objective evaluated tile by tile for pictures past
//!   memory, on the host path and on Burn's;
//! - [`masks`]: spatial control's masks brought to each layer;
//! - [`solver`] and [`lbfgs`]: the stepping loops (Adam, L-BFGS) and [`progress`], what a
//!   run tells its caller.
//!
//! May use: `vgg`, `kernels`, `image_io`, `blend`, `backend`, `plan`, `error`; not the feed-forward
//! networks (a run started from one gets its picture as `Init::Image`).

pub(crate) mod engine;
pub(crate) mod host_path;
pub(crate) mod lbfgs;
pub mod losses;
pub(crate) mod masks;
pub(crate) mod memory;
pub(crate) mod objective;
pub(crate) mod progress;
pub(crate) mod settings;
pub(crate) mod solver;
pub(crate) mod spill;
pub(crate) mod terms;
pub(crate) mod tiles;
pub(crate) mod tiles_burn;

pub use engine::StyleTransfer;
pub use lbfgs::Criterion;
pub use losses::LayerWeight;
pub use objective::Objective;
pub use progress::{Control, EndReason, Observer, Progress, RunError, Stylized, TileProgress};
pub use settings::{
    DEFAULT_STYLE_LAYERS, DEFAULT_TILE_HALO, Init, MIN_TILE_SIDE, OriginalColors, Settings, Solver,
    Temporal,
};
pub use terms::LossTerms;
