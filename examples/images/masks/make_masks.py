"""Makes the masks in this folder from the sample photos, by colour (run from the repository
root with Pillow and NumPy: `python3 examples/images/masks/make_masks.py`).

- tubingen_sky.png: the sky of tubingen.jpg (blue, bright, in the upper 60 %: the river's
  reflection below is left out), its edge softened by a 2 px blur; white = sky.
- tubingen_houses.png: its inverse (houses, trees, river).
- golden_gate_bridge.png: the bridge of golden_gate.jpg (red-orange pixels, closed over the
  thin cables by a 5x5 maximum, then a 1 px blur); white = bridge.
- golden_gate_background.png: its inverse (sky, water, hills).
- golden_gate_content.png: a content-weight map, white on the bridge and mid-gray (0.5)
  elsewhere.
"""

import numpy as np
from PIL import Image, ImageFilter

folder = "examples/images"


def save(mask, name):
    Image.fromarray(mask).save(f"{folder}/masks/{name}")


tubingen = np.asarray(Image.open(f"{folder}/tubingen.jpg").convert("RGB")).astype(int)
r, g, b = tubingen[..., 0], tubingen[..., 1], tubingen[..., 2]
rows = np.arange(tubingen.shape[0])[:, None]
sky = (b > 150) & (b > r + 25) & (b > g + 5) & (rows < 0.6 * tubingen.shape[0])
sky = Image.fromarray((sky * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(2))
save(np.asarray(sky), "tubingen_sky.png")
save(255 - np.asarray(sky), "tubingen_houses.png")

gate = np.asarray(Image.open(f"{folder}/golden_gate.jpg").convert("RGB")).astype(int)
r, g, b = gate[..., 0], gate[..., 1], gate[..., 2]
bridge = (r > g + 25) & (r > b + 20) & (r > 60)
bridge = Image.fromarray((bridge * 255).astype(np.uint8)).filter(ImageFilter.MaxFilter(5))
bridge = bridge.filter(ImageFilter.GaussianBlur(1))
save(np.asarray(bridge), "golden_gate_bridge.png")
save(255 - np.asarray(bridge), "golden_gate_background.png")
save((128 + np.asarray(bridge).astype(int) * 127 // 255).astype(np.uint8), "golden_gate_content.png")
