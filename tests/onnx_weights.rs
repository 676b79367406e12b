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
