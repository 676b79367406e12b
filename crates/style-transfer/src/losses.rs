//! Loss terms of neural style transfer, usable on their own: Gram matrices, content loss,
//! style loss and total variation.

use burn::tensor::Tensor;

/// Gram matrices of a feature map: `G = F F^T` for each batch item, with `F` the
/// `[channels, height * width]` reshape of `[batch, channels, height, width]` features.
/// Not normalized. Returns `[batch, channels, channels]`.
pub fn gram_matrix(features: Tensor<4>) -> Tensor<3> {
    let [b, c, h, w] = features.dims();
    let f = features.reshape([b, c, h * w]); // [b, N, M]
    f.clone().matmul(f.swap_dims(1, 2)) // [b, N, N]
}
