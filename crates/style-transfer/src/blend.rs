//! Blend weights: the one check for styles mixed by weight, in the optimization (several
//! style images) and in the feed-forward networks (several built-in styles).
//!
//! May use: `error` only.

use crate::error::{Error, Result};

/// Checks blend weights (each a finite number >= 0, at least one, summing to more than 0)
/// and returns their sum; `name` is the setting named in the error.
pub(crate) fn blend_total(
    name: &'static str,
    weights: impl IntoIterator<Item = f32>,
) -> Result<f32> {
    let mut total = 0.0f32;
    let mut count = 0;
    for weight in weights {
        if !(weight.is_finite() && weight >= 0.0) {
            return Err(Error::InvalidConfig {
                name,
                reason: format!("blend weight {weight} is not a number >= 0"),
            });
        }
        total += weight;
        count += 1;
    }
    if count == 0 || !(total > 0.0 && total.is_finite()) {
        return Err(Error::InvalidConfig {
            name,
            reason: "give at least one style, with non-negative weights that sum to more than 0"
                .into(),
        });
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_must_be_finite_non_negative_and_not_all_zero() {
        assert_eq!(blend_total("w", [1.0, 3.0]).unwrap(), 4.0);
        assert_eq!(blend_total("w", [0.0, 0.5]).unwrap(), 0.5);
        for bad in [
            vec![],
            vec![0.0],
            vec![1.0, -1.0],
            vec![f32::NAN],
            vec![f32::INFINITY],
            vec![f32::MAX, f32::MAX],
        ] {
            assert!(
                matches!(
                    blend_total("w", bad.clone()),
                    Err(Error::InvalidConfig { name: "w", .. })
                ),
                "{bad:?}"
            );
        }
    }
}
