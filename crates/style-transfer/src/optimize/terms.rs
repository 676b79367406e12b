//! The loss formulas' one definition, shared by Burn's path ([`crate::optimize::losses`],
//! [`crate::optimize::objective`]) and the host path ([`crate::optimize::host_path`]): each term's
//! normalization, the style targets' normalization, the weighted total, and [`LossTerms`],
//! the terms at one point.
//!
//! The two paths compute the sums of squares themselves (one with Burn tensors, one with host
//! loops and matrix multiplies); every constant in front of a sum, and how the terms add up,
//! comes from here.

use burn::tensor::Tensor;

use crate::vgg::layers::Layer;

/// The loss terms at one point, in f64.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct LossTerms {
    /// `L_content` (unweighted by alpha).
    pub content: f64,
    /// `L_style` (the sum of the weighted per-layer terms, unweighted by beta).
    pub style: f64,
    /// Weighted per-layer style terms `w_l E_l`.
    pub style_layers: Vec<(Layer, f64)>,
    /// `L_tv` (unweighted).
    pub tv: f64,
    /// `L_temporal` of a video frame (unweighted; 0 without a temporal term,
    /// [`crate::Settings::with_temporal`]).
    pub temporal: f64,
    /// `alpha * content + beta * style + tv_weight * tv + temporal_weight * temporal`.
    pub total: f64,
}

impl LossTerms {
    /// These terms with the temporal term `value` (unweighted) added to the total with
    /// `weight`.
    pub(crate) fn with_temporal(mut self, value: f64, weight: f64) -> Self {
        self.temporal = value;
        self.total += weight * value;
        self
    }
}

/// The factor of one layer's content term: `L = w/2 sum((F - P)^2)`. Its gradient with
/// respect to `F` is `2 factor (F - P)`.
pub(crate) fn content_factor(weight: f32) -> f64 {
    0.5 * weight as f64
}

/// The factor of one layer's style term for `n` channels and `m` positions:
/// `w_l E_l = w_l / (4 N^2 M^2) sum((G - M A)^2)`. Its gradient with respect to `F` is
/// `4 factor (G - M A) F`. With a region mask `r` over the output (spatial control, Gatys et
/// al. 2017), `F` is `F * r` and `M` the region's size `sum(r^2)` ([`region_size`]), so that
/// each region's term is normalized by its own size.
pub(crate) fn style_factor(weight: f32, n: usize, m: f64) -> f64 {
    let n = n as f64;
    weight as f64 / (4.0 * n * n * m * m)
}

/// Style targets are Grams per position, `A = sum_i s_i G_i / M_i` over the style images with
/// blend shares `s_i` (summing to 1), so that images of any size mix: this is the factor of
/// image `i`'s Gram, for blend weight `share` of `total` and `m` positions (or the size of
/// the part of the image its mask selects).
pub(crate) fn style_target_factor(share: f32, total: f32, m: f64) -> f64 {
    (share / total) as f64 / m
}

/// The factor that scales a per-position style target `A` to the generated image's `m`
/// positions (or its region's size) (`M A`, compared with its Gram `G`).
pub(crate) fn style_target_at(m: f64) -> f64 {
    m
}

/// The factor of the temporal term over `d` values (Ruder, Dosovitskiy and Brox 2016):
/// `L_temporal = 1/D sum_k c_k (x_k - w_k)^2`, with `x` the image and `w` the previous
/// output moved by the flow, in 0-255 RGB units, and `c` the flow's reliability (0-1). Its
/// gradient with respect to `x_k` is `2 factor c_k (x_k - w_k)`.
pub(crate) fn temporal_factor(d: usize) -> f64 {
    1.0 / d as f64
}

/// The size of a region given by mask values `r` (0-1) at one layer: `sum(r^2)`, the number
/// of positions for a mask of ones, so that a stationary texture has the same Gram per
/// position in any region.
pub(crate) fn region_size(mask: &[f32]) -> f64 {
    mask.iter().map(|&r| (r as f64) * (r as f64)).sum()
}

/// A loss value the total can be composed of: an f64 or a one-element Burn tensor (whose
/// autodiff then differentiates the same composition).
pub(crate) trait Term: Sized {
    /// `self * factor`.
    fn scaled(self, factor: f64) -> Self;
    /// `self + other`.
    fn plus(self, other: Self) -> Self;
}

impl Term for f64 {
    fn scaled(self, factor: f64) -> Self {
        self * factor
    }
    fn plus(self, other: Self) -> Self {
        self + other
    }
}

impl Term for Tensor<1> {
    fn scaled(self, factor: f64) -> Self {
        self.mul_scalar(factor)
    }
    fn plus(self, other: Self) -> Self {
        self + other
    }
}

/// The sum of terms, or `None` when there are none.
pub(crate) fn sum<T: Term>(terms: impl IntoIterator<Item = T>) -> Option<T> {
    terms.into_iter().reduce(T::plus)
}

/// The weights of the three terms in the total: content (alpha), style (beta) and total
/// variation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct LossWeights {
    /// Content weight alpha.
    pub(crate) content: f64,
    /// Style weight beta.
    pub(crate) style: f64,
    /// Total-variation weight.
    pub(crate) tv: f64,
}

impl LossWeights {
    /// `alpha L_content + beta L_style + tv L_tv`, leaving out absent terms: the total's one
    /// definition, for values and for tensors.
    pub(crate) fn total<T: Term>(
        &self,
        content: Option<T>,
        style: Option<T>,
        tv: Option<T>,
    ) -> Option<T> {
        sum([
            content.map(|c| c.scaled(self.content)),
            style.map(|s| s.scaled(self.style)),
            tv.map(|t| t.scaled(self.tv)),
        ]
        .into_iter()
        .flatten())
    }

    /// The slopes of the total with respect to the content, style and TV terms (the total is
    /// linear in them), for a backward pass written by hand.
    pub(crate) fn slopes(&self) -> (f64, f64, f64) {
        let at = |c: f64, s: f64, t: f64| self.total(Some(c), Some(s), Some(t)).unwrap_or(0.0);
        let zero = at(0.0, 0.0, 0.0);
        (
            at(1.0, 0.0, 0.0) - zero,
            at(0.0, 1.0, 0.0) - zero,
            at(0.0, 0.0, 1.0) - zero,
        )
    }

    /// The terms at one point from the per-layer content terms, the weighted per-layer style
    /// terms and total variation.
    pub(crate) fn terms(
        &self,
        content_layers: impl IntoIterator<Item = f64>,
        style_layers: Vec<(Layer, f64)>,
        tv: f64,
    ) -> LossTerms {
        let content = sum(content_layers).unwrap_or(0.0);
        let style = sum(style_layers.iter().map(|(_, v)| *v)).unwrap_or(0.0);
        LossTerms {
            content,
            style,
            style_layers,
            tv,
            temporal: 0.0,
            total: self
                .total(Some(content), Some(style), Some(tv))
                .unwrap_or(0.0),
        }
    }
}
