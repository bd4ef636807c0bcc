"""Images that are not digits, made in one place: drawn ones for the `ood` stage's sets, and
digits scrambled beyond recognition for training's outlier exposure.

    from mnistflow.core import not_digits
    images, kinds = not_digits.make_ood(200, seed=0)   # uint8 (1000, 28, 28); uint8 indices into KINDS
    scrambled = not_digits.scrambled(digits, rng)      # same shape as digits: each one's pixels moved

Drawn (`make_ood`): five kinds, `n_per_kind` images each, in the order asked for:
- uniform_noise: every pixel uniform in 0-255;
- scribbles: 2-3 smooth random strokes, crossing (control points smoothed by Chaikin's corners);
- shapes: a filled disc, or a rectangle or triangle, outlined or filled, turned at random;
- letters: one of LETTERS in Pillow's bundled scalable font, thickened and tilted at random;
- specks: blank paper with 1-4 faint or bright specks of 1-4 pixels.
Strokes, shapes and letters are drawn at 4x, then made like MNIST's digits by
`digit_image.prepare` (longer side scaled to 20 pixels, anti-aliased, centre of mass at the
centre). Noise fills the frame; specks lie in the central 20x20 box. Inverted digits are left out
on purpose (an inverted digit is still a digit): docs/corruptions_notes.md.

Scrambled (`scrambled`): made from the training batch's own digits, so they share its ink and
contrast, and never from the drawn kinds, which are held out to measure detection.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mnistflow.core import arrays, digit_image

KINDS = ("uniform_noise", "scribbles", "shapes", "letters", "specks")
# Letters a person would not read as a digit (27 of 52). Left out: O o D Q (0); I l i j J L T t f
# (1, 7); Z z (2); S s (5); G b (6); B (8); g q y (9); d p (a turned 6 or 9).
LETTERS = "ACEFHKMNPRUVWXYacehkmnruvwx"
CANVAS = 4 * arrays.SIDE  # figures are drawn at 4x, so strokes keep their anti-aliasing when shrunk
_FONT_SIZE = 72


def make_ood(n_per_kind: int, *, seed: int, kinds: tuple[str, ...] = KINDS) -> tuple[np.ndarray, np.ndarray]:
    """`n_per_kind` images of each kind: uint8 images (n_per_kind * len(kinds), 28, 28), white on
    black, and uint8 kind indices into KINDS (not into `kinds`), grouped by kind in `kinds` order.

    Each kind draws from its own generator seeded by (seed, its index in KINDS), so a kind's images
    are the same whichever other kinds are asked for.
    """
    if isinstance(n_per_kind, bool) or not isinstance(n_per_kind, (int, np.integer)) or n_per_kind < 1:
        raise ValueError(f"n_per_kind must be a positive integer; got {n_per_kind!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    kinds = tuple(kinds)
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown or not kinds or len(set(kinds)) != len(kinds):
        raise ValueError(
            f"kinds must be distinct names from {', '.join(KINDS)}; got {', '.join(map(repr, kinds)) or 'none'}"
            + (f" (unknown: {', '.join(map(repr, unknown))})" if unknown else "")
        )
    makers = {"uniform_noise": _uniform_noise, "scribbles": _scribbles, "shapes": _shapes,
              "letters": _letters, "specks": _specks}
    images = [makers[kind](int(n_per_kind), np.random.default_rng([seed, KINDS.index(kind)])) for kind in kinds]
    indices = np.repeat(np.array([KINDS.index(kind) for kind in kinds], dtype=np.uint8), n_per_kind)
    return np.concatenate(images), indices


def _uniform_noise(count: int, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, size=(count, arrays.SIDE, arrays.SIDE), dtype=np.uint8)


def _specks(count: int, rng: np.random.Generator) -> np.ndarray:
    images = np.zeros((count, arrays.SIDE, arrays.SIDE), dtype=np.uint8)
    box = (arrays.SIDE - digit_image.BOX) // 2  # 4: the specks fall where a digit would be
    for image in images:
        for _ in range(int(rng.integers(1, 5))):
            height, width = rng.integers(1, 3, size=2)
            top, left = rng.integers(box, arrays.SIDE - box - 1, size=2)
            image[top : top + height, left : left + width] = rng.integers(60, 256)
    return images


def _mnist_like(canvas: Image.Image) -> np.ndarray:
    return digit_image.prepare(np.asarray(canvas, dtype=np.uint8))


def _chaikin(points: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Cut each corner of the open polyline `points` (K, 2) `rounds` times: a smooth curve."""
    for _ in range(rounds):
        quarter = 0.75 * points[:-1] + 0.25 * points[1:]
        three_quarters = 0.25 * points[:-1] + 0.75 * points[1:]
        points = np.concatenate([points[:1], np.stack([quarter, three_quarters], axis=1).reshape(-1, 2), points[-1:]])
    return points


def _scribbles(count: int, rng: np.random.Generator) -> np.ndarray:
    images = np.empty((count, arrays.SIDE, arrays.SIDE), dtype=np.uint8)
    for index in range(count):
        canvas = _scribble(rng)
        while not _squarish(canvas):  # a tall thin tangle, once shrunk to 20 pixels, reads as a 1
            canvas = _scribble(rng)
        images[index] = _mnist_like(canvas)
    return images


def _scribble(rng: np.random.Generator) -> Image.Image:
    canvas = Image.new("L", (CANVAS, CANVAS), 0)
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(2, 4))):  # one stroke alone too often makes a 1, 2, 7 or 9
        control = rng.uniform(0.15 * CANVAS, 0.85 * CANVAS, size=(int(rng.integers(4, 7)), 2))
        curve = [tuple(point) for point in _chaikin(control)]
        draw.line(curve, fill=255, width=int(rng.integers(6, 11)), joint="curve")
    return canvas


def _squarish(canvas: Image.Image) -> bool:
    left, top, right, bottom = canvas.getbbox()
    return 0.6 <= (right - left) / (bottom - top) <= 1 / 0.6


def _polygon(rng: np.random.Generator, corners: int, aspect: float) -> list[tuple[float, float]]:
    """A regular polygon's corners, stretched by `aspect`, turned at random, about the canvas centre."""
    angles = np.arange(corners) * 2 * np.pi / corners + rng.uniform(0, 2 * np.pi)
    points = np.stack([np.cos(angles) * aspect, np.sin(angles)], axis=1) * 0.3 * CANVAS
    turn = rng.uniform(0, 2 * np.pi)
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    return [tuple(point) for point in points @ rotation.T + CANVAS / 2]


def _shapes(count: int, rng: np.random.Generator) -> np.ndarray:
    """Discs are always filled: a ring would be a 0. Rectangles stay near square (a thin bar is a 1)."""
    images = np.empty((count, arrays.SIDE, arrays.SIDE), dtype=np.uint8)
    for index in range(count):
        canvas = Image.new("L", (CANVAS, CANVAS), 0)
        draw = ImageDraw.Draw(canvas)
        shape = rng.choice(["disc", "rectangle", "triangle"])
        aspect = rng.uniform(0.75, 1.33)
        outline = bool(rng.random() < 0.5)
        width = int(rng.integers(7, 13))
        if shape == "disc":
            radius = 0.3 * CANVAS
            centre = CANVAS / 2
            draw.ellipse([centre - radius * aspect, centre - radius, centre + radius * aspect, centre + radius], fill=255)
        else:
            corners = _polygon(rng, 4 if shape == "rectangle" else 3, aspect)
            if outline:
                draw.line(corners + corners[:1], fill=255, width=width, joint="curve")
            else:
                draw.polygon(corners, fill=255)
        images[index] = _mnist_like(canvas)
    return images


def _letters(count: int, rng: np.random.Generator) -> np.ndarray:
    font = ImageFont.load_default(size=_FONT_SIZE)  # Pillow's bundled scalable font (Pillow >= 10.1)
    images = np.empty((count, arrays.SIDE, arrays.SIDE), dtype=np.uint8)
    for index, letter in enumerate(rng.choice(list(LETTERS), size=count)):
        canvas = Image.new("L", (CANVAS, CANVAS), 0)
        draw = ImageDraw.Draw(canvas)
        draw.text((CANVAS / 2, CANVAS / 2), str(letter), fill=255, font=font, anchor="mm",
                  stroke_width=int(rng.integers(0, 5)), stroke_fill=255)
        tilted = canvas.rotate(float(rng.uniform(-12, 12)), resample=Image.Resampling.BILINEAR)
        images[index] = _mnist_like(tilted)
    return images


TILE = 7  # scrambled tiles: the 28x28 field as a 4x4 grid


def scrambled(digits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Not-digits made from digits: the first half with every pixel shuffled, the rest with their
    7x7 tiles shuffled. Each keeps its digit's ink and contrast, none keeps a digit's shape."""
    count = len(digits)
    result = digits.reshape(count, -1).copy()
    half = count // 2
    for index in range(half):
        result[index] = result[index, rng.permutation(result.shape[1])]
    grid = arrays.SIDE // TILE
    tiles = digits[half:].reshape(count - half, grid, TILE, grid, TILE).transpose(0, 1, 3, 2, 4).reshape(count - half, grid * grid, TILE, TILE)
    for index in range(count - half):
        tiles[index] = tiles[index, rng.permutation(grid * grid)]
    result[half:] = tiles.reshape(count - half, grid, grid, TILE, TILE).transpose(0, 1, 3, 2, 4).reshape(count - half, -1)
    return result.reshape(digits.shape)
