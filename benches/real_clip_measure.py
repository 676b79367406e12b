"""Warping error and sharpness of a stylized copy of a real clip, whose motion is not known:
the flow is estimated on the input frames by OpenCV's DIS (PRESET_MEDIUM, both ways, an
independent method from ours), with Ruder et al.'s occlusion and motion-boundary checks
as `style_transfer::video::temporal::reliable` applies them; the warping error (Lai et al.
2018) and the sharpness are computed as `video::temporal::{warping_error, sharpness}` do.
Benchmark only (opencv-python, numpy): never a dependency of the crates.

    python benches/real_clip_measure.py INPUT.mp4 STYLIZED.mp4

prints one JSON line: frames, warping_error, sharpness.
"""

import json
import sys

import cv2
import numpy as np


def frames(path):
    """Every frame of a video, RGB uint8."""
    capture = cv2.VideoCapture(path)
    out = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        out.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    return out


def luminance(rgb):
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def sharpness(rgb):
    """Mean of |dx| + |dy| of the luminance (0-1 values), over (w-1)(h-1) positions."""
    lum = luminance(rgb.astype(np.float64)) / 255.0
    dx = np.abs(lum[:-1, 1:] - lum[:-1, :-1])
    dy = np.abs(lum[1:, :-1] - lum[:-1, :-1])
    return float((dx + dy).mean())


def sample(field, x, y):
    """Bilinear samples of a 2-D (or H x W x C) array at real positions, clamped."""
    return cv2.remap(field, x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def reliable(back, forth):
    """1 where the flow from the current frame to the previous can be trusted."""
    h, w = back.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    tx, ty = xs + back[..., 0], ys + back[..., 1]
    inside = (tx >= 0) & (ty >= 0) & (tx <= w - 1) & (ty <= h - 1)
    f = sample(forth, tx, ty)
    su, sv = back[..., 0] + f[..., 0], back[..., 1] + f[..., 1]
    back2 = back[..., 0] ** 2 + back[..., 1] ** 2
    occluded = su * su + sv * sv >= 0.01 * (back2 + f[..., 0] ** 2 + f[..., 1] ** 2) + 0.5

    def grad2(p):
        padded = np.pad(p, 1, mode="edge")
        gx = (padded[1:-1, 2:] - padded[1:-1, :-2]) / 2.0
        gy = (padded[2:, 1:-1] - padded[:-2, 1:-1]) / 2.0
        return gx * gx + gy * gy

    boundary = grad2(back[..., 0]) + grad2(back[..., 1]) > 0.01 * back2 + 0.002
    return (inside & ~occluded & ~boundary).astype(np.float32), xs, ys


def main():
    inputs, stylized = frames(sys.argv[1]), frames(sys.argv[2])
    n = min(len(inputs), len(stylized))
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    errors = []
    for k in range(1, n):
        cur = cv2.cvtColor(inputs[k], cv2.COLOR_RGB2GRAY)
        prev = cv2.cvtColor(inputs[k - 1], cv2.COLOR_RGB2GRAY)
        back = dis.calc(cur, prev, None)
        forth = dis.calc(prev, cur, None)
        mask, xs, ys = reliable(back, forth)
        previous = stylized[k - 1].astype(np.float32) / 255.0
        warped = sample(previous, xs + back[..., 0], ys + back[..., 1])
        diff = (stylized[k].astype(np.float32) / 255.0 - warped) ** 2
        per_pixel = diff.mean(axis=2)
        errors.append(float((per_pixel * mask).sum() / max(mask.sum(), 1.0)))
    sharp = float(np.mean([sharpness(f) for f in stylized[:n]]))
    print(json.dumps({
        "frames": n,
        "warping_error": round(float(np.mean(errors)), 6),
        "sharpness": round(sharp, 4),
    }))


if __name__ == "__main__":
    main()
