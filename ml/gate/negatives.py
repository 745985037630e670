"""Images that are not frontal chest X-rays, built at training time: nothing here is ever committed.

Every maker takes a ``numpy.random.Generator`` (and, for the hard negatives, a frontal X-ray ``[H, W]`` in
[0, 1]) and returns a grayscale ``float32 [H, W]`` image in [0, 1] of its own size:

* hard negatives from the database's X-rays: inverted, rotated or upside down (their own scope classes),
  a corner crop, shuffled tiles, and one half of the chest stretched to full width (a lateral film shows
  one broad lung field with the spine at an edge, which a frontal film never does), and a drawn lateral
  film wearing the X-ray's fine texture;
* CT- and MR-like slices drawn from ellipses (body, lungs, heart, spine, skull) under random windows;
* radiographs of a limb, documents and text, noise and textures, smooth gradients and geometric shapes;
* real CT, MR, ultrasound and nuclear-medicine slices shipped as pydicom's test files, and scikit-image's
  sample photographs (:mod:`ml.gate.packaged`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

Maker = Callable[[np.random.Generator], np.ndarray]
HardMaker = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _unit(values: np.ndarray) -> np.ndarray:
    return np.asarray(np.clip(values, 0, 1), dtype=np.float32)


def _canvas(rng: np.random.Generator) -> tuple[int, int]:
    side = int(rng.integers(160, 320))
    return side, int(side * rng.uniform(0.75, 1.33))


def _finish(
    image: Image.Image, rng: np.random.Generator, blur: float = 1.5, noise: float = 0.03
) -> np.ndarray:
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, blur)))
    out = np.asarray(image, dtype=np.float32) / 255.0
    out = out + rng.normal(0, rng.uniform(0, noise), out.shape).astype(np.float32)
    return _unit(out)


def _ellipse(draw: ImageDraw.ImageDraw, cx: float, cy: float, rx: float, ry: float, fill: int) -> None:
    draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=fill)


def ct_slice(rng: np.random.Generator) -> np.ndarray:
    """An axial slice of the chest, abdomen or head on a black background, under a random window."""
    h, w = _canvas(rng)
    side = min(h, w)
    image = Image.new("L", (w, h), int(rng.integers(0, 25)))
    draw = ImageDraw.Draw(image)
    cx, cy = w / 2 + rng.normal(0, side * 0.03), h / 2 + rng.normal(0, side * 0.03)
    region = rng.choice(["chest", "abdomen", "head"], p=[0.6, 0.25, 0.15])
    tissue = int(rng.integers(90, 170))
    if region == "head":
        r = side * rng.uniform(0.3, 0.45)
        _ellipse(draw, cx, cy, r * 0.85, r, 235)
        _ellipse(draw, cx, cy, r * 0.78, r * 0.92, tissue)
        for _ in range(int(rng.integers(2, 6))):
            _ellipse(draw, cx + rng.normal(0, r / 4), cy + rng.normal(0, r / 4), r / 8, r / 5, tissue - 30)
        return _finish(image, rng)
    rx, ry = side * rng.uniform(0.36, 0.48), side * rng.uniform(0.24, 0.36)
    _ellipse(draw, cx, cy, rx, ry, min(255, tissue + 25))
    _ellipse(draw, cx, cy, rx * 0.95, ry * 0.93, tissue)
    if region == "chest":
        lung = int(rng.integers(0, 60))
        for sign in (-1, 1):
            _ellipse(draw, cx + sign * rx * 0.45, cy - ry * 0.05, rx * 0.36, ry * 0.7, lung)
        _ellipse(draw, cx + rx * 0.08, cy + ry * 0.05, rx * 0.22, ry * 0.35, tissue + 10)
        for _ in range(int(rng.integers(10, 40))):
            px, py = cx + rng.uniform(-rx, rx) * 0.7, cy + rng.uniform(-ry, ry) * 0.6
            _ellipse(draw, px, py, 1.5, 1.5, lung + 80)
    else:
        for _ in range(int(rng.integers(3, 8))):
            _ellipse(
                draw, cx + rng.normal(0, rx / 3), cy + rng.normal(0, ry / 3), rx / 4, ry / 4, tissue + 20
            )
    _ellipse(draw, cx, cy + ry * 0.7, rx * 0.1, ry * 0.16, 240)
    if rng.random() < 0.7:
        draw.rectangle((0, cy + ry * 1.12, w, cy + ry * 1.2), fill=int(rng.integers(60, 160)))
    return _finish(image, rng)


def mr_slice(rng: np.random.Generator) -> np.ndarray:
    """An MR-like slice: soft textured tissue, a dark outline, no bright bone."""
    out = ct_slice(rng)
    texture = _smooth_noise(rng, out.shape, scale=rng.uniform(4, 12))
    out = np.where(out > 0.15, 0.6 * (1 - out) + 0.4 * texture, out * 0.3)
    return _unit(out)


def limb_radiograph(rng: np.random.Generator) -> np.ndarray:
    """A radiograph of another body part: bright bone shafts in a band of soft tissue on black."""
    h, w = _canvas(rng)
    image = Image.new("L", (w, h), int(rng.integers(0, 30)))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(1, 5))):
        x = rng.uniform(0.2, 0.8) * w
        width = rng.uniform(0.08, 0.2) * w
        draw.rectangle((x - width, 0, x + width, h), fill=int(rng.integers(80, 130)))
        draw.rounded_rectangle((x - width / 3, h * 0.05, x + width / 3, h * 0.95), radius=8, fill=225)
    out = np.asarray(image, dtype=np.float32)
    angle = rng.uniform(-40, 40)
    return _finish(Image.fromarray(out.astype(np.uint8)).rotate(angle, fillcolor=10), rng)


def document(rng: np.random.Generator) -> np.ndarray:
    """A page of text, a form or a table, sometimes dark on light, sometimes light on dark."""
    h, w = _canvas(rng)
    paper, ink = int(rng.integers(200, 256)), int(rng.integers(0, 80))
    image = Image.new("L", (w, h), paper)
    draw = ImageDraw.Draw(image)
    y = rng.uniform(5, 20)
    while y < h - 10:
        words = " ".join(
            "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz0123456789"), 6)) for _ in range(8)
        )
        draw.text((rng.uniform(4, 20), y), words, fill=ink)
        y += rng.uniform(9, 18)
        if rng.random() < 0.1:
            draw.line((0, y, w, y), fill=ink)
    out = _finish(image, rng, blur=0.8, noise=0.02)
    return 1 - out if rng.random() < 0.2 else out


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], scale: float) -> np.ndarray:
    small = (max(2, int(shape[0] / scale)), max(2, int(shape[1] / scale)))
    noise = Image.fromarray((rng.random(small) * 255).astype(np.uint8))
    return np.asarray(noise.resize((shape[1], shape[0]), Image.Resampling.BICUBIC), dtype=np.float32) / 255


def texture(rng: np.random.Generator) -> np.ndarray:
    """Noise at a random scale, a gradient, stripes or a checkerboard, or random shapes."""
    h, w = _canvas(rng)
    kind = rng.integers(0, 4)
    if kind == 0:
        return _unit(_smooth_noise(rng, (h, w), rng.uniform(1, 40)))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == 1:
        angle = rng.uniform(0, np.pi)
        ramp = np.cos(angle) * xx / w + np.sin(angle) * yy / h
        return _unit((ramp - ramp.min()) / (np.ptp(ramp) + 1e-6))
    if kind == 2:
        period = rng.uniform(4, 40)
        stripes = np.sin(xx / period) * np.sin(yy / period * rng.uniform(0.5, 2)) > 0
        return _unit(stripes * 0.8 + 0.1)
    image = Image.new("L", (w, h), int(rng.integers(0, 256)))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(3, 15))):
        box = sorted(rng.uniform(0, w, 2)), sorted(rng.uniform(0, h, 2))
        shape = (box[0][0], box[1][0], box[0][1], box[1][1])
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(shape, fill=int(rng.integers(0, 256)))
    return _finish(image, rng)


def inverted(xray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return (1.0 - xray).astype(np.float32)


def rotated(xray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Turned by 90, 180 or 270 degrees, or upside down (flipped top to bottom)."""
    choice = int(rng.integers(0, 4))
    out = np.flipud(xray) if choice == 0 else np.rot90(xray, choice)
    return np.ascontiguousarray(out, dtype=np.float32)


def corner_crop(xray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = xray.shape
    fraction = rng.uniform(0.25, 0.45)
    ch, cw = max(8, int(h * fraction)), max(8, int(w * fraction))
    top = int(rng.choice([0, h - ch])) if rng.random() < 0.7 else int(rng.integers(0, h - ch + 1))
    left = int(rng.choice([0, w - cw]))
    return np.ascontiguousarray(xray[top : top + ch, left : left + cw])


def shuffled_tiles(xray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = int(rng.integers(2, 5))
    h, w = (xray.shape[0] // n) * n, (xray.shape[1] // n) * n
    tiles = [
        xray[i * h // n : (i + 1) * h // n, j * w // n : (j + 1) * w // n] for i in range(n) for j in range(n)
    ]
    order = rng.permutation(len(tiles))
    rows = [np.concatenate([tiles[order[i * n + j]] for j in range(n)], axis=1) for i in range(n)]
    return np.ascontiguousarray(np.concatenate(rows, axis=0), dtype=np.float32)


def half_chest(xray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One side of the chest, from the midline to the outer wall, stretched to full width."""
    w = xray.shape[1]
    cut = int(w * rng.uniform(0.45, 0.6))
    half = xray[:, :cut] if rng.random() < 0.5 else xray[:, w - cut :]
    image = Image.fromarray((half * 255).astype(np.uint8)).resize(
        (w, xray.shape[0]), Image.Resampling.BILINEAR
    )
    return np.asarray(image, dtype=np.float32) / 255.0


def lateral_chest(xray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A drawn lateral chest film with the X-ray's own fine texture: one broad lung field, the spine at
    the back edge and the sternum at the front one, the heart low in front, the diaphragm below and the
    arms raised over the head; nothing in it is mirrored left to right as a frontal film is."""
    h, w = xray.shape
    back = rng.random() < 0.5  # which edge the spine is on (the patient may face either way)
    image = Image.new("L", (w, h), int(rng.integers(0, 50)))
    draw = ImageDraw.Draw(image)
    tissue, lung = int(rng.integers(150, 215)), int(rng.integers(40, 110))
    _ellipse(draw, w / 2, h * 0.55, w * rng.uniform(0.44, 0.56), h * 0.62, tissue)
    for sign in (-1, 1):
        x0 = w * (0.5 + sign * rng.uniform(0.05, 0.2))
        draw.line((x0, h * 0.3, x0 + sign * w * 0.15, -h * 0.05), fill=min(255, tissue + 30), width=w // 9)
    _ellipse(draw, w * 0.5, h * 0.47, w * rng.uniform(0.3, 0.4), h * rng.uniform(0.3, 0.38), lung)
    heart_x = w * (0.62 if back else 0.38)
    _ellipse(draw, heart_x, h * 0.68, w * rng.uniform(0.14, 0.2), h * rng.uniform(0.12, 0.17), tissue - 20)
    _ellipse(draw, w * 0.5, h * 1.02, w * 0.5, h * rng.uniform(0.18, 0.26), min(255, tissue + 10))
    spine_x = w * (rng.uniform(0.14, 0.22) if back else rng.uniform(0.78, 0.86))
    for i in range(12):
        y = h * (0.15 + i * 0.07)
        bx = spine_x + (i - 6) ** 2 * w * 0.002 * (1 if back else -1)
        draw.rounded_rectangle((bx - w * 0.05, y, bx + w * 0.05, y + h * 0.055), radius=3, fill=235)
    sternum_x = w * (0.9 if back else 0.1)
    draw.line((sternum_x, h * 0.25, sternum_x, h * 0.6), fill=230, width=max(2, w // 40))
    drawn = np.asarray(image.filter(ImageFilter.GaussianBlur(rng.uniform(1, 3))), dtype=np.float32) / 255
    smooth = Image.fromarray((xray * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(3))
    detail = xray - np.asarray(smooth, dtype=np.float32) / 255
    return _unit(drawn + rng.uniform(0.5, 1.5) * detail + rng.normal(0, 0.01, drawn.shape))


MAKERS: dict[str, Maker] = {
    "ct_slice": ct_slice,
    "mr_slice": mr_slice,
    "limb_radiograph": limb_radiograph,
    "document": document,
    "texture": texture,
}
"""Negatives of scope class ``other`` drawn from nothing."""

HARD_MAKERS: dict[str, tuple[str, HardMaker]] = {
    "inverted": ("inverted", inverted),
    "rotated": ("rotated", rotated),
    "corner_crop": ("other", corner_crop),
    "shuffled_tiles": ("other", shuffled_tiles),
    "half_chest": ("other", half_chest),
    "lateral_chest": ("other", lateral_chest),
}
"""Negatives made from a frontal X-ray: name -> (scope class, maker)."""
