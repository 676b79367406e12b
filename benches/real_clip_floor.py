"""How much of a real clip's measured warping error is the measure's own flow (docs/video.md,
"A real clip"). `real_clip_measure.py` estimates the motion with OpenCV's DIS MEDIUM; a
stylized video that moves exactly with a different but equally good flow still has a
warping error under it, because stylized frames are all strokes (ten times the input's
gradients) and a tenth of a pixel of disagreement between two flows shows on them.

For each flow below, frame k of a perfectly consistent video is made by moving the
per-frame stylized frame k - 1 with that flow (one step, so no blur builds up), and its
warping error is measured as real_clip_measure.py does (OpenCV DIS MEDIUM both ways,
Ruder et al.'s checks): 0 for the measure's own flow, and the floor a video that follows
that flow cannot go under. Benchmark only (opencv-python, numpy).

    python benches/real_clip_floor.py INPUT.mp4 PER_FRAME.mp4 [OURS_DIR]

OURS_DIR: our flows from `video_clip flows INPUT.mp4 WxH OURS_DIR` (the flow the stabilizer
uses). Prints one JSON line per flow: name, warping_error.
"""

import json
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import real_clip_measure as measure  # noqa: E402


def dis(preset, **settings):
    flow = cv2.DISOpticalFlow_create(preset)
    for name, value in settings.items():
        getattr(flow, name)(value)
    return lambda a, b, _k: flow.calc(a, b, None)


def main():
    inputs, stylized = measure.frames(sys.argv[1]), measure.frames(sys.argv[2])
    ours_dir = sys.argv[3] if len(sys.argv) > 3 else None
    n = min(len(inputs), len(stylized))
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in inputs[:n]]
    h, w = gray[0].shape
    medium = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM
    flows = [
        ("OpenCV DIS MEDIUM (the measure's own)", dis(medium)),
        ("OpenCV DIS, our settings (patch 8, stride 3, 16 iterations, refinement 5)",
         dis(medium, setPatchSize=8, setPatchStride=3, setGradientDescentIterations=16,
             setVariationalRefinementIterations=5)),
        ("OpenCV DIS, patch 8, stride 2, finest level 0, refinement 10",
         dis(medium, setPatchSize=8, setPatchStride=2, setFinestScale=0,
             setVariationalRefinementIterations=10)),
        ("OpenCV DIS, our settings without propagation and mean normalization",
         dis(medium, setPatchSize=8, setPatchStride=3, setGradientDescentIterations=16,
             setVariationalRefinementIterations=5, setUseSpatialPropagation=False,
             setUseMeanNormalization=False)),
        ("OpenCV DIS FAST", dis(cv2.DISOPTICAL_FLOW_PRESET_FAST)),
        ("OpenCV Farneback", lambda a, b, _k: cv2.calcOpticalFlowFarneback(
            a, b, None, 0.5, 5, 15, 5, 7, 1.5, 0)),
    ]
    if ours_dir:
        def ours(_a, _b, k):
            raw = np.fromfile(os.path.join(ours_dir, f"back_{k}.f32"), dtype="<f4")
            return np.stack([raw[: w * h].reshape(h, w), raw[w * h:].reshape(h, w)], axis=-1)
        flows.append(("ours (Dis::default())", ours))
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    reference = cv2.DISOpticalFlow_create(medium)
    checked = []
    for k in range(1, n):
        back = reference.calc(gray[k], gray[k - 1], None)
        forth = reference.calc(gray[k - 1], gray[k], None)
        checked.append((back, measure.reliable(back, forth)[0]))
    for name, flow in flows:
        errors = []
        for k in range(1, n):
            previous = stylized[k - 1].astype(np.float32) / 255.0
            moved = flow(gray[k], gray[k - 1], k)
            made = measure.sample(previous, xs + moved[..., 0], ys + moved[..., 1])
            back, mask = checked[k - 1]
            warped = measure.sample(previous, xs + back[..., 0], ys + back[..., 1])
            per_pixel = ((made - warped) ** 2).mean(axis=2)
            errors.append(float((per_pixel * mask).sum() / max(mask.sum(), 1.0)))
        print(json.dumps({"flow": name, "warping_error": round(float(np.mean(errors)), 6)}))


if __name__ == "__main__":
    main()
