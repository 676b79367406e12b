//! Reading tensors out of ONNX files that may come from strangers: the constant tensors of a
//! graph by name (initializers, `Constant` nodes, `Identity` chains), float tensors decoded
//! to float32 with their sizes checked, and external data confined to the model's folder
//! (ONNX's own rule). Used by the VGG19 reader ([`crate::vgg::weights`]) and the feed-forward
//! networks ([`crate::feedforward::multistyle`]).

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use bytes::Bytes;
use prost::Message;

use crate::error::{Error, WeightsProblem};
use crate::files::folder_of;
use crate::onnx::proto::{
    GraphProto, ModelProto, NodeProto, TensorProto, attribute_type, data_type,
};

pub(crate) fn is_default_domain(domain: &str) -> bool {
    domain.is_empty() || domain == "ai.onnx"
}

/// Every constant tensor of a graph by name: initializers and `Constant` node outputs, and
/// the outputs of `Identity` nodes over them (PyTorch's exporter keeps one copy of identical
/// initializers and routes the others through `Identity`).
pub(crate) struct TensorIndex<'a> {
    tensors: HashMap<&'a str, &'a TensorProto>,
    /// `Identity` output -> its input.
    aliases: HashMap<&'a str, &'a str>,
}

impl<'a> TensorIndex<'a> {
    pub(crate) fn new(graph: &'a GraphProto) -> Self {
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
    pub(crate) fn get(&self, name: &str) -> Option<&'a TensorProto> {
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

/// Refuses a tensor whose declared dims do not hold `expected` values.
fn check_declared(t: &TensorProto, expected: usize) -> Result<(), WeightsProblem> {
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
    Ok(())
}

/// The `size` bytes a tensor stores: its external data or its raw data (empty when its
/// values are in a typed field instead).
fn stored_bytes(t: &TensorProto, size: usize, base_dir: &Path) -> Result<Bytes, WeightsProblem> {
    if t.data_location == 1 {
        // Sizes come from checked dims of at most a few million values: no overflow.
        read_external(t, size as u64, base_dir)
    } else {
        Ok(t.raw_data.clone())
    }
}

/// Refuses decoded values of another count than declared.
fn check_count(t: &TensorProto, expected: usize, stored: usize) -> Result<(), WeightsProblem> {
    if stored != expected {
        return Err(WeightsProblem::DataSize {
            name: t.name.clone(),
            declared: expected,
            stored,
        });
    }
    Ok(())
}

/// Decodes a float tensor of `expected` values (float32, float16, bfloat16 or float64;
/// inline, raw or external data) into float32, refusing other element types, other sizes
/// and non-finite values.
pub(crate) fn tensor_to_f32(
    t: &TensorProto,
    expected: usize,
    base_dir: &Path,
) -> Result<Vec<f32>, WeightsProblem> {
    check_declared(t, expected)?;
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
    let raw = stored_bytes(t, expected * element_size, base_dir)?;
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
    check_count(t, expected, values.len())?;
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

/// Decodes an integer tensor of `expected` values (int8, uint8 or int32; inline, raw or
/// external data), refusing other element types and other sizes.
fn tensor_to_i32(
    t: &TensorProto,
    expected: usize,
    base_dir: &Path,
) -> Result<Vec<i32>, WeightsProblem> {
    check_declared(t, expected)?;
    let element_size = match t.data_type {
        data_type::INT8 | data_type::UINT8 => 1,
        data_type::INT32 => 4,
        other => {
            return Err(WeightsProblem::Graph(format!(
                "`{}` holds {} values where the network needs integers (int8, uint8 or int32)",
                t.name,
                data_type::name(other)
            )));
        }
    };
    let raw = stored_bytes(t, expected * element_size, base_dir)?;
    let values: Vec<i32> = match t.data_type {
        _ if raw.is_empty() => t.int32_data.clone(),
        data_type::INT8 => raw.iter().map(|&b| b as i8 as i32).collect(),
        data_type::UINT8 => raw.iter().map(|&b| b as i32).collect(),
        _ => le_chunks::<4>(&raw).map(i32::from_le_bytes).collect(),
    };
    check_count(t, expected, values.len())?;
    Ok(values)
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

/// A Conv node's attributes as the file states them (ONNX's defaults where absent): the one
/// reader of Conv attributes, for VGG19's checks and the feed-forward networks'.
#[derive(Debug)]
pub(crate) struct ConvAttributes {
    /// `kernel_shape`, when stated.
    pub(crate) kernel: Option<Vec<i64>>,
    /// `strides` (default `[1, 1]`).
    pub(crate) strides: Vec<i64>,
    /// `pads` as stated (`[top, left, bottom, right]`); `None` when absent.
    pub(crate) pads: Option<Vec<i64>>,
    /// `auto_pad` is `SAME_UPPER` or `SAME_LOWER` (the pads follow from the kernel).
    pub(crate) same_padding: bool,
    /// `dilations` (default `[1, 1]`).
    pub(crate) dilations: Vec<i64>,
    /// `group` (default 1).
    pub(crate) group: i64,
}

impl ConvAttributes {
    /// Reads `node`'s attributes; an `auto_pad` other than `NOTSET` or `SAME_*` is refused
    /// (the error names it).
    pub(crate) fn of(node: &NodeProto) -> Result<Self, String> {
        let find = |name: &str| node.attribute.iter().find(|a| a.name == name);
        let ints = |name: &str| find(name).map(|a| a.ints.clone());
        let same_padding = match find("auto_pad").map(|a| String::from_utf8_lossy(&a.s)) {
            None => false,
            Some(p) if p == "NOTSET" => false,
            Some(p) if p == "SAME_UPPER" || p == "SAME_LOWER" => true,
            Some(other) => return Err(format!("auto_pad {other}")),
        };
        Ok(ConvAttributes {
            kernel: ints("kernel_shape"),
            strides: ints("strides").unwrap_or(vec![1, 1]),
            pads: ints("pads"),
            same_padding,
            dilations: ints("dilations").unwrap_or(vec![1, 1]),
            group: find("group").map_or(1, |a| a.i),
        })
    }
}

/// What the feed-forward networks read of a Conv node ([`OnnxFile::conv_over`]).
#[derive(Debug)]
pub(crate) struct ConvNode {
    pub(crate) stride: usize,
    /// Zero padding `[top, left, bottom, right]`.
    pub(crate) pads: [usize; 4],
    pub(crate) groups: usize,
    /// The name of the bias input, when there is one.
    pub(crate) bias: Option<String>,
}

/// A decoded ONNX model and the folder its external data must stay in: the reader of the
/// feed-forward networks' initializers (by name, with their shapes checked).
#[derive(Debug)]
pub(crate) struct OnnxFile {
    model: ModelProto,
    base_dir: PathBuf,
}

impl OnnxFile {
    /// Reads and decodes the ONNX file at `path`; a file that is not ONNX is refused with
    /// `refuse`, which names what the file was read as.
    pub(crate) fn read(
        path: &Path,
        refuse: impl FnOnce(WeightsProblem) -> Error,
    ) -> Result<Self, Error> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::parse(Bytes::from(bytes), folder_of(path)).map_err(refuse)
    }

    /// Decodes an ONNX model; `base_dir` is where its external data is looked for.
    pub(crate) fn parse(bytes: Bytes, base_dir: &Path) -> Result<Self, WeightsProblem> {
        let model =
            ModelProto::decode(bytes).map_err(|e| WeightsProblem::NotOnnx(e.to_string()))?;
        if model.graph.as_ref().is_none_or(|g| g.node.is_empty()) {
            return Err(WeightsProblem::NotOnnx(
                "the model has no graph nodes".into(),
            ));
        }
        Ok(OnnxFile {
            model,
            base_dir: base_dir.to_path_buf(),
        })
    }

    /// The model's graph (it has nodes: checked by [`OnnxFile::parse`]).
    pub(crate) fn graph(&self) -> &GraphProto {
        self.model.graph.as_ref().expect("checked by parse")
    }

    /// The folder the model's external data must stay in.
    pub(crate) fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    /// The model's metadata value for `key`, if any.
    pub(crate) fn metadata(&self, key: &str) -> Option<&str> {
        (self.model.metadata_props.iter())
            .find(|p| p.key == key)
            .map(|p| p.value.as_str())
    }

    /// The node named `name` of type `op`.
    fn node(&self, op: &str, name: &str) -> Result<&NodeProto, WeightsProblem> {
        self.graph()
            .node
            .iter()
            .find(|n| n.op_type == op && n.name == name)
            .ok_or_else(|| WeightsProblem::Graph(format!("no {op} node named `{name}`")))
    }

    /// Whether the graph has a node named `name` of type `op`.
    pub(crate) fn has_node(&self, op: &str, name: &str) -> bool {
        self.node(op, name).is_ok()
    }

    /// The node of type `op` that computes the value `value`.
    fn producer(&self, op: &str, value: &str) -> Result<&NodeProto, WeightsProblem> {
        self.graph()
            .node
            .iter()
            .find(|n| n.op_type == op && n.output.first().is_some_and(|o| o == value))
            .ok_or_else(|| WeightsProblem::Graph(format!("no {op} node computes `{value}`")))
    }

    /// The constant tensor `name` with its declared dims.
    fn constant(&self, name: &str) -> Result<(&TensorProto, Vec<usize>), WeightsProblem> {
        let t = TensorIndex::new(self.graph())
            .get(name)
            .ok_or_else(|| WeightsProblem::MissingTensor { name: name.into() })?;
        let dims = t
            .dims
            .iter()
            .map(|&d| usize::try_from(d).ok().filter(|&d| d <= 1 << 24))
            .collect::<Option<Vec<usize>>>()
            .ok_or_else(|| WeightsProblem::Graph(format!("`{name}` has dims {:?}", t.dims)))?;
        Ok((t, dims))
    }

    /// A scalar (one value, any number of unit dims) float tensor.
    fn f32_scalar(&self, name: &str) -> Result<f32, WeightsProblem> {
        let (t, _) = self.constant(name)?;
        Ok(tensor_to_f32(t, 1, &self.base_dir)?[0])
    }

    /// The `QuantizeLinear` node `node`'s scale and zero point, and the zero point's type's
    /// range (`[-128, 127]` for int8, `[0, 255]` for uint8).
    pub(crate) fn quantization(&self, node: &str) -> Result<(f32, i32, [i32; 2]), WeightsProblem> {
        let n = self.node("QuantizeLinear", node)?;
        let (Some(scale), Some(zero)) = (n.input.get(1), n.input.get(2)) else {
            return Err(WeightsProblem::Graph(format!(
                "the QuantizeLinear node `{node}` has no scale or no zero point"
            )));
        };
        let scale = self.f32_scalar(scale)?;
        let (t, _) = self.constant(zero)?;
        let range = match t.data_type {
            data_type::INT8 => [-128, 127],
            data_type::UINT8 => [0, 255],
            other => {
                return Err(WeightsProblem::Graph(format!(
                    "the QuantizeLinear node `{node}` quantizes to {}, the network needs int8 or uint8",
                    data_type::name(other)
                )));
            }
        };
        let zero = tensor_to_i32(t, 1, &self.base_dir)?[0];
        if !(scale.is_finite() && scale > 0.0) {
            return Err(WeightsProblem::Graph(format!(
                "the QuantizeLinear node `{node}` has scale {scale}"
            )));
        }
        Ok((scale, zero, range))
    }

    /// The float values of `value`, computed by a `DequantizeLinear` node from an integer
    /// constant (`(q - zero point) * scale`, per tensor or per slice along its `axis`, as
    /// ONNX defines it), with the constant's dims, which must be `shape`.
    pub(crate) fn dequantized(
        &self,
        value: &str,
        shape: &[usize],
    ) -> Result<Vec<f32>, WeightsProblem> {
        let n = self.producer("DequantizeLinear", value)?;
        let source = n.input.first().map(String::as_str).unwrap_or_default();
        let (t, dims) = self.constant(source)?;
        if dims != shape {
            return Err(WeightsProblem::TensorShape {
                name: source.into(),
                dims: t.dims.clone(),
                expected: shape.to_vec(),
            });
        }
        let count: usize = shape.iter().product();
        let q = tensor_to_i32(t, count, &self.base_dir)?;
        let scale_name = n.input.get(1).map(String::as_str).unwrap_or_default();
        let (scale_tensor, scale_dims) = self.constant(scale_name)?;
        let scales: usize = scale_dims.iter().product();
        let scale = tensor_to_f32(scale_tensor, scales, &self.base_dir)?;
        let zero = match n.input.get(2).filter(|z| !z.is_empty()) {
            Some(z) => {
                let (zt, zd) = self.constant(z)?;
                tensor_to_i32(zt, zd.iter().product(), &self.base_dir)?
            }
            None => vec![0; scales],
        };
        let axis = n
            .attribute
            .iter()
            .find(|a| a.name == "axis")
            .map_or(1, |a| a.i);
        // Per tensor: one scale; per axis: one scale (and zero point) per slice along `axis`.
        let (slices, inner) = if scales == 1 {
            (1, count)
        } else {
            let rank = shape.len() as i64;
            let axis = if axis < 0 { axis + rank } else { axis };
            let ok = (0..rank).contains(&axis) && shape[axis as usize] == scales;
            if !ok {
                return Err(WeightsProblem::Graph(format!(
                    "the DequantizeLinear of `{source}` has {scales} scales along axis {axis} of {shape:?}"
                )));
            }
            (scales, shape[axis as usize + 1..].iter().product())
        };
        if zero.len() != scales {
            return Err(WeightsProblem::Graph(format!(
                "the DequantizeLinear of `{source}` has {} zero points for {scales} scales",
                zero.len()
            )));
        }
        Ok(q.iter()
            .enumerate()
            .map(|(i, &q)| {
                let s = (i / inner) % slices;
                (q - zero[s]) as f32 * scale[s]
            })
            .collect())
    }

    /// The attributes and the bias input of the Conv node over the weight `weight`, checked to
    /// be what the feed-forward networks use (square strides of 1 or 2, explicit pads of 0 to
    /// 4, no dilation).
    pub(crate) fn conv_over(&self, weight: &str) -> Result<ConvNode, WeightsProblem> {
        let node = self
            .graph()
            .node
            .iter()
            .find(|n| n.op_type == "Conv" && n.input.get(1).is_some_and(|i| i == weight))
            .ok_or_else(|| WeightsProblem::Graph(format!("no Conv node uses `{weight}`")))?;
        let bad =
            |what: String| WeightsProblem::Graph(format!("the Conv over `{weight}` has {what}"));
        let a = ConvAttributes::of(node).map_err(bad)?;
        let pads = a.pads.clone().unwrap_or(vec![0; 4]);
        let described = || {
            format!(
                "strides {:?}, pads {pads:?} and dilations {:?}",
                a.strides, a.dilations
            )
        };
        let stride = match a.strides.as_slice() {
            &[s, t] if s == t && (1..=2).contains(&s) => s as usize,
            _ => return Err(bad(described())),
        };
        if a.same_padding || pads.len() != 4 || pads.iter().any(|&p| !(0..=4).contains(&p)) {
            return Err(bad(described()));
        }
        if a.dilations.iter().any(|&d| d != 1) {
            return Err(bad(described()));
        }
        let groups = usize::try_from(a.group).map_err(|_| bad(described()))?;
        Ok(ConvNode {
            stride,
            // ONNX's pads are [x1_begin, x2_begin, x1_end, x2_end]: top, left, bottom, right.
            pads: [0, 1, 2, 3].map(|i| pads[i] as usize),
            groups,
            bias: node.input.get(2).filter(|b| !b.is_empty()).cloned(),
        })
    }

    /// Input `index` of the node named `name` of type `op`.
    pub(crate) fn node_input(
        &self,
        op: &str,
        name: &str,
        index: usize,
    ) -> Result<String, WeightsProblem> {
        self.node(op, name)?
            .input
            .get(index)
            .cloned()
            .ok_or_else(|| {
                WeightsProblem::Graph(format!("the {op} node `{name}` has no input {index}"))
            })
    }

    /// The dims of the constant tensor `name`.
    pub(crate) fn dims(&self, name: &str) -> Result<Vec<usize>, WeightsProblem> {
        Ok(self.constant(name)?.1)
    }

    /// The output value of the `DequantizeLinear` node over the constant `name`.
    pub(crate) fn dequantized_value(&self, name: &str) -> Result<String, WeightsProblem> {
        self.graph()
            .node
            .iter()
            .find(|n| n.op_type == "DequantizeLinear" && n.input.first().is_some_and(|i| i == name))
            .and_then(|n| n.output.first().cloned())
            .ok_or_else(|| {
                WeightsProblem::Graph(format!("no DequantizeLinear node reads `{name}`"))
            })
    }

    /// The float tensor `name` (an initializer, a `Constant`, or an `Identity` of one), which
    /// must have exactly the dims `shape`, as float32 values.
    pub(crate) fn f32_tensor(
        &self,
        name: &str,
        shape: &[usize],
    ) -> Result<Vec<f32>, WeightsProblem> {
        let index = TensorIndex::new(self.graph());
        let t = index
            .get(name)
            .ok_or_else(|| WeightsProblem::MissingTensor { name: name.into() })?;
        if t.dims.len() != shape.len() || t.dims.iter().zip(shape).any(|(&d, &s)| d != s as i64) {
            return Err(WeightsProblem::TensorShape {
                name: name.into(),
                dims: t.dims.clone(),
                expected: shape.to_vec(),
            });
        }
        tensor_to_f32(t, shape.iter().product(), &self.base_dir)
    }

    /// Checks that the graph's `Conv` over the weight `weight` has stride `stride` (both
    /// axes), no dilation and one group, and pads nothing itself (the network pads before).
    pub(crate) fn check_conv(&self, weight: &str, stride: usize) -> Result<(), WeightsProblem> {
        let ConvNode {
            stride: s,
            pads,
            groups,
            ..
        } = self.conv_over(weight)?;
        if s != stride || pads != [0; 4] || groups != 1 {
            return Err(WeightsProblem::Graph(format!(
                "the Conv over `{weight}` has stride {s}, pads {pads:?} and {groups} groups; the network needs stride {stride}, no pads and one group"
            )));
        }
        Ok(())
    }
}
