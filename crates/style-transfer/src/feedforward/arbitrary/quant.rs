//! Fake quantization as the quantized graphs compute it: each activation rounded to its own
//! int8 grid, on the host ([`Fq::host`]) and on tensors ([`Fq::apply`]).

use burn::tensor::Tensor;

use crate::error::WeightsProblem;
use crate::onnx::read::OnnxFile;

/// Fake quantization, ONNX `QuantizeLinear` then `DequantizeLinear` with one scale and
/// zero point: `(clamp(round_half_even(x / scale) + zero, qmin, qmax) - zero) * scale`,
/// computed as `clamp(round(x / scale), qmin - zero, qmax - zero) * scale` (the same value).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fq {
    scale: f32,
    lo: f32,
    hi: f32,
}

impl Fq {
    /// The parameters of the `QuantizeLinear` node `node`.
    pub(crate) fn read(file: &OnnxFile, node: &str) -> Result<Self, WeightsProblem> {
        let (scale, zero, [qmin, qmax]) = file.quantization(node)?;
        Ok(Fq {
            scale,
            lo: (qmin - zero) as f32,
            hi: (qmax - zero) as f32,
        })
    }

    /// On one number (infinities saturate, as in onnxruntime).
    #[inline]
    pub(crate) fn host(&self, x: f32) -> f32 {
        // Clamping first changes nothing (the bounds are whole numbers, rounding is
        // monotonic) and keeps the value below 2^22, where adding and subtracting 1.5 * 2^23
        // rounds half to even in one instruction each (`round_ties_even` is a library call on
        // x86-64 without SSE4.1).
        const ROUND: f32 = 12_582_912.0;
        ((x / self.scale).clamp(self.lo, self.hi) + ROUND - ROUND) * self.scale
    }

    /// On every element of a tensor.
    pub(crate) fn apply<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        x.div_scalar(self.scale)
            .round()
            .clamp(self.lo, self.hi)
            .mul_scalar(self.scale)
    }
}

#[cfg(test)]
mod tests {
    use super::Fq;

    /// ONNX's QuantizeLinear then DequantizeLinear, written as the specification says.
    fn reference(fq: &Fq, zero: f32, x: f32) -> f32 {
        let q = ((x / fq.scale).round_ties_even() + zero).clamp(-128.0, 127.0);
        (q - zero) * fq.scale
    }

    #[test]
    fn fake_quantization_rounds_half_to_even_and_saturates() {
        for (scale, zero) in [
            (0.023_529_412_f32, -128.0f32),
            (0.270_763_77, -6.0),
            (1.0, 3.0),
        ] {
            let fq = Fq {
                scale,
                lo: -128.0 - zero,
                hi: 127.0 - zero,
            };
            let mut inputs = vec![f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0, 1e30, -1e30];
            for k in -300..300 {
                for frac in [0.0f32, 0.25, 0.5, 0.75, 0.4999999, 0.5000001] {
                    inputs.push((k as f32 + frac) * scale);
                }
            }
            for x in inputs {
                let (ours, theirs) = (fq.host(x), reference(&fq, zero, x));
                assert!(
                    ours == theirs,
                    "scale {scale}, zero {zero}: {x} gave {ours}, not {theirs}"
                );
            }
        }
    }
}
