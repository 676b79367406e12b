"""OpenCV's DIS optical flow on the benchmark's frame pair, beside ours (docs/video.md).

`video_clip flow WxH --dump DIR` writes the pair (a.png, b.png), the true motion taking b's
pixels back to a's (truth_u.f32, truth_v.f32) and where it is visible in both (mask.f32).
This script runs cv2.DISOpticalFlow at each preset on the same gray pair, in the same
direction (calc(b, a): b(x) ~ a(x + flow)), single-threaded and with all threads, and prints
its time per pair and mean endpoint error over the mask as JSON lines. Python and OpenCV
here only (pip install opencv-python-headless numpy), never in the crates.

    python3 benches/flow_opencv.py DIR
"""
import json
import sys
import time

import cv2
import numpy as np


def main(folder):
    a = cv2.imread(f"{folder}/a.png")
    b = cv2.imread(f"{folder}/b.png")
    h, w = a.shape[:2]
    truth_u = np.fromfile(f"{folder}/truth_u.f32", dtype="<f4").reshape(h, w)
    truth_v = np.fromfile(f"{folder}/truth_v.f32", dtype="<f4").reshape(h, w)
    mask = np.fromfile(f"{folder}/mask.f32", dtype="<f4").reshape(h, w) > 0
    ga = cv2.cvtColor(a, cv2.COLOR_BGR2GRAY)
    gb = cv2.cvtColor(b, cv2.COLOR_BGR2GRAY)
    presets = {
        "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
        "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
        "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
    }
    for threads in (1, cv2.getNumberOfCPUs()):
        cv2.setNumThreads(threads)
        for name, preset in presets.items():
            dis = cv2.DISOpticalFlow_create(preset)
            dis.calc(gb, ga, None)
            runs = 5
            start = time.perf_counter()
            for _ in range(runs):
                flow = dis.calc(gb, ga, None)
            ms = (time.perf_counter() - start) * 1000 / runs
            error = np.sqrt((flow[..., 0] - truth_u) ** 2 + (flow[..., 1] - truth_v) ** 2)
            print(json.dumps({
                "method": f"opencv {cv2.__version__} DIS {name}",
                "threads": threads,
                "size": f"{w}x{h}",
                "ms_per_pair": round(ms, 1),
                "endpoint_error": round(float(error[mask].mean()), 3),
            }))


if __name__ == "__main__":
    main(sys.argv[1])
