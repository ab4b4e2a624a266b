"""The demo's pictures: a procedural scene per (look-alike group, video), painted once, and
its frames (camera jitter, light, sensor noise, sometimes the tell-tale object)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

from mmtune.data.demo.difficulty import Difficulty

__all__ = ["PICTURE_GROUP", "Scenes", "frame"]

# Picture groups (look-alikes), by class id: twins share a scene painter.
PICTURE_GROUP = {
    0: "forest",
    5: "forest",
    2: "water",
    4: "water",
    3: "indoor",
    6: "indoor",
    1: "urban",
    8: "urban",
    7: "shelves",
}

Rng = np.random.Generator


def _texture(rng: Rng, size: int, cells: int, amount: float) -> np.ndarray:
    """Smooth value noise in [-amount, amount], shape (size, size, 1)."""
    small = rng.uniform(-1, 1, (cells, cells)).astype(np.float32)
    img = Image.fromarray(((small + 1) * 127.5).astype(np.uint8)).resize(
        (size, size), Image.Resampling.BICUBIC
    )
    return (np.asarray(img, np.float32)[..., None] / 127.5 - 1) * amount


def _jitter(rng: Rng, rgb: tuple[int, int, int], spread: int = 18) -> tuple[int, int, int]:
    r, g, b = (int(np.clip(c + rng.integers(-spread, spread + 1), 0, 255)) for c in rgb)
    return r, g, b


def _bands(
    c: int,
    rng: Rng,
    draw: ImageDraw.ImageDraw,
    top: tuple[int, int, int],
    bottom: tuple[int, int, int],
    horizon: float,
) -> int:
    h = int(c * horizon)
    draw.rectangle([0, 0, c, h], fill=_jitter(rng, top))
    draw.rectangle([0, h, c, c], fill=_jitter(rng, bottom))
    return h


def _paint_forest(rng: Rng, c: int, draw: ImageDraw.ImageDraw) -> None:
    h = _bands(c, rng, draw, (190, 210, 200), (40, 80, 35), rng.uniform(0.2, 0.32))
    for _ in range(rng.integers(6, 12)):
        x, w = rng.uniform(0, c), rng.uniform(0.02, 0.05) * c
        draw.rectangle(
            [x, h * 0.6, x + w, c * rng.uniform(0.75, 1.0)], fill=_jitter(rng, (90, 60, 35))
        )
    for _ in range(rng.integers(25, 40)):
        x, y, r = rng.uniform(0, c), rng.uniform(0, 0.6) * c, rng.uniform(0.06, 0.14) * c
        draw.ellipse([x - r, y - r * 0.8, x + r, y + r * 0.8], fill=_jitter(rng, (45, 115, 45), 30))


def _paint_water(rng: Rng, c: int, draw: ImageDraw.ImageDraw) -> None:
    h = _bands(c, rng, draw, (120, 175, 230), (215, 195, 140), rng.uniform(0.3, 0.42))
    shore = int(c * rng.uniform(0.62, 0.78))
    water = _jitter(rng, (40, 100, 160))
    draw.rectangle([0, h, c, shore], fill=water)
    for _ in range(rng.integers(8, 16)):
        y, x = rng.uniform(h, shore), rng.uniform(-0.2, 0.8) * c
        draw.line(
            [x, y, x + rng.uniform(0.1, 0.4) * c, y],
            fill=tuple(min(255, v + 60) for v in water),
            width=max(1, c // 100),
        )
    for _ in range(rng.integers(2, 5)):
        x, y, r = rng.uniform(0, c), rng.uniform(0.03, 0.25) * c, rng.uniform(0.05, 0.12) * c
        draw.ellipse([x - r * 1.8, y - r * 0.6, x + r * 1.8, y + r * 0.6], fill=(240, 240, 245))


def _paint_indoor(rng: Rng, c: int, draw: ImageDraw.ImageDraw) -> None:
    h = _bands(c, rng, draw, (215, 200, 170), (120, 85, 55), rng.uniform(0.45, 0.6))
    for _ in range(rng.integers(2, 4)):
        x, w = rng.uniform(0, 0.8) * c, rng.uniform(0.12, 0.22) * c
        draw.rectangle(
            [x, h * 0.2, x + w, h * 0.75],
            fill=_jitter(rng, (200, 225, 240)),
            outline=(90, 80, 70),
            width=max(1, c // 80),
        )
    rows, cols = rng.integers(2, 4), rng.integers(3, 5)
    for i in range(rows):
        y = h + (i + 0.5) * (c - h) / rows
        for j in range(cols):
            x = (j + 0.2 + rng.uniform(-0.1, 0.1)) * c / cols
            draw.rectangle(
                [x, y, x + 0.6 * c / cols, y + 0.15 * (c - h) / rows * 2],
                fill=_jitter(rng, (160, 120, 80)),
            )


def _paint_urban(rng: Rng, c: int, draw: ImageDraw.ImageDraw) -> None:
    h = _bands(c, rng, draw, (165, 175, 190), (95, 100, 95), rng.uniform(0.6, 0.75))
    x = -rng.uniform(0, 0.1) * c
    while x < c:
        w, top = rng.uniform(0.1, 0.2) * c, rng.uniform(0.1, 0.45) * c
        shade = int(rng.integers(70, 150))
        draw.rectangle([x, top, x + w, h], fill=(shade, shade, shade + 8))
        step = max(3, c // 30)
        for wy in range(int(top) + step, h - step, step * 2):
            for wx in range(int(x) + step // 2, int(x + w) - step, step * 2):
                draw.rectangle(
                    [wx, wy, wx + step // 2, wy + step // 2],
                    fill=(230, 220, 150) if rng.random() < 0.5 else (50, 55, 60),
                )
        x += w + rng.uniform(0, 0.04) * c


def _paint_shelves(rng: Rng, c: int, draw: ImageDraw.ImageDraw) -> None:
    _bands(c, rng, draw, (235, 235, 225), (180, 180, 175), 0.9)
    units = rng.integers(3, 5)
    for u in range(units):
        x0, x1 = (u + 0.05) * c / units, (u + 0.95) * c / units
        draw.rectangle([x0, 0.05 * c, x1, 0.9 * c], fill=_jitter(rng, (150, 150, 160)))
        shelves = rng.integers(4, 7)
        for s in range(shelves):
            y1 = 0.05 * c + (s + 1) * 0.85 * c / shelves
            x = x0 + 2
            while x < x1 - 4:
                bw = rng.uniform(0.02, 0.05) * c
                bh = rng.uniform(0.4, 0.8) * 0.85 * c / shelves
                draw.rectangle(
                    [x, min(y1 - bh, y1 - 2), max(x, min(x + bw, x1 - 2)), y1 - 2],
                    fill=tuple(int(v) for v in rng.integers(30, 250, 3)),
                )
                x += bw + 1
            draw.rectangle([x0, y1 - 2, x1, y1 + 1], fill=(70, 70, 75))


PAINTERS: dict[str, Callable[[Rng, int, ImageDraw.ImageDraw], None]] = {
    "forest": _paint_forest,
    "water": _paint_water,
    "indoor": _paint_indoor,
    "urban": _paint_urban,
    "shelves": _paint_shelves,
}


def _draw_cue(label: int, draw: ImageDraw.ImageDraw, x: float, y: float, r: float) -> None:
    """The tell-tale object of class ``label``, centred at (x, y), half-size r."""
    w = max(1, int(r / 6))
    if label == 0:  # FOREST: a red-capped mushroom
        draw.rectangle([x - r * 0.25, y, x + r * 0.25, y + r], fill=(245, 240, 225))
        draw.chord([x - r, y - r * 0.8, x + r, y + r * 0.6], 180, 360, fill=(210, 30, 30))
    elif label == 5:  # JUNGLE: magenta flowers
        for dx, dy in ((0, 0), (-0.6, -0.4), (0.6, -0.4), (-0.4, 0.6), (0.5, 0.6)):
            cx, cy = x + dx * r, y + dy * r
            draw.ellipse(
                [cx - r * 0.4, cy - r * 0.4, cx + r * 0.4, cy + r * 0.4], fill=(220, 40, 200)
            )
            draw.ellipse(
                [cx - r * 0.12, cy - r * 0.12, cx + r * 0.12, cy + r * 0.12], fill=(250, 230, 40)
            )
    elif label == 2:  # BEACH: a red parasol
        draw.line([x, y - r * 0.5, x, y + r], fill=(250, 250, 250), width=w)
        draw.polygon([(x - r, y - r * 0.2), (x + r, y - r * 0.2), (x, y - r)], fill=(230, 40, 40))
    elif label == 4:  # RIVER: a dark boat with a white sail
        draw.polygon(
            [
                (x - r, y + r * 0.2),
                (x + r, y + r * 0.2),
                (x + r * 0.6, y + r * 0.7),
                (x - r * 0.6, y + r * 0.7),
            ],
            fill=(70, 40, 20),
        )
        draw.polygon(
            [(x, y - r), (x, y + r * 0.15), (x + r * 0.7, y + r * 0.15)], fill=(250, 250, 250)
        )
    elif label == 3:  # CLASSROOM: a blackboard with chalk
        draw.rectangle(
            [x - r * 1.3, y - r * 0.8, x + r * 1.3, y + r * 0.8],
            fill=(30, 75, 45),
            outline=(120, 90, 50),
            width=w,
        )
        for k in range(3):
            yy = y - r * 0.4 + k * r * 0.4
            draw.line([x - r, yy, x + r * 0.6, yy], fill=(235, 235, 235), width=max(1, w // 2))
    elif label == 6:  # RESTAURANT: a red-white checked tablecloth
        n, s = 4, 2 * r / 4
        for i in range(n):
            for j in range(n):
                draw.rectangle(
                    [x - r + i * s, y - r + j * s, x - r + (i + 1) * s, y - r + (j + 1) * s],
                    fill=(220, 30, 40) if (i + j) % 2 else (250, 250, 250),
                )
    elif label == 1:  # CITY: a yellow taxi
        draw.rectangle([x - r, y - r * 0.3, x + r, y + r * 0.4], fill=(245, 200, 20))
        draw.rectangle([x - r * 0.5, y - r * 0.7, x + r * 0.5, y - r * 0.3], fill=(245, 200, 20))
        for cx in (x - r * 0.6, x + r * 0.6):
            draw.ellipse(
                [cx - r * 0.25, y + r * 0.2, cx + r * 0.25, y + r * 0.7], fill=(20, 20, 20)
            )
    elif label == 8:  # FOOTBALL-MATCH: a white goal with its net
        draw.rectangle(
            [x - r * 1.3, y - r * 0.6, x + r * 1.3, y + r * 0.6],
            outline=(255, 255, 255),
            width=2 * w,
        )
        for k in range(1, 6):
            xx = x - r * 1.3 + k * r * 2.6 / 6
            draw.line(
                [xx, y - r * 0.6, xx, y + r * 0.6], fill=(225, 225, 225), width=max(1, w // 2)
            )
    else:  # GROCERY-STORE: an orange price sign
        draw.rectangle([x - r * 0.8, y - r * 0.5, x + r * 0.8, y + r * 0.5], fill=(255, 130, 0))


class Scenes:
    """The base canvas of each (picture group, video) pair, painted once and reused."""

    def __init__(self, seed: int, image_size: int, palette: float = 0.0) -> None:
        self.seed, self.size, self.palette = seed, image_size, palette
        self.canvas = int(round(image_size * 1.25))
        self._cache: dict[tuple[str, int], tuple[Image.Image, tuple[float, float]]] = {}

    def get(self, group: str, video: int) -> tuple[Image.Image, tuple[float, float]]:
        """The canvas and the anchor where this video's tell-tale object sits."""
        key = (group, video)
        if key not in self._cache:
            rng = np.random.default_rng([self.seed, 1, sorted(PAINTERS).index(group), video])
            c = self.canvas
            img = Image.new("RGB", (c, c))
            PAINTERS[group](rng, c, ImageDraw.Draw(img))
            arr = np.asarray(img, np.float32) + _texture(rng, c, 24, 14.0)
            arr = arr * (1 - self.palette) + 128.0 * self.palette  # look-alike palettes
            img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
            anchor = (rng.uniform(0.3, 0.7) * c, rng.uniform(0.4, 0.7) * c)
            self._cache[key] = (img, anchor)
        return self._cache[key]


def frame(scenes: Scenes, label: int, video: int, rng: Rng, d: Difficulty) -> Image.Image:
    """One frame of ``label``'s ``video``: jittered camera, changed light, noise."""
    base, (ax, ay) = scenes.get(PICTURE_GROUP[label], video)
    img = base
    c, s = scenes.canvas, scenes.size
    if rng.random() < d.cue:
        img = base.copy()
        _draw_cue(
            label,
            ImageDraw.Draw(img),
            ax + rng.normal(0, 0.03) * c,
            ay + rng.normal(0, 0.03) * c,
            rng.uniform(0.07, 0.1) * c,
        )
    # Camera: rotation, zoom, shift; the affine maps output pixels to canvas pixels.
    angle = math.radians(rng.uniform(-5, 5) * d.camera)
    scale = 1.0 + rng.uniform(0.0, 0.15) * min(d.camera, 2.0)  # the view: s / scale canvas px
    shift = 0.04 * min(d.camera, 2.5)  # the canvas has a 12.5% margin a side
    cx = c / 2 + rng.uniform(-shift, shift) * c
    cy = c / 2 + rng.uniform(-shift, shift) * c
    cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
    ox, oy = s / 2, s / 2
    coeffs = (cos, -sin, cx - cos * ox + sin * oy, sin, cos, cy - sin * ox - cos * oy)
    img = img.transform((s, s), Image.Transform.AFFINE, coeffs, resample=Image.Resampling.BILINEAR)
    # Light: brightness, contrast, a slight tint; then sensor noise at half resolution.
    arr: np.ndarray = np.asarray(img, np.float32)
    contrast = 1.0 + rng.uniform(-0.2, 0.2) * min(d.light, 4.0)
    arr = (
        (arr - 128) * contrast
        + 128
        + rng.uniform(-25, 25) * d.light
        + rng.uniform(-8, 8, 3) * d.light
    )
    half = max(1, s // 2)
    noise = rng.normal(0, rng.uniform(2, 5) * d.noise, (half, half, 1)).astype(np.float32)
    arr += np.repeat(np.repeat(noise, 2, 0), 2, 1)[:s, :s]
    return Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8))
