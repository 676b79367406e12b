//! Keeping the content's colours: luminance-only transfer and colour histogram matching
//! (Gatys, Bethge, Hertzmann and Shechtman, "Preserving Color in Neural Artistic Style
//! Transfer", 2016).

use image::{Rgb32FImage, RgbImage};

type Mat3 = [[f64; 3]; 3];

/// RGB to YIQ (NTSC).
const RGB_TO_YIQ: Mat3 = [
    [0.299, 0.587, 0.114],
    [0.595716, -0.274453, -0.321263],
    [0.211456, -0.522591, 0.311135],
];

fn mul(a: &Mat3, b: &Mat3) -> Mat3 {
    let mut out = [[0.0; 3]; 3];
    for (i, row) in out.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    out
}

fn apply(m: &Mat3, v: [f64; 3]) -> [f64; 3] {
    [0, 1, 2].map(|i| m[i][0] * v[0] + m[i][1] * v[1] + m[i][2] * v[2])
}

fn inverse(m: &Mat3) -> Mat3 {
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    let c =
        |r1: usize, c1: usize, r2: usize, c2: usize| m[r1][c1] * m[r2][c2] - m[r1][c2] * m[r2][c1];
    let adj = [
        [c(1, 1, 2, 2), -c(0, 1, 2, 2), c(0, 1, 1, 2)],
        [-c(1, 0, 2, 2), c(0, 0, 2, 2), -c(0, 0, 1, 2)],
        [c(1, 0, 2, 1), -c(0, 0, 2, 1), c(0, 0, 1, 1)],
    ];
    adj.map(|row| row.map(|v| v / det))
}

/// Lower-triangular `L` with `L L^T = m` (m symmetric positive definite).
fn cholesky(m: &Mat3) -> Mat3 {
    let mut l = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..=i {
            let sum: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            l[i][j] = if i == j {
                (m[i][i] - sum).max(1e-12).sqrt()
            } else {
                (m[i][j] - sum) / l[j][j]
            };
        }
    }
    l
}

fn to_u8(v: f64) -> u8 {
    v.round().clamp(0.0, 255.0) as u8
}

fn pixel(p: &image::Rgb<u8>) -> [f64; 3] {
    p.0.map(f64::from)
}

/// The luminance (Y of YIQ) of `stylized` (float RGB 0-1, not rounded to 8 bits) with the
/// chroma (I, Q) of `content` (resized to the same size by the caller).
pub fn keep_luminance_pixels(stylized: &Rgb32FImage, content: &RgbImage) -> Rgb32FImage {
    let back = inverse(&RGB_TO_YIQ);
    let mut out = stylized.clone();
    for (o, c) in out.pixels_mut().zip(content.pixels()) {
        let y = apply(&RGB_TO_YIQ, o.0.map(|v| v as f64 * 255.0))[0];
        let [_, i, q] = apply(&RGB_TO_YIQ, pixel(c));
        o.0 = apply(&back, [y, i, q]).map(|v| (v / 255.0).clamp(0.0, 1.0) as f32);
    }
    out
}

/// An 8-bit image as floats 0-1.
pub(crate) fn unit_pixels(image: &RgbImage) -> Rgb32FImage {
    let data = image.as_raw().iter().map(|&v| v as f32 / 255.0).collect();
    Rgb32FImage::from_raw(image.width(), image.height(), data).expect("w*h*3 values")
}

/// A float image (RGB 0-1) rounded to 8 bits.
pub fn rgb8(pixels: &Rgb32FImage) -> RgbImage {
    let data = pixels.as_raw().iter().map(|&v| super::to_u8(v)).collect();
    RgbImage::from_raw(pixels.width(), pixels.height(), data).expect("w*h*3 values")
}

/// Mean and covariance of an image's RGB pixels (with a small ridge for stability).
fn moments(image: &RgbImage) -> ([f64; 3], Mat3) {
    let n = (image.width() as f64 * image.height() as f64).max(1.0);
    let mut mean = [0.0; 3];
    for p in image.pixels() {
        for (m, v) in mean.iter_mut().zip(pixel(p)) {
            *m += v / n;
        }
    }
    let mut cov = [[0.0; 3]; 3];
    for p in image.pixels() {
        let d = [0, 1, 2].map(|i| pixel(p)[i] - mean[i]);
        for i in 0..3 {
            for j in 0..3 {
                cov[i][j] += d[i] * d[j] / n;
            }
        }
    }
    for (i, row) in cov.iter_mut().enumerate() {
        row[i] += 1e-3;
    }
    (mean, cov)
}

/// `style` recoloured so that its RGB mean and covariance match `content`'s:
/// `x' = L_c L_s^-1 (x - mu_s) + mu_c` with Cholesky factors `L`.
pub fn match_histogram(style: &RgbImage, content: &RgbImage) -> RgbImage {
    let (mu_s, cov_s) = moments(style);
    let (mu_c, cov_c) = moments(content);
    let a = mul(&cholesky(&cov_c), &inverse(&cholesky(&cov_s)));
    let mut out = style.clone();
    for p in out.pixels_mut() {
        let centred = [0, 1, 2].map(|i| pixel(p)[i] - mu_s[i]);
        let mapped = apply(&a, centred);
        p.0 = [0, 1, 2].map(|i| to_u8(mapped[i] + mu_c[i]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32, tint: [u8; 3]) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([
                tint[0].saturating_add((x * 3) as u8),
                tint[1].saturating_add((y * 2) as u8),
                tint[2].saturating_add(((x + y) % 40) as u8),
            ])
        })
    }

    #[test]
    fn luminance_comes_from_the_stylized_image_and_colour_from_the_content() {
        let stylized = gradient(30, 20, [10, 100, 30]);
        let content = gradient(30, 20, [120, 20, 90]);
        let out = rgb8(&keep_luminance_pixels(&unit_pixels(&stylized), &content));
        for ((o, s), c) in out.pixels().zip(stylized.pixels()).zip(content.pixels()) {
            let (yo, ys) = (apply(&RGB_TO_YIQ, pixel(o)), apply(&RGB_TO_YIQ, pixel(s)));
            let yc = apply(&RGB_TO_YIQ, pixel(c));
            assert!((yo[0] - ys[0]).abs() < 1.5, "luminance kept");
            assert!(
                (yo[1] - yc[1]).abs() < 2.0 && (yo[2] - yc[2]).abs() < 2.0,
                "chroma from content"
            );
        }
    }

    #[test]
    fn histogram_matching_moves_mean_and_covariance_to_the_content() {
        let style = gradient(40, 40, [10, 100, 30]);
        let content = gradient(40, 40, [120, 20, 90]);
        let (mu, cov) = moments(&match_histogram(&style, &content));
        let (mu_c, cov_c) = moments(&content);
        for i in 0..3 {
            assert!(
                (mu[i] - mu_c[i]).abs() < 1.0,
                "mean {i}: {} vs {}",
                mu[i],
                mu_c[i]
            );
            for j in 0..3 {
                assert!(
                    (cov[i][j] - cov_c[i][j]).abs() < 0.05 * cov_c[i][i].max(1.0) + 1.0,
                    "cov {i}{j}"
                );
            }
        }
        let inv = inverse(&RGB_TO_YIQ);
        let id = mul(&RGB_TO_YIQ, &inv);
        for (i, row) in id.iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                assert!((v - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12);
            }
        }
    }
}
