#!/usr/bin/env python3
"""PyTorch side of the side-by-side benchmarks: the cost of one Gatys iteration.

Measures, on the CPU or a CUDA GPU (--device), the wall time of one iteration of neural style transfer with the same
network, weights, images, losses and clamping as the Rust crate:

* VGG19 features up to conv5_1 (3x3 convs with padding 1, ReLU, 2x2 max-pool stride 2),
  weights read with the `onnx` package from the project's converted file (or any ONNX file
  whose first 16 Conv nodes in graph order are VGG19's), requires_grad False;
* content loss 0.5 * sum((F - P)^2) at conv4_2 (post-ReLU, as in the crate);
* style loss at conv1_1, conv2_1, conv3_1, conv4_1, conv5_1, weight 1/5 each,
  E = sum((G - A)^2) / (4 N^2 M^2) with G = F F^T;
* total = alpha * content + beta * style, alpha = 1, beta = 1e3;
* content and style images resized to exactly --size x --size (bicubic) and converted in the
  file's input convention (metadata `style_transfer.input_convention`: caffe or torchvision);
  x starts from the content image.

Modes:
* adam:       forward, backward, torch.optim.Adam step (lr 10, eps 1e-8), clamp x into the
              valid pixel range;
* lbfgs-eval: one function evaluation as an L-BFGS closure does it: forward, backward,
              gradient copied to a NumPy array (x is not changed);
* run:        a whole run, torch.optim.LBFGS (history 100, strong-Wolfe line search,
              tolerances off, so it always does --iterations iterations), x clamped into the
              pixel range before each evaluation as the crate projects it; reports the wall
              time, the evaluations and the final total loss.

On CUDA, TF32 is off (full float32, as the crate computes) unless --tf32 default leaves
PyTorch's defaults (cuDNN's convolutions in TF32), and each timed iteration ends with
the loss read back to the host (a synchronization). Every mode reports the time from the
process start (START_NS in the environment, nanoseconds since the epoch, set by the caller just
before starting it) to the end of the first iteration, and the GPU's peak allocated memory.

Prints one JSON line. total_loss_first is the loss of the very first evaluation (x = content
image, before warm-up), total_loss_last that of the last timed one.

This is only a comparison for benchmarking: nothing in the project depends on it, on Python
or on PyTorch. Setup: python3 -m venv benches/.venv &&
benches/.venv/bin/pip install torch numpy onnx pillow
"""

import time

T_IMPORT = time.time_ns()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from onnx import numpy_helper  # noqa: E402
from PIL import Image  # noqa: E402

VGG19_BLOCKS = [2, 2, 4, 4, 4]  # convs per block; a 2x2 max-pool follows each block
CONV_NAMES = [f"conv{b + 1}_{i + 1}" for b, n in enumerate(VGG19_BLOCKS) for i in range(n)]
CONTENT_LAYER = "conv4_2"
STYLE_LAYERS = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
LAST_LAYER = "conv5_1"
ALPHA, BETA = 1.0, 1e3
CAFFE_MEAN_BGR = [103.939, 116.779, 123.68]
TV_MEAN = [0.485, 0.456, 0.406]
TV_STD = [0.229, 0.224, 0.225]
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
IMAGES = os.path.join(ROOT, "examples", "images")
DEFAULT_ONNX = [os.path.join(ROOT, "weights", "cache", "vgg19-caffe.onnx")]


def load_onnx(path):
    """Returns ({conv name: (weight, bias)} for the 16 convs, input convention)."""
    model = onnx.load(path)
    graph = model.graph
    tensors = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:  # weights may also be Constant nodes
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    tensors[node.output[0]] = numpy_helper.to_array(attr.t)
    convs = [n for n in graph.node if n.op_type == "Conv"]
    if len(convs) != 16:
        raise SystemExit(f"{path}: {len(convs)} Conv nodes, VGG19 has 16")
    weights = {}
    in_ch = 3
    for name, node in zip(CONV_NAMES, convs):
        w = tensors[node.input[1]].astype(np.float32)
        b = tensors[node.input[2]].astype(np.float32)
        if w.shape[1:] != (in_ch, 3, 3) or b.shape != (w.shape[0],):
            raise SystemExit(f"{path}: {name} has shape {w.shape}, bias {b.shape}")
        in_ch = w.shape[0]
        weights[name] = (torch.from_numpy(w), torch.from_numpy(b))  # requires_grad False
    meta = {p.key: p.value for p in model.metadata_props}
    convention = meta.get("style_transfer.input_convention", "torchvision")
    if convention not in ("caffe", "torchvision"):
        raise SystemExit(f"{path}: unknown input convention {convention!r}")
    return weights, convention


def features(x, weights, wanted):
    """Post-ReLU activations of the layers in `wanted`, up to conv5_1."""
    out = {}
    names = iter(CONV_NAMES)
    for block, n in enumerate(VGG19_BLOCKS):
        if block > 0:
            x = F.max_pool2d(x, 2, 2)
        for _ in range(n):
            name = next(names)
            w, b = weights[name]
            x = F.relu(F.conv2d(x, w, b, padding=1))
            if name in wanted:
                out[name] = x
            if name == LAST_LAYER:
                return out
    return out


def load_image(path, size, convention):
    """[1, 3, size, size] float32 tensor in the convention, and per-channel (lo, hi) tensors."""
    img = Image.open(path).convert("RGB").resize((size, size), Image.BICUBIC)
    rgb = torch.from_numpy(np.asarray(img, dtype=np.float32)).permute(2, 0, 1)  # 3,H,W 0-255
    if convention == "caffe":
        mean = torch.tensor(CAFFE_MEAN_BGR).view(3, 1, 1)
        x = rgb.flip(0) - mean  # BGR
        lo, hi = -mean, 255.0 - mean
    else:
        mean = torch.tensor(TV_MEAN).view(3, 1, 1)
        std = torch.tensor(TV_STD).view(3, 1, 1)
        x = (rgb / 255.0 - mean) / std
        lo, hi = -mean / std, (1.0 - mean) / std
    return x.unsqueeze(0).contiguous(), lo.unsqueeze(0), hi.unsqueeze(0)


def gram(f):
    n = f.shape[1]
    f = f.reshape(n, -1)
    return f @ f.t()


def make_loss(weights, content, style):
    with torch.no_grad():
        p = features(content, weights, {CONTENT_LAYER})[CONTENT_LAYER]
        a = {k: gram(v) for k, v in features(style, weights, set(STYLE_LAYERS)).items()}
    wanted = set(STYLE_LAYERS) | {CONTENT_LAYER}

    def loss(x):
        f = features(x, weights, wanted)
        content_loss = 0.5 * ((f[CONTENT_LAYER] - p) ** 2).sum()
        style_loss = 0.0
        for name in STYLE_LAYERS:
            n, m = f[name].shape[1], f[name].shape[2] * f[name].shape[3]
            e = ((gram(f[name]) - a[name]) ** 2).sum() / (4.0 * n * n * m * m)
            style_loss = style_loss + e / len(STYLE_LAYERS)
        return ALPHA * content_loss + BETA * style_loss

    return loss


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--onnx", help="VGG19 ONNX file (default: the project's weights/cache)")
    ap.add_argument("--content", default=os.path.join(IMAGES, "tubingen.jpg"))
    ap.add_argument("--style", default=os.path.join(IMAGES, "starry_night.jpg"))
    ap.add_argument("--size", type=int, default=256, help="images are resized to SIZE x SIZE")
    ap.add_argument("--mode", choices=["adam", "lbfgs-eval", "run"], default="adam")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--iterations", type=int, default=10, help="timed iterations")
    ap.add_argument("--warmup", type=int, default=2, help="untimed iterations first")
    ap.add_argument("--tf32", choices=["off", "default"], default="off",
                    help="CUDA: off (full float32, as the crate computes) or PyTorch's default "
                         "(TF32 in cuDNN's convolutions, as a user gets it)")
    args = ap.parse_args()

    start_ns = int(os.environ.get("START_NS", T_IMPORT))
    path = args.onnx or next((p for p in DEFAULT_ONNX if os.path.exists(p)), DEFAULT_ONNX[0])
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and args.tf32 == "off":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    weights, convention = load_onnx(path)
    weights = {k: (w.to(device), b.to(device)) for k, (w, b) in weights.items()}
    content, lo, hi = (t.to(device) for t in load_image(args.content, args.size, convention))
    style = load_image(args.style, args.size, convention)[0].to(device)
    loss_fn = make_loss(weights, content, style)

    x = content.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=10.0, eps=1e-8) if args.mode == "adam" else None
    losses, times = [], []
    first_ns = None
    evaluations = 0
    if args.mode == "run":
        lbfgs = torch.optim.LBFGS([x], lr=1, max_iter=args.iterations, history_size=100,
                                  tolerance_grad=-1, tolerance_change=-1,
                                  line_search_fn="strong_wolfe")

        def closure():
            nonlocal evaluations, first_ns
            with torch.no_grad():
                x.clamp_(min=lo, max=hi)
            lbfgs.zero_grad(set_to_none=True)
            loss = loss_fn(x)
            loss.backward()
            evaluations += 1
            if first_ns is None:
                losses.append(loss.item())
                first_ns = time.time_ns()
            return loss

        t0 = time.perf_counter()
        lbfgs.step(closure)
        with torch.no_grad():
            x.clamp_(min=lo, max=hi)
            losses.append(loss_fn(x).item())
        times.append(time.perf_counter() - t0)
        state = lbfgs.state[lbfgs._params[0]]
        args.warmup, args.iterations = 0, state.get("n_iter", 0)
    for i in range(args.warmup + args.iterations if args.mode != "run" else 0):
        t0 = time.perf_counter()
        if opt is not None:
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(x)
            loss.backward()
            opt.step()
            with torch.no_grad():
                x.clamp_(min=lo, max=hi)
        else:
            x.grad = None
            loss = loss_fn(x)
            loss.backward()
            grad = x.grad.detach().cpu().numpy().ravel().copy()  # noqa: F841 (a closure's copy)
        value = loss.item()
        elapsed = time.perf_counter() - t0
        if first_ns is None:
            first_ns = time.time_ns()
        losses.append(value)
        if i >= args.warmup:
            times.append(elapsed)

    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    print(json.dumps({
        "impl": "pytorch",
        "torch": torch.__version__,
        "device": args.device,
        "gpu": gpu,
        "tf32": {"off": False, "default": torch.backends.cudnn.allow_tf32}[args.tf32] if gpu else None,
        "mode": args.mode,
        "size": args.size,
        "threads": torch.get_num_threads(),
        "convention": convention,
        "warmup": args.warmup,
        "iterations": args.iterations,
        "seconds_per_iteration": {
            "mean": statistics.mean(times) if times else None,
            "median": statistics.median(times) if times else None,
        },
        "total_loss_first": losses[0] if losses else None,
        "total_loss_last": losses[-1] if losses else None,
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "peak_gpu_allocated_mib": torch.cuda.max_memory_allocated(device) / 2**20 if gpu else None,
        "first_iteration_seconds": (first_ns - start_ns) / 1e9 if first_ns else None,
        "evaluations": evaluations if args.mode == "run" else None,
        "wall_seconds": (time.time_ns() - start_ns) / 1e9,
    }))


if __name__ == "__main__":
    main()
