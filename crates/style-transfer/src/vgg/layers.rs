//! The names of VGG19's sixteen convolution layers and where each sits in the network.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// One of VGG19's sixteen 3x3 convolution layers, named `conv{block}_{index}` as in
/// Gatys et al. Features taken at a layer are always its **post-ReLU** activations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Layer {
    /// Block 1, conv 1 (64 channels, full resolution).
    Conv1_1,
    /// Block 1, conv 2 (64 channels).
    Conv1_2,
    /// Block 2, conv 1 (128 channels, 1/2 resolution).
    Conv2_1,
    /// Block 2, conv 2 (128 channels).
    Conv2_2,
    /// Block 3, conv 1 (256 channels, 1/4 resolution).
    Conv3_1,
    /// Block 3, conv 2 (256 channels).
    Conv3_2,
    /// Block 3, conv 3 (256 channels).
    Conv3_3,
    /// Block 3, conv 4 (256 channels).
    Conv3_4,
    /// Block 4, conv 1 (512 channels, 1/8 resolution).
    Conv4_1,
    /// Block 4, conv 2 (512 channels): the default content layer.
    Conv4_2,
    /// Block 4, conv 3 (512 channels).
    Conv4_3,
    /// Block 4, conv 4 (512 channels).
    Conv4_4,
    /// Block 5, conv 1 (512 channels, 1/16 resolution).
    Conv5_1,
    /// Block 5, conv 2 (512 channels).
    Conv5_2,
    /// Block 5, conv 3 (512 channels).
    Conv5_3,
    /// Block 5, conv 4 (512 channels).
    Conv5_4,
}

impl Layer {
    /// All sixteen layers in network order.
    pub const ALL: [Layer; 16] = [
        Layer::Conv1_1,
        Layer::Conv1_2,
        Layer::Conv2_1,
        Layer::Conv2_2,
        Layer::Conv3_1,
        Layer::Conv3_2,
        Layer::Conv3_3,
        Layer::Conv3_4,
        Layer::Conv4_1,
        Layer::Conv4_2,
        Layer::Conv4_3,
        Layer::Conv4_4,
        Layer::Conv5_1,
        Layer::Conv5_2,
        Layer::Conv5_3,
        Layer::Conv5_4,
    ];

    /// Position of this conv in network order (0 for `conv1_1`, 15 for `conv5_4`).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The VGG block (1..=5) this layer belongs to; a 2x2 pooling precedes blocks 2..=5.
    pub fn block(self) -> usize {
        BLOCK_OF[self.index()]
    }

    /// Height and width of this layer's feature maps for an `h x w` input: halved (floored)
    /// by each 2x2 pooling before the layer's block.
    pub fn map_size(self, h: usize, w: usize) -> (usize, usize) {
        let poolings = self.block() - 1;
        (h >> poolings, w >> poolings)
    }

    /// Number of output channels (`N_l` in the style loss).
    pub fn channels(self) -> usize {
        [
            64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512,
        ][self.index()]
    }

    /// Number of input channels of this conv.
    pub fn in_channels(self) -> usize {
        match self.index() {
            0 => 3,
            i => Layer::ALL[i - 1].channels(),
        }
    }

    /// The name used on the command line and in the reference files, e.g. `"conv4_2"`.
    pub fn name(self) -> &'static str {
        NAMES[self.index()]
    }

    /// Whether a pooling layer comes right after this conv (the last conv of blocks 1-4).
    pub fn pools_after(self) -> bool {
        matches!(
            self,
            Layer::Conv1_2 | Layer::Conv2_2 | Layer::Conv3_4 | Layer::Conv4_4
        )
    }
}

const NAMES: [&str; 16] = [
    "conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3", "conv3_4",
    "conv4_1", "conv4_2", "conv4_3", "conv4_4", "conv5_1", "conv5_2", "conv5_3", "conv5_4",
];

const BLOCK_OF: [usize; 16] = [1, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5];

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Layer {
    type Err = Error;

    /// Parses `conv4_2` (also `relu4_2`, since features are post-ReLU), case-insensitively.
    fn from_str(s: &str) -> Result<Self, Error> {
        let lower = s.trim().to_ascii_lowercase();
        let key = lower
            .strip_prefix("relu")
            .map(|rest| format!("conv{rest}"))
            .unwrap_or(lower);
        NAMES
            .iter()
            .position(|n| *n == key)
            .map(|i| Layer::ALL[i])
            .ok_or_else(|| Error::UnknownLayer(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_order() {
        for (i, layer) in Layer::ALL.iter().enumerate() {
            assert_eq!(layer.index(), i);
            assert_eq!(layer.name().parse::<Layer>().unwrap(), *layer);
        }
        assert_eq!("RELU4_2".parse::<Layer>().unwrap(), Layer::Conv4_2);
        assert!(matches!(
            "conv6_1".parse::<Layer>(),
            Err(Error::UnknownLayer(_))
        ));
        assert_eq!(Layer::Conv3_1.in_channels(), 128);
        assert_eq!(Layer::ALL.iter().filter(|l| l.pools_after()).count(), 4);
    }
}
