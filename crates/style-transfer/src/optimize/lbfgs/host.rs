//! L-BFGS's vectors in host memory, used with the host path.

use rayon::prelude::*;

use super::Space;

/// Chunk of the host's parallel loops: fixed, so that sums come out the same on every run
/// however rayon splits the work.
const CHUNK: usize = 1 << 14;

/// L-BFGS's vectors in host memory (`Vec<f32>`), inner products accumulated in f64 over fixed
/// chunks (the same result on every run).
#[derive(Debug, Default)]
pub(crate) struct HostSpace {
    s: Vec<Vec<f32>>,
    y: Vec<Vec<f32>>,
}

fn host_dot(a: &[f32], b: &[f32]) -> f64 {
    let parts: Vec<f64> = a
        .par_chunks(CHUNK)
        .zip(b.par_chunks(CHUNK))
        .map(|(a, b)| a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum())
        .collect();
    parts.iter().sum()
}

impl Space for HostSpace {
    type Vector = Vec<f32>;

    fn dot(&self, a: &Vec<f32>, b: &Vec<f32>) -> f64 {
        host_dot(a, b)
    }

    fn norms(&self, a: &Vec<f32>) -> (f64, f64) {
        let parts: Vec<(f64, f64)> = a
            .par_chunks(CHUNK)
            .map(|c| {
                c.iter().fold((0.0f64, 0.0f64), |(m, s), v| {
                    let v = v.abs() as f64;
                    (m.max(v), s + v)
                })
            })
            .collect();
        parts
            .iter()
            .fold((0.0, 0.0), |(m, s), (pm, ps)| (m.max(*pm), s + ps))
    }

    fn axpy(&self, a: &Vec<f32>, t: f64, b: &Vec<f32>) -> Vec<f32> {
        a.par_iter()
            .zip(b)
            .map(|(a, b)| (*a as f64 + t * *b as f64) as f32)
            .collect()
    }

    fn store(&mut self, slot: usize, s: Vec<f32>, y: Vec<f32>) {
        if slot == self.s.len() {
            self.s.push(s);
            self.y.push(y);
        } else {
            self.s[slot] = s;
            self.y[slot] = y;
        }
    }

    fn history_dots(&self, vs: &[&Vec<f32>]) -> Vec<(Vec<f64>, Vec<f64>)> {
        vs.iter()
            .map(|v| {
                (
                    self.s.iter().map(|s| host_dot(s, v)).collect(),
                    self.y.iter().map(|y| host_dot(y, v)).collect(),
                )
            })
            .collect()
    }

    fn combine(&self, c: f64, v: &Vec<f32>, a: &[f64], b: &[f64]) -> Vec<f32> {
        let mut out = vec![0.0f32; v.len()];
        out.par_chunks_mut(CHUNK).enumerate().for_each(|(k, out)| {
            let range = k * CHUNK..k * CHUNK + out.len();
            let mut acc: Vec<f64> = v[range.clone()].iter().map(|x| c * *x as f64).collect();
            let rows = self.s.iter().zip(a).chain(self.y.iter().zip(b));
            for (row, coef) in rows {
                for (acc, x) in acc.iter_mut().zip(&row[range.clone()]) {
                    *acc += coef * *x as f64;
                }
            }
            out.iter_mut().zip(acc).for_each(|(o, v)| *o = v as f32);
        });
        out
    }

    fn clear(&mut self) {
        self.s.clear();
        self.y.clear();
    }
}
