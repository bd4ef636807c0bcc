"""Tiny, learnable stand-ins for MNIST: digit glyphs drawn with a font, shifted, scaled and noised.

Real MNIST is 110 MB and comes from a download; unit and end-to-end tests need a few hundred
images that a CNN can actually learn from in seconds.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def make_digits(per_class: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`per_class` images of each digit 0-9: uint8 images (N, 28, 28), white ink on black, uint8 labels."""
    rng = np.random.default_rng(seed)
    images = np.zeros((10 * per_class, 28, 28), dtype=np.uint8)
    labels = np.repeat(np.arange(10, dtype=np.uint8), per_class)
    for index, digit in enumerate(labels):
        size = int(rng.integers(16, 23))
        font = ImageFont.load_default(size=size)
        canvas = Image.new("L", (28, 28), 0)
        draw = ImageDraw.Draw(canvas)
        left, top, right, bottom = draw.textbbox((0, 0), str(digit), font=font)
        x = (28 - (right - left)) / 2 - left + rng.integers(-3, 4)
        y = (28 - (bottom - top)) / 2 - top + rng.integers(-3, 4)
        draw.text((x, y), str(digit), fill=255, font=font, stroke_width=int(rng.integers(0, 2)), stroke_fill=255)
        rotated = canvas.rotate(float(rng.uniform(-12, 12)), resample=Image.BILINEAR)
        noisy = np.asarray(rotated, dtype=np.int16) + rng.integers(0, 30, (28, 28)) * (rng.random((28, 28)) < 0.05)
        images[index] = np.clip(noisy, 0, 255).astype(np.uint8)
    order = rng.permutation(len(labels))
    return images[order], labels[order]
