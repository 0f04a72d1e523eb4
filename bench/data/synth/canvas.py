"""Small drawing helpers for the procedural identities (supersampled PIL canvas, colours, noise)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

SUPERSAMPLE = 4
Color = tuple[int, int, int]
Points = Sequence[Sequence[float]] | np.ndarray


def mix(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, t: float) -> Color:
    """Linear blend ``(1 - t) a + t b`` rounded to an RGB triple."""
    out = np.clip(np.round(np.asarray(a, np.float64) * (1 - t) + np.asarray(b, np.float64) * t), 0, 255)
    return int(out[0]), int(out[1]), int(out[2])


def shade(color: Color, factor: float) -> Color:
    """Darken (``factor < 1``) towards black or lighten (``factor > 1``) towards white."""
    return mix((0, 0, 0), color, factor) if factor <= 1 else mix(color, (255, 255, 255), factor - 1)


def noise(rng: np.random.Generator, side: int, sigma: float) -> np.ndarray:
    """Seeded smooth noise field with unit standard deviation."""
    field = ndimage.gaussian_filter(rng.standard_normal((side, side)), sigma, mode="wrap")
    return field / (field.std() + 1e-12)


def arc(cx: float, cy: float, a: float, b: float, t0: float, t1: float, n: int = 40) -> list[tuple[float, float]]:
    """Points of an elliptical arc (angles in radians, y pointing down, ``t = pi / 2`` on top)."""
    return [(cx + a * float(np.cos(v)), cy - b * float(np.sin(v))) for v in np.linspace(t0, t1, n)]


class Canvas:
    """Supersampled drawing surface in frame coordinates, with a person mask drawn alongside."""

    def __init__(self, background: np.ndarray, margin: int) -> None:
        side = background.shape[0]
        self.margin = margin
        self.side = side
        big = side * SUPERSAMPLE
        self.image = Image.fromarray(background).resize((big, big), Image.Resampling.BILINEAR)
        self.mask = Image.new("L", (big, big), 0)
        self.draw = ImageDraw.Draw(self.image)
        self.mask_draw = ImageDraw.Draw(self.mask)

    def xy(self, x: float, y: float) -> tuple[float, float]:
        """Frame coordinates -> canvas coordinates (pixel centres preserved under 4x box reduction)."""
        s = SUPERSAMPLE
        return s * (x + self.margin) + (s - 1) / 2, s * (y + self.margin) + (s - 1) / 2

    def pts(self, points: Points) -> list[tuple[float, float]]:
        return [self.xy(float(p[0]), float(p[1])) for p in points]

    def polygon(self, points: Points, fill: Color, person: bool = False) -> None:
        poly = self.pts(points)
        self.draw.polygon(poly, fill=fill)
        if person:
            self.mask_draw.polygon(poly, fill=255)

    def ellipse(self, cx: float, cy: float, a: float, b: float, fill: Color, person: bool = False) -> None:
        box = [*self.xy(cx - a, cy - b), *self.xy(cx + a, cy + b)]
        self.draw.ellipse(box, fill=fill)
        if person:
            self.mask_draw.ellipse(box, fill=255)

    def line(self, points: Points, fill: Color, width: float) -> None:
        pixels = max(1, round(width * SUPERSAMPLE))
        self.draw.line(self.pts(points), fill=fill, width=pixels, joint="curve")

    def clipped(self, clip: Points, paint: Image.Image) -> None:
        """Paste ``paint`` (canvas-sized RGB) through the polygon ``clip``."""
        stencil = Image.new("L", self.image.size, 0)
        ImageDraw.Draw(stencil).polygon(self.pts(clip), fill=255)
        self.image.paste(paint, (0, 0), stencil)

    def layer(self) -> tuple[Image.Image, ImageDraw.ImageDraw]:
        """A copy of the current image and a drawing handle on it, to paint through :meth:`clipped`."""
        copy = self.image.copy()
        return copy, ImageDraw.Draw(copy)

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """Box-downsampled RGB image and binary person mask."""
        image = np.asarray(self.image.reduce(SUPERSAMPLE), dtype=np.uint8)
        mask = np.asarray(self.mask.reduce(SUPERSAMPLE), dtype=np.uint8)
        return image, np.where(mask >= 128, 255, 0).astype(np.uint8)
