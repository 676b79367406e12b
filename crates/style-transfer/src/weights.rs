//! VGG19 weights: reading them from any VGG19 ONNX file, and writing the project's own
//! float32 ONNX file (Conv, Relu, MaxPool).
//!
//! The reader walks the graph's Conv nodes in order (ONNX graphs are stored topologically
//! sorted) and maps them onto `conv1_1` .. `conv5_4`. Anything after the 16th Conv (a
//! classifier head of `Flatten`/`Gemm` nodes, for example) is ignored.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path};

use bytes::Bytes;
use prost::Message;

use crate::convention::InputConvention;
use crate::error::{Error, Result, WeightsProblem};
use crate::layers::Layer;
use crate::onnx_proto::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, ValueInfoProto, attribute_type, data_type,
};

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
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::parse_onnx(Bytes::from(bytes), model_dir(path))
            .map_err(|problem| Error::weights(path, problem))
    }

    /// Reads weights from the bytes of an ONNX model, as [`VggWeights::from_onnx`] does;
    /// `base_dir` is the model's folder, where tensors stored as external data are looked
    /// for (and must stay). The entry point of the fuzz targets (`fuzz/`), not part of the
    /// supported API.
    #[doc(hidden)]
    pub fn from_onnx_bytes(bytes: &[u8], base_dir: &Path) -> Result<Self, WeightsProblem> {
        Self::parse_onnx(Bytes::copy_from_slice(bytes), base_dir)
    }

    /// Reads weights from the bytes of an ONNX model; `base_dir` is where tensors stored as
    /// external data are looked for.
    fn parse_onnx(bytes: Bytes, base_dir: &Path) -> Result<Self, WeightsProblem> {
        let model =
            ModelProto::decode(bytes).map_err(|e| WeightsProblem::NotOnnx(e.to_string()))?;
        let graph = match &model.graph {
            Some(g) if !g.node.is_empty() => g,
            _ => {
                return Err(WeightsProblem::NotOnnx(
                    "the model has no graph nodes".into(),
                ));
            }
        };
        let convention = match model
            .metadata_props
            .iter()
            .find(|p| p.key == InputConvention::METADATA_KEY)
        {
            Some(entry) => entry.value.parse()?,
            None => InputConvention::Torchvision,
        };
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

/// The folder of a model file, where its external data lives (`.` for a bare file name).
fn model_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
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

fn is_default_domain(domain: &str) -> bool {
    domain.is_empty() || domain == "ai.onnx"
}

/// Every constant tensor of a graph by name: initializers and `Constant` node outputs, and
/// the outputs of `Identity` nodes over them (PyTorch's exporter keeps one copy of identical
/// initializers and routes the others through `Identity`).
struct TensorIndex<'a> {
    tensors: HashMap<&'a str, &'a TensorProto>,
    /// `Identity` output -> its input.
    aliases: HashMap<&'a str, &'a str>,
}

impl<'a> TensorIndex<'a> {
    fn new(graph: &'a GraphProto) -> Self {
        let mut tensors: HashMap<&str, &TensorProto> = graph
            .initializer
            .iter()
            .map(|t| (t.name.as_str(), t))
            .collect();
        let mut aliases = HashMap::new();
        for n in graph.node.iter().filter(|n| is_default_domain(&n.domain)) {
            match n.op_type.as_str() {
                "Constant" => {
                    let value = n
                        .attribute
                        .iter()
                        .find(|a| a.name == "value" && a.r#type == attribute_type::TENSOR);
                    if let (Some(out), Some(t)) =
                        (n.output.first(), value.and_then(|a| a.t.as_ref()))
                    {
                        tensors.insert(out.as_str(), t);
                    }
                }
                "Identity" => {
                    if let (Some(out), Some(input)) = (n.output.first(), n.input.first()) {
                        aliases.insert(out.as_str(), input.as_str());
                    }
                }
                _ => {}
            }
        }
        TensorIndex { tensors, aliases }
    }

    /// The constant tensor named `name`, following `Identity` nodes back to their source;
    /// `None` when there is none (or the `Identity` nodes form a cycle).
    fn get(&self, name: &str) -> Option<&'a TensorProto> {
        let mut name = name;
        // Each step follows a distinct Identity node, or the chain is a cycle.
        for _ in 0..=self.aliases.len() {
            if let Some(t) = self.tensors.get(name) {
                return Some(t);
            }
            name = self.aliases.get(name)?;
        }
        None
    }
}

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
    let ints = |name: &str| {
        node.attribute
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.ints.as_slice())
    };
    let auto_pad = node
        .attribute
        .iter()
        .find(|a| a.name == "auto_pad")
        .map(|a| String::from_utf8_lossy(&a.s));
    let same_pad = matches!(auto_pad.as_deref(), Some("SAME_UPPER" | "SAME_LOWER"));
    match auto_pad.as_deref() {
        None | Some("NOTSET" | "SAME_UPPER" | "SAME_LOWER") => {}
        Some(other) => return Err(bad(format!("auto_pad {other}"))),
    }
    if let Some(k) = ints("kernel_shape").filter(|k| *k != [3, 3]) {
        return Err(bad(format!("kernel_shape {k:?}")));
    }
    if let Some(s) = ints("strides").filter(|s| s.iter().any(|&v| v != 1)) {
        return Err(bad(format!("strides {s:?}")));
    }
    if let Some(d) = ints("dilations").filter(|d| d.iter().any(|&v| v != 1)) {
        return Err(bad(format!("dilations {d:?}")));
    }
    if !same_pad {
        let pads = ints("pads").unwrap_or(&[]);
        if pads.len() != 4 || pads.iter().any(|&p| p != 1) {
            return Err(bad(format!("pads {pads:?}")));
        }
    }
    if let Some(g) = node
        .attribute
        .iter()
        .find(|a| a.name == "group")
        .filter(|a| a.i != 1)
    {
        return Err(bad(format!("group {}", g.i)));
    }
    Ok(())
}

/// Decodes a float tensor of `expected` values (float32, float16, bfloat16 or float64;
/// inline, raw or external data) into float32, refusing other element types, other sizes
/// and non-finite values.
fn tensor_to_f32(
    t: &TensorProto,
    expected: usize,
    base_dir: &Path,
) -> Result<Vec<f32>, WeightsProblem> {
    let declared = t
        .dims
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(usize::try_from(d).ok()?));
    if declared != Some(expected) {
        return Err(WeightsProblem::TensorSize {
            name: t.name.clone(),
            dims: t.dims.clone(),
            expected,
        });
    }
    let element_size = match t.data_type {
        data_type::FLOAT => 4,
        data_type::DOUBLE => 8,
        data_type::FLOAT16 | data_type::BFLOAT16 => 2,
        other => {
            return Err(WeightsProblem::NotFloat {
                name: t.name.clone(),
                data_type: data_type::name(other),
            });
        }
    };
    let raw: Bytes = if t.data_location == 1 {
        // At most 512 x 512 x 9 values of at most 8 bytes: no overflow.
        read_external(t, (expected * element_size) as u64, base_dir)?
    } else {
        t.raw_data.clone()
    };
    let values: Vec<f32> = match t.data_type {
        data_type::FLOAT if !raw.is_empty() => {
            le_chunks::<4>(&raw).map(f32::from_le_bytes).collect()
        }
        data_type::FLOAT => t.float_data.clone(),
        data_type::DOUBLE if !raw.is_empty() => le_chunks::<8>(&raw)
            .map(|b| f64::from_le_bytes(b) as f32)
            .collect(),
        data_type::DOUBLE => t.double_data.iter().map(|&v| v as f32).collect(),
        _ => {
            let bits: Vec<u16> = if raw.is_empty() {
                t.int32_data.iter().map(|&v| v as u16).collect()
            } else {
                le_chunks::<2>(&raw).map(u16::from_le_bytes).collect()
            };
            if t.data_type == data_type::FLOAT16 {
                bits.into_iter()
                    .map(|b| half::f16::from_bits(b).to_f32())
                    .collect()
            } else {
                bits.into_iter()
                    .map(|b| half::bf16::from_bits(b).to_f32())
                    .collect()
            }
        }
    };
    if values.len() != expected {
        return Err(WeightsProblem::DataSize {
            name: t.name.clone(),
            declared: expected,
            stored: values.len(),
        });
    }
    if values.iter().any(|v| !v.is_finite()) {
        return Err(WeightsProblem::NonFinite {
            name: t.name.clone(),
        });
    }
    Ok(values)
}

fn le_chunks<const N: usize>(raw: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
    raw.chunks_exact(N)
        .map(|c| c.try_into().expect("chunks_exact yields N bytes"))
}

/// Reads the `size` bytes of a tensor stored as external data (`location`, `offset`,
/// `length`), by ONNX's own rule (its checker's, since CVE-2022-25882): the location is a
/// relative path that stays inside the model's folder once `..` and symbolic links are
/// resolved, and names a regular file. Only `offset..offset + size` is read, so neither a
/// huge file nor a special one can exhaust memory; a `length`, if given, must be `size`.
fn read_external(t: &TensorProto, size: u64, base_dir: &Path) -> Result<Bytes, WeightsProblem> {
    let field = |key: &str| {
        t.external_data
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.value.as_str())
    };
    let name = || t.name.clone();
    let malformed =
        |what: String| WeightsProblem::NotOnnx(format!("external data of `{}`: {what}", t.name));
    let location = field("location").ok_or_else(|| malformed("no location".into()))?;
    let number = |key: &str| -> Result<Option<u64>, WeightsProblem> {
        field(key)
            .map(|v| {
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| malformed(format!("{key} `{v}` is not a byte count")))
            })
            .transpose()
    };
    let offset = number("offset")?.unwrap_or(0);
    if let Some(length) = number("length")?.filter(|&l| l != size) {
        return Err(WeightsProblem::ExternalLength {
            name: name(),
            length,
            expected: size,
        });
    }
    let outside = || WeightsProblem::ExternalOutsideModelDir {
        name: name(),
        location: location.into(),
    };
    let not_a_file = || WeightsProblem::ExternalNotAFile {
        name: name(),
        location: location.into(),
    };
    let unreadable = |e: std::io::Error| WeightsProblem::ExternalUnreadable {
        name: name(),
        location: location.into(),
        reason: e.to_string(),
    };
    let relative = Path::new(location);
    if relative.has_root()
        || relative
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::Prefix(_)))
    {
        return Err(outside());
    }
    let dir = base_dir.canonicalize().map_err(unreadable)?;
    let file = dir.join(relative).canonicalize().map_err(unreadable)?;
    if !file.starts_with(&dir) {
        return Err(outside());
    }
    // Checked before opening: opening a FIFO would block.
    if !std::fs::metadata(&file).map_err(unreadable)?.is_file() {
        return Err(not_a_file());
    }
    let mut f = File::open(&file).map_err(unreadable)?;
    let file_size = f.metadata().map_err(unreadable)?.len();
    let beyond = || WeightsProblem::ExternalRange {
        name: name(),
        location: location.into(),
        offset,
        length: size,
        file_size,
    };
    if offset.checked_add(size).is_none_or(|end| end > file_size) {
        return Err(beyond());
    }
    f.seek(SeekFrom::Start(offset)).map_err(unreadable)?;
    let mut bytes = Vec::with_capacity(size as usize);
    f.take(size).read_to_end(&mut bytes).map_err(unreadable)?;
    if bytes.len() as u64 != size {
        return Err(beyond()); // the file shrank meanwhile
    }
    Ok(Bytes::from(bytes))
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

    #[test]
    fn a_bare_file_name_has_its_data_in_the_working_directory() {
        assert_eq!(model_dir(Path::new("vgg19.onnx")), Path::new("."));
        assert_eq!(model_dir(Path::new("w/vgg19.onnx")), Path::new("w"));
        assert_eq!(model_dir(Path::new("/vgg19.onnx")), Path::new("/"));
    }
}
