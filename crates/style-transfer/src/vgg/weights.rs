//! VGG19 weights: reading them from any VGG19 ONNX file, and writing the project's own
//! float32 ONNX file (Conv, Relu, MaxPool).
//!
//! The reader walks the graph's Conv nodes in order (ONNX graphs are stored topologically
//! sorted) and maps them onto `conv1_1` .. `conv5_4`. Anything after the 16th Conv (a
//! classifier head of `Flatten`/`Gemm` nodes, for example) is ignored.

use std::path::Path;

use bytes::Bytes;
use prost::Message;

use crate::error::{Error, Result, WeightsProblem};
use crate::image_io::convention::InputConvention;
use crate::onnx::proto::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, ValueInfoProto,
};
use crate::onnx::read::{ConvAttributes, OnnxFile, TensorIndex, is_default_domain, tensor_to_f32};
use crate::vgg::layers::Layer;

/// Weight and bias of one 3x3 convolution, as plain float32 buffers.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvWeights {
    /// `[out, in, 3, 3]` in row-major (OIHW) order.
    pub weight: Vec<f32>,
    /// `[out]`.
    pub bias: Vec<f32>,
}

/// The weights of VGG19's 16 convolutions and the input convention they were trained with.
///
/// Load them once with [`VggWeights::from_onnx`], then build a [`crate::Vgg19`] on any
/// device from them.
#[derive(Clone, Debug, PartialEq)]
pub struct VggWeights {
    convs: Vec<ConvWeights>,
    convention: InputConvention,
}

impl VggWeights {
    /// Builds weights from 16 convolutions in network order, checking every shape.
    pub fn new(convs: Vec<ConvWeights>, convention: InputConvention) -> Result<Self> {
        if convs.len() != Layer::ALL.len() {
            return Err(Error::InvalidConfig {
                name: "convolutions",
                reason: format!("VGG19 has 16 convolutions, got {}", convs.len()),
            });
        }
        for (layer, conv) in Layer::ALL.iter().zip(&convs) {
            let expected = layer_weight_shape(*layer);
            if conv.weight.len() != expected.iter().product::<usize>()
                || conv.bias.len() != expected[0]
            {
                return Err(Error::Shape {
                    expected: format!("{expected:?} weight and [{}] bias for {layer}", expected[0]),
                    actual: vec![conv.weight.len(), conv.bias.len()],
                });
            }
        }
        Ok(VggWeights { convs, convention })
    }

    /// The weights of one layer.
    pub fn conv(&self, layer: Layer) -> &ConvWeights {
        &self.convs[layer.index()]
    }

    /// The input convention these weights expect.
    pub fn convention(&self) -> InputConvention {
        self.convention
    }

    /// The same weights, declared to expect another input convention (for an ONNX file
    /// whose metadata does not say, or says wrongly).
    pub fn with_convention(mut self, convention: InputConvention) -> Self {
        self.convention = convention;
        self
    }

    /// Reads VGG19 weights from an ONNX file.
    ///
    /// Accepts the project's converted file and full VGG19 classifier exports (torchvision's
    /// `vgg19` through `torch.onnx.export`, the ONNX Model Zoo's `vgg19`); the classifier head
    /// is ignored. The input convention is read from the metadata key
    /// [`InputConvention::METADATA_KEY`]; files without it are taken to be torchvision
    /// exports ([`InputConvention::Torchvision`]). Anything else is refused with
    /// [`Error::Weights`] naming the problem.
    pub fn from_onnx(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let refuse = |problem| Error::weights(path, problem);
        Self::from_file(&OnnxFile::read(path, refuse)?).map_err(refuse)
    }

    /// Reads weights from the bytes of an ONNX model, as [`VggWeights::from_onnx`] does;
    /// `base_dir` is the model's folder, where tensors stored as external data are looked
    /// for (and must stay). The entry point of the fuzz targets (`fuzz/`), not part of the
    /// supported API.
    #[doc(hidden)]
    pub fn from_onnx_bytes(bytes: &[u8], base_dir: &Path) -> Result<Self, WeightsProblem> {
        Self::from_file(&OnnxFile::parse(Bytes::copy_from_slice(bytes), base_dir)?)
    }

    /// Reads the weights out of a decoded ONNX file: its Conv nodes in graph order onto
    /// conv1_1..conv5_4, and the input convention from the metadata.
    fn from_file(file: &OnnxFile) -> Result<Self, WeightsProblem> {
        let convention = match file.metadata(InputConvention::METADATA_KEY) {
            Some(value) => value.parse()?,
            None => InputConvention::Torchvision,
        };
        let (graph, base_dir) = (file.graph(), file.base_dir());
        let tensors = TensorIndex::new(graph);
        let conv_nodes: Vec<&NodeProto> = graph
            .node
            .iter()
            .filter(|n| n.op_type == "Conv" && is_default_domain(&n.domain))
            .collect();
        if conv_nodes.len() != Layer::ALL.len() {
            return Err(WeightsProblem::ConvCount {
                found: conv_nodes.len(),
            });
        }
        let mut convs = Vec::with_capacity(16);
        for (index, (layer, node)) in Layer::ALL.iter().zip(conv_nodes).enumerate() {
            check_conv_attributes(index, *layer, node)?;
            let expected = layer_weight_shape(*layer);
            let input = |slot: usize| -> Result<Option<&TensorProto>, WeightsProblem> {
                match node.input.get(slot).filter(|n| !n.is_empty()) {
                    None => Ok(None),
                    Some(name) => tensors.get(name).map(Some).ok_or_else(|| {
                        WeightsProblem::MissingInitializer {
                            index,
                            layer: layer.name(),
                            name: name.clone(),
                        }
                    }),
                }
            };
            let weight_proto = input(1)?.ok_or_else(|| WeightsProblem::MissingInitializer {
                index,
                layer: layer.name(),
                name: "(weight input absent)".into(),
            })?;
            let dims: Vec<usize> = weight_proto
                .dims
                .iter()
                .map(|&d| d.max(0) as usize)
                .collect();
            if dims != expected {
                return Err(WeightsProblem::ConvShape {
                    index,
                    layer: layer.name(),
                    expected,
                    found: dims,
                });
            }
            let weight = tensor_to_f32(weight_proto, expected.iter().product(), base_dir)?;
            let bias = match input(2)? {
                Some(b) => tensor_to_f32(b, expected[0], base_dir)?,
                None => vec![0.0; expected[0]],
            };
            convs.push(ConvWeights { weight, bias });
        }
        Ok(VggWeights { convs, convention })
    }

    /// Writes these weights as a standard float32 ONNX model: `input` `[1, 3, height, width]`
    /// through Conv, Relu and 2x2 MaxPool nodes (named `conv1_1`, `relu1_1`, `pool1`, ...)
    /// to `pool5`, with the input convention in the metadata. The output is deterministic:
    /// the same weights give the same bytes.
    pub fn to_onnx_bytes(&self) -> Vec<u8> {
        let mut nodes = Vec::new();
        let mut initializers = Vec::new();
        let mut current = "input".to_string();
        for layer in Layer::ALL {
            let conv = self.conv(layer);
            let shape = layer_weight_shape(layer);
            let suffix = &layer.name()["conv".len()..];
            let (w, b) = (format!("{layer}.weight"), format!("{layer}.bias"));
            initializers.push(TensorProto::from_f32(&w, &shape, &conv.weight));
            initializers.push(TensorProto::from_f32(&b, &shape[..1], &conv.bias));
            nodes.push(node(
                "Conv",
                layer.name(),
                &[&current, &w, &b],
                vec![
                    AttributeProto::ints("kernel_shape", &[3, 3]),
                    AttributeProto::ints("pads", &[1, 1, 1, 1]),
                    AttributeProto::ints("strides", &[1, 1]),
                    AttributeProto::ints("dilations", &[1, 1]),
                    AttributeProto::int("group", 1),
                ],
            ));
            let relu = format!("relu{suffix}");
            nodes.push(node("Relu", &relu, &[layer.name()], vec![]));
            current = relu;
            if layer.pools_after() || layer == Layer::Conv5_4 {
                let pool = format!("pool{}", layer.block());
                nodes.push(node(
                    "MaxPool",
                    &pool,
                    &[&current],
                    vec![
                        AttributeProto::ints("kernel_shape", &[2, 2]),
                        AttributeProto::ints("strides", &[2, 2]),
                    ],
                ));
                current = pool;
            }
        }
        let model = ModelProto {
            ir_version: 8,
            producer_name: "style-transfer".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            doc_string: "VGG19 convolutional features (conv1_1..conv5_4, post-ReLU), float32"
                .into(),
            graph: Some(GraphProto {
                node: nodes,
                name: "vgg19_features".into(),
                initializer: initializers,
                input: vec![ValueInfoProto::f32_tensor(
                    "input",
                    &[
                        (Some(1), ""),
                        (Some(3), ""),
                        (None, "height"),
                        (None, "width"),
                    ],
                )],
                output: vec![ValueInfoProto::f32_tensor(
                    &current,
                    &[
                        (Some(1), ""),
                        (Some(512), ""),
                        (None, "height_32"),
                        (None, "width_32"),
                    ],
                )],
            }),
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: 13,
            }],
            metadata_props: vec![StringStringEntryProto {
                key: InputConvention::METADATA_KEY.into(),
                value: self.convention.name().into(),
            }],
        };
        model.encode_to_vec()
    }
}

/// `[out, in, 3, 3]` for a layer.
pub(crate) fn layer_weight_shape(layer: Layer) -> [usize; 4] {
    [layer.channels(), layer.in_channels(), 3, 3]
}

fn node(op: &str, output: &str, inputs: &[&str], attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.to_string()],
        name: output.to_string(),
        op_type: op.to_string(),
        attribute,
        domain: String::new(),
    }
}

/// Refuses a Conv node whose attributes are not VGG19's (3x3, stride 1, padding 1, no
/// dilation, one group).
fn check_conv_attributes(
    index: usize,
    layer: Layer,
    node: &NodeProto,
) -> Result<(), WeightsProblem> {
    let bad = |attribute: String| WeightsProblem::ConvAttribute {
        index,
        layer: layer.name(),
        attribute,
    };
    let a = ConvAttributes::of(node).map_err(bad)?;
    if let Some(k) = a.kernel.filter(|k| *k != [3, 3]) {
        return Err(bad(format!("kernel_shape {k:?}")));
    }
    if a.strides.iter().any(|&v| v != 1) {
        return Err(bad(format!("strides {:?}", a.strides)));
    }
    if a.dilations.iter().any(|&v| v != 1) {
        return Err(bad(format!("dilations {:?}", a.dilations)));
    }
    if !a.same_padding {
        let pads = a.pads.unwrap_or_default();
        if pads.len() != 4 || pads.iter().any(|&p| p != 1) {
            return Err(bad(format!("pads {pads:?}")));
        }
    }
    if a.group != 1 {
        return Err(bad(format!("group {}", a.group)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_weights() -> VggWeights {
        let convs = Layer::ALL
            .iter()
            .map(|l| {
                let n: usize = layer_weight_shape(*l).iter().product();
                ConvWeights {
                    weight: (0..n).map(|i| (i % 7) as f32 * 0.01).collect(),
                    bias: (0..l.channels()).map(|i| i as f32).collect(),
                }
            })
            .collect();
        VggWeights::new(convs, InputConvention::Caffe).unwrap()
    }

    #[test]
    fn onnx_round_trip_keeps_weights_and_convention() {
        let w = tiny_weights();
        let bytes = w.to_onnx_bytes();
        assert_eq!(bytes, w.to_onnx_bytes(), "writer must be deterministic");
        let back = VggWeights::from_onnx_bytes(&bytes, Path::new(".")).unwrap();
        assert_eq!(back, w);
    }

    #[test]
    fn truncated_and_garbage_are_refused() {
        let bytes = tiny_weights().to_onnx_bytes();
        let cut = &bytes[..bytes.len() / 2];
        assert!(matches!(
            VggWeights::from_onnx_bytes(cut, Path::new(".")),
            Err(WeightsProblem::NotOnnx(_))
        ));
        let text = b"hello, this is not a model at all";
        assert!(matches!(
            VggWeights::from_onnx_bytes(text, Path::new(".")),
            Err(WeightsProblem::NotOnnx(_))
        ));
    }
}
