//! Real-time stylization with pretrained feed-forward networks ("fast" in the public names:
//! [`FastStyle`], `stylize fast`): one pass of a network per picture, no optimization.
//!
//! - [`multistyle`]: the 26-style network of Dumoulin et al. (conditional instance norm);
//! - [`arbitrary`]: the int8 arbitrary-style networks of Ghiasi et al. (a style predictor
//!   and a transformer conditioned on its style vector);
//!
//! each with its parameters read from the ONNX file (`mod.rs`), its Burn form (`burn.rs`,
//! every backend) and its CPU form (`cpu.rs`, host memory, used on flex and ndarray) side by
//! side. [`fast_style`] chooses between them per device.
//!
//! May use: `onnx`, `kernels`, `image_io`, `blend`, `backend`, `plan`, `error`. Nothing here uses VGG19 or
//! the optimization.

pub(crate) mod arbitrary;
pub(crate) mod fast_style;
pub(crate) mod multistyle;

pub use fast_style::{BUILT_IN_STYLES, FastStyle, STYLE_VECTOR_LEN, StyleChoice};

use burn::tensor::Tensor;

/// Nearest-neighbour 2x upsampling (ONNX `Resize`, nearest, asymmetric, floor: every pixel
/// becomes a 2x2 block).
pub(crate) fn upsample2(x: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h, 1, w, 1])
        .expand([n, c, h, 2, w, 2])
        .reshape([n, c, 2 * h, 2 * w])
}
