#!/usr/bin/env python3
"""Seam measure of a picture optimized in tiles: the mean gradient magnitude of its
luminance in 8-pixel bands along the tile borders (every TILE pixels across and down, 4
pixels each side of each border), over the same away from them. 1.0: the borders look like
anywhere else; a visible seam raises it. Decodes with the ffmpeg program (no Python image
library needed); only the standard library.

    benches/seam_measure.py PICTURE TILE
"""
import subprocess
import sys


def luminance(path):
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=width,height", "-of", "csv=p=0", path],
        check=True, capture_output=True, text=True).stdout.strip().split(",")
    w, h = int(probe[0]), int(probe[1])
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        check=True, capture_output=True).stdout
    return raw, w, h


def seam_measure(path, tile):
    lum, w, h = luminance(path)
    near = [x >= tile and (x % tile < 4 or x % tile >= tile - 4) for x in range(max(w, h))]
    at = away = 0.0
    n_at = n_away = 0
    for y in range(h - 1):
        row, below = y * w, (y + 1) * w
        ny = near[y]
        for x in range(w - 1):
            v = lum[row + x]
            g = abs(lum[row + x + 1] - v) + abs(lum[below + x] - v)
            if ny or near[x]:
                at += g
                n_at += 1
            else:
                away += g
                n_away += 1
    return (at / n_at) / (away / n_away)


if __name__ == "__main__":
    print(f"{seam_measure(sys.argv[1], int(sys.argv[2])):.3f}")
