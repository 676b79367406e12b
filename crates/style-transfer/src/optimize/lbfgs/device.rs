//! L-BFGS's vectors as tensors on a device, used with Burn's path.

use burn::tensor::{Device, Tensor};

use super::Space;

/// L-BFGS's vectors as tensors on a device (`Tensor<1>`, the flattened image): the stored pairs
/// are two `[pairs, n]` matrices, so the inner products with them and the direction are
/// matrix products; only scalars are read back.
#[derive(Debug)]
pub(crate) struct DeviceSpace {
    device: Device,
    s: Option<Tensor<2>>,
    y: Option<Tensor<2>>,
}

impl DeviceSpace {
    /// An empty history on `device`.
    pub(crate) fn new(device: &Device) -> Self {
        DeviceSpace {
            device: device.clone(),
            s: None,
            y: None,
        }
    }
}

/// The values of a small tensor, read back to the host.
fn read(t: Tensor<1>) -> Vec<f64> {
    crate::image_io::tensor_values(&t)
        .into_iter()
        .map(f64::from)
        .collect()
}

/// Writes `row` into row `slot` of `matrix` (appending when `slot` is one past the end).
fn put_row(matrix: &mut Option<Tensor<2>>, slot: usize, row: Tensor<1>) {
    let row = row.unsqueeze::<2>();
    *matrix = Some(match matrix.take() {
        None => row,
        Some(m) if m.dims()[0] == slot => Tensor::cat(vec![m, row], 0),
        Some(m) => {
            let n = m.dims()[1];
            m.slice_assign([slot..slot + 1, 0..n], row)
        }
    });
}

impl Space for DeviceSpace {
    type Vector = Tensor<1>;

    fn dot(&self, a: &Tensor<1>, b: &Tensor<1>) -> f64 {
        read((a.clone() * b.clone()).sum())[0]
    }

    fn norms(&self, a: &Tensor<1>) -> (f64, f64) {
        let abs = a.clone().abs();
        let v = read(Tensor::cat(vec![abs.clone().max(), abs.sum()], 0));
        (v[0], v[1])
    }

    fn axpy(&self, a: &Tensor<1>, t: f64, b: &Tensor<1>) -> Tensor<1> {
        a.clone() + b.clone().mul_scalar(t)
    }

    fn scale(&self, a: &Tensor<1>, t: f64) -> Tensor<1> {
        a.clone().mul_scalar(t)
    }

    fn store(&mut self, slot: usize, s: Tensor<1>, y: Tensor<1>) {
        put_row(&mut self.s, slot, s);
        put_row(&mut self.y, slot, y);
    }

    fn history_dots(&self, vs: &[&Tensor<1>]) -> Vec<(Vec<f64>, Vec<f64>)> {
        let (Some(s), Some(y)) = (&self.s, &self.y) else {
            return vs.iter().map(|_| (Vec::new(), Vec::new())).collect();
        };
        let m = s.dims()[0];
        let columns = Tensor::stack::<2>(vs.iter().map(|v| (*v).clone()).collect(), 1); // [n, k]
        let both = Tensor::cat(
            vec![s.clone().matmul(columns.clone()), y.clone().matmul(columns)],
            0,
        );
        let k = vs.len();
        let values = read(both.reshape([2 * m * k]));
        (0..k)
            .map(|c| {
                let column = |r0: usize| (r0..r0 + m).map(|r| values[r * k + c]).collect();
                (column(0), column(m))
            })
            .collect()
    }

    fn combine(&self, c: f64, v: &Tensor<1>, a: &[f64], b: &[f64]) -> Tensor<1> {
        let mut out = v.clone().mul_scalar(c);
        let n = v.dims()[0];
        for (matrix, coef) in [(&self.s, a), (&self.y, b)] {
            if let (Some(matrix), false) = (matrix, coef.is_empty()) {
                let coef: Vec<f32> = coef.iter().map(|v| *v as f32).collect();
                let row = Tensor::<2>::from_data(
                    burn::tensor::TensorData::new(coef, [1, a.len()]),
                    &self.device,
                );
                out = out + row.matmul(matrix.clone()).reshape([n]);
            }
        }
        out
    }

    fn clear(&mut self) {
        self.s = None;
        self.y = None;
    }
}
