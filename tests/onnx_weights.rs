//! Reading VGG19 weights from ONNX files: the forms that must be accepted (a torchvision-style
//! classifier export, Constant-node and float_data storage, float16) and everything that must
//! be refused with a typed error. Each file is built in the test itself.

mod common;

use std::path::{Path, PathBuf};

use prost::Message;
use style_transfer::onnx_proto::{
    AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto, data_type,
};
use style_transfer::{
    Backend, ConvWeights, Error, InputConvention, Layer, Pooling, Vgg19, VggWeights, WeightsProblem,
};

backend_tests!(torchvision_export_runs_on_backend);

/// Small deterministic weights of VGG19's real shapes.
fn patterned_weights(convention: InputConvention) -> VggWeights {
    let convs = Layer::ALL
        .iter()
        .map(|l| {
            let n = l.channels() * l.in_channels() * 9;
            ConvWeights {
                weight: (0..n)
                    .map(|i| ((i * 7919 + l.index()) % 1000) as f32 * 1e-4 - 0.05)
                    .collect(),
                bias: (0..l.channels()).map(|i| i as f32 * 0.01).collect(),
            }
        })
        .collect();
    VggWeights::new(convs, convention).unwrap()
}

/// torchvision's `features.N` index of each conv.
const TORCHVISION_INDEX: [usize; 16] = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34];

fn node(op: &str, name: &str, inputs: &[&str], attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![format!("{name}_out")],
        name: name.into(),
        op_type: op.into(),
        attribute,
        domain: String::new(),
    }
}

/// A model laid out as `torch.onnx.export(torchvision.models.vgg19())` lays it out: a
/// dynamic batch, `features.N.weight` initializers, ReLU and MaxPool nodes, then an average
/// pool, Flatten and a three-Gemm classifier head; no convention metadata.
fn torchvision_like(weights: &VggWeights) -> ModelProto {
    let mut nodes = Vec::new();
    let mut initializer = Vec::new();
    let mut current = "input".to_string();
    for (layer, idx) in Layer::ALL.into_iter().zip(TORCHVISION_INDEX) {
        let conv = weights.conv(layer);
        let (w, b) = (
            format!("features.{idx}.weight"),
            format!("features.{idx}.bias"),
        );
        initializer.push(TensorProto::from_f32(
            &w,
            &[layer.channels(), layer.in_channels(), 3, 3],
            &conv.weight,
        ));
        initializer.push(TensorProto::from_f32(&b, &[layer.channels()], &conv.bias));
        let attrs = vec![
            AttributeProto::ints("dilations", &[1, 1]),
            AttributeProto::int("group", 1),
            AttributeProto::ints("kernel_shape", &[3, 3]),
            AttributeProto::ints("pads", &[1, 1, 1, 1]),
            AttributeProto::ints("strides", &[1, 1]),
        ];
        let conv_node = node(
            "Conv",
            &format!("/features/features.{idx}/Conv"),
            &[&current, &w, &b],
            attrs,
        );
        let relu = node(
            "Relu",
            &format!("/features/features.{}/Relu", idx + 1),
            &[&conv_node.output[0]],
            vec![],
        );
        current = relu.output[0].clone();
        nodes.extend([conv_node, relu]);
        if layer.pools_after() || layer == Layer::Conv5_4 {
            let attrs = vec![
                AttributeProto::ints("kernel_shape", &[2, 2]),
                AttributeProto::ints("strides", &[2, 2]),
            ];
            let pool = node(
                "MaxPool",
                &format!("/features/features.{}/MaxPool", idx + 2),
                &[&current],
                attrs,
            );
            current = pool.output[0].clone();
            nodes.push(pool);
        }
    }
    let avg = node(
        "GlobalAveragePool",
        "/avgpool/GlobalAveragePool",
        &[&current],
        vec![],
    );
    let flat = node(
        "Flatten",
        "/Flatten",
        &[&avg.output[0]],
        vec![AttributeProto::int("axis", 1)],
    );
    let mut head_in = flat.output[0].clone();
    nodes.extend([avg, flat]);
    for (i, (out, inp)) in [(0usize, (8usize, 512usize)), (3, (8, 8)), (6, (10, 8))]
        .into_iter()
        .enumerate()
    {
        let (w, b) = (
            format!("classifier.{out}.weight"),
            format!("classifier.{out}.bias"),
        );
        initializer.push(TensorProto::from_f32(
            &w,
            &[inp.0, inp.1],
            &vec![0.01; inp.0 * inp.1],
        ));
        initializer.push(TensorProto::from_f32(&b, &[inp.0], &vec![0.0; inp.0]));
        let gemm = node(
            "Gemm",
            &format!("/classifier/classifier.{out}/Gemm"),
            &[&head_in, &w, &b],
            vec![AttributeProto::int("transB", 1)],
        );
        head_in = gemm.output[0].clone();
        nodes.push(gemm);
        if i < 2 {
            let relu = node(
                "Relu",
                &format!("/classifier/classifier.{}/Relu", out + 1),
                &[&head_in],
                vec![],
            );
            head_in = relu.output[0].clone();
            nodes.push(relu);
        }
    }
    ModelProto {
        ir_version: 8,
        producer_name: "pytorch".into(),
        producer_version: "2.15.0".into(),
        graph: Some(GraphProto {
            node: nodes,
            name: "main_graph".into(),
            initializer,
            input: vec![ValueInfoProto::f32_tensor(
                "input",
                &[
                    (None, "batch_size"),
                    (Some(3), ""),
                    (Some(224), ""),
                    (Some(224), ""),
                ],
            )],
            output: vec![ValueInfoProto::f32_tensor(
                &head_in,
                &[(None, "batch_size"), (Some(10), "")],
            )],
        }),
        opset_import: vec![style_transfer::onnx_proto::OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
        ..Default::default()
    }
}

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn refused(path: &Path) -> WeightsProblem {
    match VggWeights::from_onnx(path) {
        Err(Error::Weights { path: p, problem }) => {
            assert_eq!(p, path, "the error names the file");
            problem
        }
        other => panic!("expected a weights error, got {other:?}"),
    }
}

fn torchvision_export_runs_on_backend(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let original = patterned_weights(InputConvention::Torchvision);
    let path = write(
        &dir,
        "vgg19.onnx",
        &torchvision_like(&original).encode_to_vec(),
    );
    let loaded = VggWeights::from_onnx(&path).unwrap();
    assert_eq!(loaded, original);
    assert_eq!(
        loaded.convention(),
        InputConvention::Torchvision,
        "no metadata means a torchvision export"
    );
    let device = backend.device().unwrap();
    let vgg = Vgg19::new(&loaded, Pooling::Max, &device);
    let input = style_transfer::burn::tensor::Tensor::<4>::zeros([1, 3, 32, 24], &device);
    let features = vgg
        .forward(input, &[Layer::Conv1_1, Layer::Conv5_1])
        .unwrap();
    assert_eq!(
        features.get(Layer::Conv1_1).unwrap().dims(),
        [1, 64, 32, 24]
    );
    assert_eq!(features.get(Layer::Conv5_1).unwrap().dims(), [1, 512, 2, 1]);
}

#[test]
fn converted_file_round_trips_with_caffe_convention() {
    let dir = tempfile::tempdir().unwrap();
    let original = patterned_weights(InputConvention::Caffe);
    let path = write(&dir, "ours.onnx", &original.to_onnx_bytes());
    assert_eq!(VggWeights::from_onnx(&path).unwrap(), original);
}

#[test]
fn constant_nodes_float_data_and_float16_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let original = patterned_weights(InputConvention::Torchvision);
    let mut model = torchvision_like(&original);
    let graph = model.graph.as_mut().unwrap();
    // conv1_1's weight as a Constant node with float_data; conv1_2's bias as float16.
    let w = graph
        .initializer
        .iter()
        .position(|t| t.name == "features.0.weight")
        .unwrap();
    let mut tensor = graph.initializer.remove(w);
    tensor.float_data = original.conv(Layer::Conv1_1).weight.clone();
    tensor.raw_data = Default::default();
    let constant = NodeProto {
        output: vec!["features.0.weight".into()],
        op_type: "Constant".into(),
        attribute: vec![AttributeProto {
            name: "value".into(),
            t: Some(tensor),
            r#type: 4,
            ..Default::default()
        }],
        ..Default::default()
    };
    graph.node.insert(0, constant);
    let b = graph
        .initializer
        .iter_mut()
        .find(|t| t.name == "features.2.bias")
        .unwrap();
    let halves: Vec<u8> = original
        .conv(Layer::Conv1_2)
        .bias
        .iter()
        .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
        .collect();
    b.data_type = data_type::FLOAT16;
    b.raw_data = halves.into();
    let path = write(&dir, "mixed.onnx", &model.encode_to_vec());
    let loaded = VggWeights::from_onnx(&path).unwrap();
    assert_eq!(loaded.conv(Layer::Conv1_1), original.conv(Layer::Conv1_1));
    for (a, b) in loaded
        .conv(Layer::Conv1_2)
        .bias
        .iter()
        .zip(&original.conv(Layer::Conv1_2).bias)
    {
        assert!(
            (a - b).abs() <= 1e-3 * b.abs().max(1.0),
            "float16 bias {a} vs {b}"
        );
    }
}

#[test]
fn missing_file_is_an_io_error() {
    let err = VggWeights::from_onnx("/nonexistent/vgg19.onnx").unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("/nonexistent/vgg19.onnx"));
}

#[test]
fn not_onnx_and_truncated_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let text = write(&dir, "notes.onnx", b"this is a text file, not a model\n");
    assert!(matches!(refused(&text), WeightsProblem::NotOnnx(_)));
    let empty = write(&dir, "empty.onnx", b"");
    assert!(matches!(refused(&empty), WeightsProblem::NotOnnx(_)));
    let bytes = patterned_weights(InputConvention::Caffe).to_onnx_bytes();
    for fraction in [2, 3, 10] {
        let cut = write(&dir, "cut.onnx", &bytes[..bytes.len() / fraction]);
        assert!(
            matches!(refused(&cut), WeightsProblem::NotOnnx(_)),
            "cut at 1/{fraction}"
        );
    }
}

/// Applies `edit` to a valid torchvision-like model and returns why it is refused.
fn refusal_after(edit: impl FnOnce(&mut GraphProto)) -> WeightsProblem {
    let dir = tempfile::tempdir().unwrap();
    let mut model = torchvision_like(&patterned_weights(InputConvention::Torchvision));
    edit(model.graph.as_mut().unwrap());
    refused(&write(&dir, "edited.onnx", &model.encode_to_vec()))
}

#[test]
fn too_few_convs_are_refused() {
    // Drop the last conv (a VGG19 with 15 convs, like a truncated export).
    let problem = refusal_after(|g| {
        let last = g.node.iter().rposition(|n| n.op_type == "Conv").unwrap();
        g.node.remove(last);
    });
    assert_eq!(problem, WeightsProblem::ConvCount { found: 15 });
}

#[test]
fn wrong_kernel_shape_is_refused() {
    let problem = refusal_after(|g| {
        let w = g
            .initializer
            .iter_mut()
            .find(|t| t.name == "features.5.weight")
            .unwrap();
        *w = TensorProto::from_f32("features.5.weight", &[128, 64, 1, 1], &vec![0.0; 128 * 64]);
    });
    assert!(
        matches!(
            problem,
            WeightsProblem::ConvShape {
                index: 2,
                layer: "conv2_1",
                ..
            }
        ),
        "{problem:?}"
    );
}

#[test]
fn strided_conv_is_refused() {
    let problem = refusal_after(|g| {
        let conv = g.node.iter_mut().find(|n| n.op_type == "Conv").unwrap();
        conv.attribute.retain(|a| a.name != "strides");
        conv.attribute
            .push(AttributeProto::ints("strides", &[2, 2]));
    });
    assert!(
        matches!(problem, WeightsProblem::ConvAttribute { index: 0, .. }),
        "{problem:?}"
    );
}

#[test]
fn missing_initializer_is_refused() {
    let problem = refusal_after(|g| g.initializer.retain(|t| t.name != "features.10.weight"));
    assert_eq!(
        problem,
        WeightsProblem::MissingInitializer {
            index: 4,
            layer: "conv3_1",
            name: "features.10.weight".into()
        }
    );
}

#[test]
fn non_float_weights_are_refused() {
    let problem = refusal_after(|g| {
        let w = g
            .initializer
            .iter_mut()
            .find(|t| t.name == "features.0.weight")
            .unwrap();
        w.data_type = data_type::INT64;
        w.raw_data = vec![0u8; 64 * 3 * 9 * 8].into();
    });
    assert_eq!(
        problem,
        WeightsProblem::NotFloat {
            name: "features.0.weight".into(),
            data_type: "INT64".into()
        }
    );
}

#[test]
fn nan_weights_are_refused() {
    let problem = refusal_after(|g| {
        let w = g
            .initializer
            .iter_mut()
            .find(|t| t.name == "features.34.weight")
            .unwrap();
        let mut raw = w.raw_data.to_vec();
        raw[400..404].copy_from_slice(&f32::NAN.to_le_bytes());
        w.raw_data = raw.into();
    });
    assert_eq!(
        problem,
        WeightsProblem::NonFinite {
            name: "features.34.weight".into()
        }
    );
}

#[test]
fn short_tensor_data_is_refused() {
    let problem = refusal_after(|g| {
        let b = g
            .initializer
            .iter_mut()
            .find(|t| t.name == "features.2.bias")
            .unwrap();
        b.raw_data = b.raw_data.slice(..100);
    });
    assert!(
        matches!(
            problem,
            WeightsProblem::DataSize {
                declared: 64,
                stored: 25,
                ..
            }
        ),
        "{problem:?}"
    );
}

/// Weights whose biases repeat, as a freshly built torchvision VGG19 has (all zero), so an
/// exporter that deduplicates initializers keeps one copy.
fn weights_with_zero_biases() -> VggWeights {
    let original = patterned_weights(InputConvention::Torchvision);
    let convs = Layer::ALL
        .iter()
        .map(|l| ConvWeights {
            weight: original.conv(*l).weight.clone(),
            bias: vec![0.0; l.channels()],
        })
        .collect();
    VggWeights::new(convs, InputConvention::Torchvision).unwrap()
}

fn identity(input: &str, output: &str) -> NodeProto {
    NodeProto {
        input: vec![input.into()],
        output: vec![output.into()],
        name: format!("Identity_{output}"),
        op_type: "Identity".into(),
        ..Default::default()
    }
}

/// PyTorch's exporter keeps one copy of identical initializers and routes the others through
/// `Identity` nodes (`Identity(features.19.bias) -> features.34.bias`); chains of them are
/// followed too.
#[test]
fn identity_nodes_resolve_to_their_initializer() {
    let dir = tempfile::tempdir().unwrap();
    let original = weights_with_zero_biases();
    let mut model = torchvision_like(&original);
    let graph = model.graph.as_mut().unwrap();
    graph
        .initializer
        .retain(|t| t.name != "features.34.bias" && t.name != "features.32.bias");
    graph.node.splice(
        0..0,
        [
            identity("features.19.bias", "features.34.bias"),
            // A chain of two: features.21.bias -> onnx::Identity_7 -> features.32.bias.
            identity("onnx::Identity_7", "features.32.bias"),
            identity("features.21.bias", "onnx::Identity_7"),
        ],
    );
    let path = write(&dir, "dedup.onnx", &model.encode_to_vec());
    let loaded = VggWeights::from_onnx(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded, original);
}

#[test]
fn identity_cycles_are_refused_not_followed_forever() {
    let problem = refusal_after(|g| {
        g.initializer.retain(|t| t.name != "features.34.bias");
        g.node.splice(
            0..0,
            [
                identity("loop_a", "features.34.bias"),
                identity("loop_b", "loop_a"),
                identity("loop_a", "loop_b"),
            ],
        );
    });
    assert_eq!(
        problem,
        WeightsProblem::MissingInitializer {
            index: 15,
            layer: "conv5_4",
            name: "features.34.bias".into()
        }
    );
}

/// Moves every conv tensor of `model` into external data: `location(name)` says where each
/// goes (relative to `dir`); the files are written there, one after another per location.
fn externalize(model: &mut ModelProto, dir: &Path, location: impl Fn(&str) -> String) {
    let mut files: std::collections::HashMap<String, Vec<u8>> = Default::default();
    for t in &mut model.graph.as_mut().unwrap().initializer {
        if !t.name.starts_with("features.") {
            continue;
        }
        let loc = location(&t.name);
        let data = files.entry(loc.clone()).or_default();
        let offset = data.len();
        data.extend_from_slice(&t.raw_data);
        t.external_data = vec![
            entry("location", &loc),
            entry("offset", &offset.to_string()),
            entry("length", &t.raw_data.len().to_string()),
        ];
        t.data_location = 1;
        t.raw_data = Default::default();
    }
    for (loc, data) in files {
        let path = dir.join(&loc);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, data).unwrap();
    }
}

fn entry(key: &str, value: &str) -> style_transfer::onnx_proto::StringStringEntryProto {
    style_transfer::onnx_proto::StringStringEntryProto {
        key: key.into(),
        value: value.into(),
    }
}

/// Sets the external data fields of tensor `name` (`None` removes a field).
fn set_external(model: &mut ModelProto, name: &str, key: &str, value: Option<&str>) {
    let t = model
        .graph
        .as_mut()
        .unwrap()
        .initializer
        .iter_mut()
        .find(|t| t.name == name)
        .unwrap();
    t.external_data.retain(|e| e.key != key);
    if let Some(v) = value {
        t.external_data.push(entry(key, v));
    }
}

/// A model folder `<tmp>/model/` holding `vgg19.onnx` with every conv tensor in
/// `vgg19.onnx.data`, beside a folder `<tmp>/elsewhere/` holding a copy of that data file.
struct ExternalModel {
    root: tempfile::TempDir,
    model: ModelProto,
    original: VggWeights,
}

impl ExternalModel {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let original = patterned_weights(InputConvention::Torchvision);
        let mut model = torchvision_like(&original);
        let dir = root.path().join("model");
        std::fs::create_dir_all(&dir).unwrap();
        externalize(&mut model, &dir, |_| "vgg19.onnx.data".into());
        std::fs::create_dir_all(root.path().join("elsewhere")).unwrap();
        std::fs::copy(
            dir.join("vgg19.onnx.data"),
            root.path().join("elsewhere/w.bin"),
        )
        .unwrap();
        ExternalModel {
            root,
            model,
            original,
        }
    }

    fn dir(&self) -> PathBuf {
        self.root.path().join("model")
    }

    fn path(&self) -> PathBuf {
        let path = self.dir().join("vgg19.onnx");
        std::fs::write(&path, self.model.encode_to_vec()).unwrap();
        path
    }

    /// Points conv1_1's weight at `location` and returns why the file is refused.
    fn refusal_with_location(&mut self, location: &str) -> WeightsProblem {
        set_external(
            &mut self.model,
            "features.0.weight",
            "location",
            Some(location),
        );
        refused(&self.path())
    }
}

#[test]
fn external_data_inside_the_model_folder_loads() {
    let root = tempfile::tempdir().unwrap();
    let original = patterned_weights(InputConvention::Torchvision);
    let mut model = torchvision_like(&original);
    // Biases in a subfolder, weights beside the model.
    externalize(&mut model, root.path(), |name| {
        if name.ends_with("bias") {
            "data/biases.bin".into()
        } else {
            "./vgg19.onnx.data".into()
        }
    });
    // A tensor without `length` reads its declared size only, even with more data after it.
    set_external(&mut model, "features.34.bias", "length", None);
    let mut biases = std::fs::OpenOptions::new()
        .append(true)
        .open(root.path().join("data/biases.bin"))
        .unwrap();
    std::io::Write::write_all(&mut biases, &[0x7f; 4096]).unwrap();
    // A symbolic link that stays inside the folder is fine.
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("vgg19.onnx.data", root.path().join("link.bin")).unwrap();
        set_external(
            &mut model,
            "features.0.weight",
            "location",
            Some("link.bin"),
        );
    }
    let path = write(&root, "vgg19.onnx", &model.encode_to_vec());
    assert_eq!(
        VggWeights::from_onnx(&path).unwrap_or_else(|e| panic!("{e}")),
        original
    );
    // A model named by a relative path (with `..` in it) reads its data beside it too.
    let relative = ExternalModel::new();
    let path = relative.path();
    let cwd = std::env::current_dir().unwrap();
    let from_cwd = pathdiff(&path, &cwd);
    assert_eq!(VggWeights::from_onnx(&from_cwd).unwrap(), relative.original);
}

/// `path` relative to `base` (both absolute), through `..` as needed.
fn pathdiff(path: &Path, base: &Path) -> PathBuf {
    let common = path
        .components()
        .zip(base.components())
        .take_while(|(a, b)| a == b)
        .count();
    let mut out = PathBuf::new();
    for _ in base.components().skip(common) {
        out.push("..");
    }
    for c in path.components().skip(common) {
        out.push(c);
    }
    out
}

#[test]
fn external_data_outside_the_model_folder_is_refused() {
    let mut m = ExternalModel::new();
    let elsewhere = m.root.path().join("elsewhere/w.bin");
    for location in [
        "../elsewhere/w.bin".to_string(),
        "sub/../../elsewhere/w.bin".to_string(),
        elsewhere.display().to_string(),
        "/etc/passwd".to_string(),
    ] {
        let problem = m.refusal_with_location(&location);
        assert_eq!(
            problem,
            WeightsProblem::ExternalOutsideModelDir {
                name: "features.0.weight".into(),
                location: location.clone()
            },
            "{location}"
        );
        assert!(problem.to_string().contains("outside the model's folder"));
    }
}

#[cfg(unix)]
#[test]
fn external_data_through_a_symlink_leading_outside_is_refused() {
    let mut m = ExternalModel::new();
    std::os::unix::fs::symlink(m.root.path().join("elsewhere/w.bin"), m.dir().join("w.bin"))
        .unwrap();
    assert_eq!(
        m.refusal_with_location("w.bin"),
        WeightsProblem::ExternalOutsideModelDir {
            name: "features.0.weight".into(),
            location: "w.bin".into()
        }
    );
    // A symlinked folder counts the same.
    std::os::unix::fs::symlink(m.root.path().join("elsewhere"), m.dir().join("sub")).unwrap();
    assert!(matches!(
        m.refusal_with_location("sub/w.bin"),
        WeightsProblem::ExternalOutsideModelDir { .. }
    ));
}

/// Special files would have the old reader loop forever (`/dev/zero`, until memory runs out)
/// or block (a FIFO with no writer).
#[cfg(unix)]
#[test]
fn external_data_in_special_files_is_refused() {
    let mut m = ExternalModel::new();
    assert!(matches!(
        m.refusal_with_location("/dev/zero"),
        WeightsProblem::ExternalOutsideModelDir { .. }
    ));
    std::os::unix::fs::symlink("/dev/zero", m.dir().join("zero.bin")).unwrap();
    assert!(matches!(
        m.refusal_with_location("zero.bin"),
        WeightsProblem::ExternalOutsideModelDir { .. }
    ));
    let fifo = m.dir().join("pipe.bin");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    assert_eq!(
        m.refusal_with_location("pipe.bin"),
        WeightsProblem::ExternalNotAFile {
            name: "features.0.weight".into(),
            location: "pipe.bin".into()
        }
    );
}

#[test]
fn external_data_in_a_directory_or_missing_file_is_refused() {
    let mut m = ExternalModel::new();
    std::fs::create_dir_all(m.dir().join("subdir")).unwrap();
    for location in ["subdir", ".", ""] {
        assert_eq!(
            m.refusal_with_location(location),
            WeightsProblem::ExternalNotAFile {
                name: "features.0.weight".into(),
                location: location.into()
            },
            "{location:?}"
        );
    }
    assert!(matches!(
        m.refusal_with_location("missing.bin"),
        WeightsProblem::ExternalUnreadable { location, .. } if location == "missing.bin"
    ));
}

#[test]
fn external_data_beyond_the_file_is_refused() {
    let mut m = ExternalModel::new();
    let size = std::fs::metadata(m.dir().join("vgg19.onnx.data"))
        .unwrap()
        .len();
    // conv5_4's bias is the last 2048 bytes; start it 8 bytes too late.
    set_external(
        &mut m.model,
        "features.34.bias",
        "offset",
        Some(&(size - 2048 + 8).to_string()),
    );
    assert_eq!(
        refused(&m.path()),
        WeightsProblem::ExternalRange {
            name: "features.34.bias".into(),
            location: "vgg19.onnx.data".into(),
            offset: size - 2048 + 8,
            length: 2048,
            file_size: size,
        }
    );
    set_external(
        &mut m.model,
        "features.34.bias",
        "offset",
        Some("18446744073709551615"),
    );
    assert!(matches!(
        refused(&m.path()),
        WeightsProblem::ExternalRange { .. }
    ));
}

#[test]
fn external_length_must_match_the_declared_shape() {
    let mut m = ExternalModel::new();
    for length in ["2044", "2052", "99999999999"] {
        set_external(&mut m.model, "features.34.bias", "length", Some(length));
        assert_eq!(
            refused(&m.path()),
            WeightsProblem::ExternalLength {
                name: "features.34.bias".into(),
                length: length.parse().unwrap(),
                expected: 2048,
            },
            "length {length}"
        );
    }
}

/// A bias declaring a huge shape is refused from its dims, before any data is read.
#[test]
fn oversized_bias_dims_are_refused_before_reading() {
    let mut m = ExternalModel::new();
    let t = m
        .model
        .graph
        .as_mut()
        .unwrap()
        .initializer
        .iter_mut()
        .find(|t| t.name == "features.0.bias")
        .unwrap();
    t.dims = vec![1 << 40];
    t.external_data.retain(|e| e.key != "length");
    assert_eq!(
        refused(&m.path()),
        WeightsProblem::TensorSize {
            name: "features.0.bias".into(),
            dims: vec![1 << 40],
            expected: 64,
        }
    );
}

/// Writes the seed corpus of the `onnx_weights` fuzz target (docs/fuzzing.md): small models of
/// VGG19's layout whose tensors are cut short (a valid VGG19 is 80 MB), with Constant and
/// Identity nodes, float16 and external data into the fuzz target's 7168-byte
/// `vgg19.onnx.data` (conv1_1's weight at 0, its bias at 6912); each is checked to get as
/// far as it should.
#[test]
fn fuzz_seeds_are_current() {
    let corpus = common::FuzzSeeds::new("onnx_weights");
    let dir = corpus.path();
    let original = weights_with_zero_biases();
    let full = torchvision_like(&original);
    // Every tensor but conv1_1's cut to 8 values: the graph walk reaches conv1_2's data.
    let cut = |mut model: ModelProto| {
        for t in &mut model.graph.as_mut().unwrap().initializer {
            if t.name != "features.0.weight" && t.name != "features.0.bias" {
                t.raw_data = t.raw_data.slice(..32.min(t.raw_data.len()));
            }
        }
        model
    };
    let mut seeds: Vec<(&str, ModelProto)> = vec![("torchvision_cut.onnx", cut(full.clone()))];

    let mut ours: ModelProto = prost::Message::decode(&original.to_onnx_bytes()[..]).unwrap();
    ours.metadata_props[0].value = "caffe".into();
    seeds.push(("ours_cut.onnx", {
        let mut m = ours;
        for t in &mut m.graph.as_mut().unwrap().initializer {
            if !t.name.starts_with("conv1_1.") {
                t.raw_data = t.raw_data.slice(..32);
            }
        }
        m
    }));

    let mut mixed = cut(full.clone());
    {
        let g = mixed.graph.as_mut().unwrap();
        g.initializer
            .retain(|t| t.name != "features.2.bias" && t.name != "features.5.bias");
        let mut w = g.initializer.remove(0); // features.0.weight, as a Constant with float_data
        w.float_data = original.conv(Layer::Conv1_1).weight.clone();
        w.raw_data = Default::default();
        let b = g
            .initializer
            .iter_mut()
            .find(|t| t.name == "features.0.bias")
            .unwrap();
        b.data_type = data_type::FLOAT16;
        b.raw_data = vec![0u8; 128].into();
        g.node.splice(
            0..0,
            [
                NodeProto {
                    output: vec!["features.0.weight".into()],
                    op_type: "Constant".into(),
                    attribute: vec![AttributeProto {
                        name: "value".into(),
                        t: Some(w),
                        r#type: 4,
                        ..Default::default()
                    }],
                    ..Default::default()
                },
                identity("features.0.bias", "features.2.bias"),
                identity("onnx::Identity_3", "features.5.bias"),
                identity("features.0.bias", "onnx::Identity_3"),
            ],
        );
    }
    seeds.push(("constant_identity_f16.onnx", mixed));

    let mut external = cut(full);
    {
        let g = external.graph.as_mut().unwrap();
        for t in &mut g.initializer {
            let (offset, length) = match t.name.as_str() {
                "features.0.weight" => (0, 6912),
                "features.0.bias" => (6912, 256),
                "features.2.weight" => (0, 147456), // beyond the data file
                _ => continue,
            };
            t.external_data = vec![
                entry("location", "vgg19.onnx.data"),
                entry("offset", &offset.to_string()),
                entry("length", &length.to_string()),
            ];
            t.data_location = 1;
            t.raw_data = Default::default();
        }
    }
    seeds.push(("external.onnx", external));

    let data = tempfile::tempdir().unwrap();
    let floats: Vec<u8> = (0..7168 / 4)
        .flat_map(|i| ((i % 97) as f32 * 1e-3 - 0.05).to_le_bytes())
        .collect();
    std::fs::write(data.path().join("vgg19.onnx.data"), floats).unwrap();
    for (name, model) in &seeds {
        let bytes = model.encode_to_vec();
        let problem = VggWeights::from_onnx_bytes(&bytes, data.path()).unwrap_err();
        assert!(
            matches!(
                &problem,
                WeightsProblem::DataSize { name, .. } | WeightsProblem::ExternalRange { name, .. }
                    if name.contains("features.2.") || name.contains("conv1_2.")
            ),
            "{name}: {problem:?}"
        );
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    // A file cut inside its graph, and one that is not a model.
    let bytes = patterned_weights(InputConvention::Caffe).to_onnx_bytes();
    std::fs::write(dir.join("truncated.onnx"), &bytes[..6000]).unwrap();
    std::fs::write(dir.join("not_onnx.onnx"), b"not a model\n").unwrap();
    assert_eq!(corpus.finish(), 6);
}
