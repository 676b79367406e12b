//! The loss terms at one point, shared by Burn's path ([`crate::losses`]) and the Winograd
//! CPU path ([`crate::fast_path`]).

use crate::layers::Layer;

/// The loss terms at one point, in f64.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LossTerms {
    /// `L_content` (unweighted by alpha).
    pub content: f64,
    /// `L_style` (the sum of the weighted per-layer terms, unweighted by beta).
    pub style: f64,
    /// Weighted per-layer style terms `w_l E_l`.
    pub style_layers: Vec<(Layer, f64)>,
    /// `L_tv` (unweighted).
    pub tv: f64,
    /// `alpha * content + beta * style + tv_weight * tv`.
    pub total: f64,
}
