"""The 15 MNIST-C corruptions (Mu & Gilmer 2019) at the severities of the published data set.

A re-implementation of google-research/mnist-c `corruptions.py` (each function's default severity
there is the one the data set was made with) in numpy, scipy.ndimage and scikit-image, vectorised
over the batch and driven by one `numpy.random.Generator`:

    from mnistflow.data import corruptions
    foggy = corruptions.corrupt(test_images, "fog", seed=0)   # uint8 (N, 28, 28) in and out

Each corruption is also a function `name(images, rng)`. Where this differs from the original, and
why: docs/corruptions_notes.md.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage import feature

from mnistflow.core import arrays

NAMES = (
    "shot_noise", "impulse_noise", "glass_blur", "motion_blur", "shear", "scale", "rotate",
    "brightness", "translate", "stripe", "fog", "spatter", "dotted_line", "zigzag", "canny_edges",
)
CENTRE = (arrays.SIDE - 1) / 2  # 13.5: the pixel-coordinate centre that shear, rotate and scale keep fixed
_FOG_CHUNK = 128  # plasma maps made at once: the last level's four 128 x 128 x 128 float32 parts, 32 MiB


def check_images(images: np.ndarray) -> None:
    """Raise ValueError unless `images` is a uint8 array (N, 28, 28)."""
    if not isinstance(images, np.ndarray):
        raise ValueError(f"images must be a numpy uint8 array of shape (N, 28, 28); got {type(images).__name__}")
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (arrays.SIDE, arrays.SIDE):
        raise ValueError(f"images must be a numpy uint8 array of shape (N, 28, 28); got {images.dtype} {images.shape}")


def _unit(images: np.ndarray) -> np.ndarray:
    check_images(images)
    return images.astype(np.float64) / 255.0


def _to_uint8(unit: np.ndarray) -> np.ndarray:
    """[0, 1] floats -> uint8, rounded as the published data set was (np.round, then astype)."""
    return np.round(np.clip(unit, 0.0, 1.0) * 255.0).astype(np.uint8)


def shot_noise(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Poisson noise with 3 photons at full white (severity 5)."""
    return _to_uint8(rng.poisson(_unit(images) * 3.0) / 3.0)


def impulse_noise(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Salt and pepper on 17% of the pixels, half each (severity 4; skimage's random_noise 's&p')."""
    check_images(images)
    flipped = rng.random(images.shape) < 0.17
    salt = rng.random(images.shape) < 0.5
    out = images.copy()
    out[flipped & salt] = 255
    out[flipped & ~salt] = 0
    return out


def glass_blur(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blur, swap pixels with neighbours up and to the left (two passes), blur again (severity 1).

    The original calls skimage's gaussian with `multichannel=True` on a 2D image, which takes the
    last axis (the columns) for channels: both of its blurs (sigma 0.7) are vertical only. So are these.
    """
    sigma = (0.0, 0.7, 0.0)  # batch, rows, columns
    x = ndimage.gaussian_filter(_unit(images), sigma, mode="nearest", truncate=4.0)
    x = (x * 255.0).astype(np.uint8)  # the original truncates here (np.uint8), and rounds only at the end
    count = len(x)
    every = np.arange(count)
    inner = range(arrays.SIDE - 1, 1, -1)  # 27 down to 2, the original's scan order
    for _ in range(2):
        for row in inner:
            # The original's randint(-1, 1) draws -1 or 0: the partner is up and/or left, or itself.
            moves = rng.integers(-1, 1, size=(len(inner), count, 2)) * (rng.random((len(inner), count, 1)) < 0.5)
            for move, column in zip(moves, inner):
                partner_rows, partner_columns = row + move[:, 1], column + move[:, 0]
                pixel = x[every, row, column]
                x[every, row, column] = x[every, partner_rows, partner_columns]
                x[every, partner_rows, partner_columns] = pixel
    return _to_uint8(ndimage.gaussian_filter(x / 255.0, sigma, mode="nearest", truncate=4.0))


def motion_blur(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """ImageMagick's MotionBlurImage(radius 10, sigma 3, angle uniform in [-45, 45] degrees) (severity 1).

    ImageMagick's kernel is one-sided: 21 taps along the angle, weights exp(-i^2 / 2 sigma^2) for
    i = 0..20, offsets rounded to whole pixels, edge pixels repeated outside the image.
    """
    x = _unit(images)
    taps = np.arange(2 * 10 + 1)
    weights = np.exp(-(taps**2) / (2 * 3.0**2))
    weights /= weights.sum()
    angles = np.deg2rad(rng.uniform(-45.0, 45.0, size=len(x)))
    column_steps = np.ceil(taps * np.cos(angles)[:, None] - 0.5).astype(np.intp)  # (N, taps)
    row_steps = np.ceil(taps * np.sin(angles)[:, None] - 0.5).astype(np.intp)
    every = np.arange(len(x))[:, None, None]
    pixels = np.arange(arrays.SIDE)
    out = np.zeros_like(x)
    for tap, weight in enumerate(weights):
        rows = np.clip(pixels + row_steps[:, tap : tap + 1], 0, arrays.SIDE - 1)[:, :, None]
        columns = np.clip(pixels + column_steps[:, tap : tap + 1], 0, arrays.SIDE - 1)[:, None, :]
        out += weight * x[every, rows, columns]
    return _to_uint8(out)


def _warp(x: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """skimage.transform.warp(image, inverse_map=AffineTransform(matrix)), bilinear, black outside,
    on every image. `matrix` (3x3) maps output (column, row) to input (column, row), as in skimage."""
    matrix_rc = np.array([[1.0, 0.0, 0.0], [0.0, matrix[1, 1], matrix[1, 0]], [0.0, matrix[0, 1], matrix[0, 0]]])
    offset = (0.0, matrix[1, 2], matrix[0, 2])
    return ndimage.affine_transform(x, matrix_rc, offset=offset, order=1, mode="grid-constant", cval=0.0)


def _about_centre(linear: np.ndarray) -> np.ndarray:
    """The affine map with this 2x2 part that keeps (13.5, 13.5) fixed, as the original builds it."""
    matrix = np.eye(3)
    matrix[:2, :2] = linear
    matrix[:2, 2] = CENTRE * (1.0 - linear.sum(axis=1))
    return matrix


def _warp_groups(images: np.ndarray, groups: np.ndarray, matrices: list[np.ndarray]) -> np.ndarray:
    """Warp each image by matrices[its group]; one ndimage call per group, not per image."""
    x = _unit(images)
    out = np.empty_like(x)
    for group, matrix in enumerate(matrices):
        chosen = groups == group
        if chosen.any():
            out[chosen] = _warp(x[chosen], matrix)
    return _to_uint8(out)


def _sheared(angle: float) -> np.ndarray:
    # The 2019 skimage's AffineTransform(shear=angle): x' = x - sin(angle) y, y' = cos(angle) y.
    return _about_centre(np.array([[1.0, -np.sin(angle)], [0.0, np.cos(angle)]]))


def _rotated(angle: float) -> np.ndarray:
    return _about_centre(np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]))


def _shifted(columns: float, rows: float) -> np.ndarray:
    matrix = np.eye(3)
    matrix[:2, 2] = columns, rows
    return matrix


def shear(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shear by an angle of 0.4 rad, one way or the other at random, about the centre (severity 2)."""
    return _warp_groups(images, rng.integers(0, 2, size=len(images)), [_sheared(-0.4), _sheared(0.4)])


def scale(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shrink to 0.7 of the size about the centre (severity 3); `rng` is unused."""
    return _warp_groups(images, np.zeros(len(images), dtype=int), [_about_centre(np.eye(2) / 0.7)])


def rotate(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rotate by 0.4 rad (23 degrees), either way at random, about the centre (severity 2)."""
    return _warp_groups(images, rng.integers(0, 2, size=len(images)), [_rotated(-0.4), _rotated(0.4)])


def translate(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shift by 3 pixels along each axis, each direction at random (severity 3)."""
    shifts = [_shifted(columns, rows) for columns in (-3.0, 3.0) for rows in (-3.0, 3.0)]
    return _warp_groups(images, rng.integers(0, 4, size=len(images)), shifts)


def brightness(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Add 0.5 to the HSV value (severity 5): for gray images, +127.5 grey levels; `rng` is unused."""
    return _to_uint8(_unit(images) + 0.5)


def stripe(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Invert the 7 leftmost and the 7 rightmost columns; `rng` is unused."""
    check_images(images)
    out = images.copy()
    for side in (np.s_[:, :, :7], np.s_[:, :, arrays.SIDE - 7 :]):
        out[side] = 255 - out[side]
    return out


def _plasma_corners(count: int, rng: np.random.Generator, *, mapsize: int = 256, wibble_decay: float = 1.4) -> np.ndarray:
    """The 28x28 top-left corners (count, 28, 28) of `count` diamond-square height maps, each map
    scaled to [0, 1] by its own minimum and maximum: the original's plasma_fractal()[:28, :28].

    Level by level, a grid of side s becomes one of side 2s: the centre of each square, then the
    midpoints of its edges, are the mean of their 4 neighbours (wrapping round, np.roll) plus
    uniform noise in +-wibble^2. The last level is not interleaved: its min and max are taken from
    the four parts, and only the corner is assembled. float32 (4x faster than float64, same 8-bit fog).
    """
    grid = np.zeros((count, 1, 1), dtype=np.float32)
    wibble = 100.0

    def mean_plus_noise(total):
        noise = rng.random(total.shape, dtype=np.float32)
        noise -= 0.5
        noise *= 2 * wibble**2
        total *= 0.25
        total += noise
        return total

    while True:
        corners = (grid, np.roll(grid, -1, axis=1), np.roll(grid, -1, axis=2), np.roll(grid, (-1, -1), axis=(1, 2)))
        centres = mean_plus_noise(sum(corners))
        across = mean_plus_noise(centres + np.roll(centres, 1, axis=1) + grid + corners[2])
        down = mean_plus_noise(centres + np.roll(centres, 1, axis=2) + grid + corners[1])
        parts = ((0, 0, grid), (1, 1, centres), (0, 1, across), (1, 0, down))  # (row, column) offsets
        if 2 * grid.shape[1] == mapsize:
            break
        grid = np.empty((count, 2 * grid.shape[1], 2 * grid.shape[2]), dtype=np.float32)
        for row, column, part in parts:
            grid[:, row::2, column::2] = part
        wibble /= wibble_decay
    low = np.min([part.min(axis=(1, 2)) for _, _, part in parts], axis=0)[:, None, None]
    high = np.max([part.max(axis=(1, 2)) for _, _, part in parts], axis=0)[:, None, None]
    corner = np.empty((count, arrays.SIDE, arrays.SIDE), dtype=np.float32)
    for row, column, part in parts:
        corner[:, row::2, column::2] = part[:, : arrays.SIDE // 2, : arrays.SIDE // 2]
    return (corner - low) / (high - low)


def fog(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Add 3 x a plasma fractal's 28x28 corner, then rescale to the image's old maximum (severity 5)."""
    x = _unit(images)
    haze = np.empty_like(x)
    for start in range(0, len(x), _FOG_CHUNK):
        chunk = min(_FOG_CHUNK, len(x) - start)
        haze[start : start + chunk] = _plasma_corners(chunk, rng)
    peak = x.max(axis=(1, 2), keepdims=True)
    return _to_uint8((x + 3.0 * haze) * peak / (peak + 3.0))


def spatter(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Grey (63) "mud" blobs: thresholded smoothed noise, smoothed again, kept where >= 0.8 (severity 4)."""
    x = _unit(images)
    liquid = ndimage.gaussian_filter(rng.normal(0.65, 0.3, x.shape), (0, 1.0, 1.0), mode="nearest", truncate=4.0)
    mud = ndimage.gaussian_filter((liquid > 0.65).astype(np.float64), (0, 1.5, 1.5), mode="nearest", truncate=4.0)
    mud[mud < 0.8] = 0.0
    return _to_uint8(x * (1.0 - mud) + 63 / 255 * mud)


def _lines(c0, r0, c1, r1) -> np.ndarray:
    """The original's line_from_points for arrays of end points (column, row): (N, 28, 28) in [0, 1],
    log(1 - d / 2.3) + 1 at vertical distance d from the line, zero outside columns floor(c0)..ceil(c1)-1."""
    c0, r0, c1, r1 = (np.asarray(v, dtype=np.float64)[:, None, None] for v in (c0, r0, c1, r1))
    rows, columns = np.arange(arrays.SIDE)[None, :, None], np.arange(arrays.SIDE)[None, None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        distance = np.clip(np.abs(rows - ((r1 - r0) / (c1 - c0) * (columns - c0) + r0)), 0, 2.3 - 1e-10)
        line = np.clip(np.log(1 - distance / 2.3) + 1, 0, 1)
    inside = (columns >= np.floor(c0)) & (columns < np.ceil(c1)) & (c1 != c0)
    return np.where(inside, line, 0.0)


def dotted_line(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A dashed line from column 0 to 27 between random rows 0-26, in dashes of 2 columns."""
    x = _unit(images)
    r0, r1 = rng.integers(0, arrays.SIDE - 1, size=(2, len(x)))
    dashes = np.arange(arrays.SIDE) // 2 % 2 == 1  # the original blanks columns 0-1, 4-5, ..., 24-25
    return _to_uint8(x + _lines(np.zeros(len(x)), r0, np.full(len(x), arrays.SIDE - 1), r1) * dashes)


def _zigzag_pattern(r0: int, r1: int) -> np.ndarray:
    """The sum of the original zigzag's segments, from (2, r0) towards (25, r1): teeth 2 high, 4 long."""
    theta = np.arctan((r1 - r0) / 23)
    length = 23 / np.cos(theta)
    points = [(0.0, 0.0)] + [((2 * i + 1) * 2.0, (-1) ** i * 2.0) for i in range(int((length - 2) // 4) + 1)]
    whole = 4 * (length // 4)
    if length != whole:
        points.append((length, points[-1][1] / (2 * (length - whole))))  # the original's own end point
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    columns, rows = rotation @ np.array(points).T + np.array([[2.0], [r0]])
    return _lines(columns[:-1], rows[:-1], columns[1:], rows[1:]).sum(axis=0)


def zigzag(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A zigzag line across the digit, starting at a random row 0-26, sloping by -5..4 rows.

    Adding the segments and clipping once equals the original's clip after each segment (all >= 0).
    """
    x = _unit(images)
    r0 = rng.integers(0, arrays.SIDE - 1, size=len(x))
    r1 = r0 + rng.integers(-5, 5, size=len(x))
    pairs, which = np.unique(np.stack([r0, r1], axis=1), axis=0, return_inverse=True)
    patterns = np.array([_zigzag_pattern(int(a), int(b)) for a, b in pairs]).reshape(-1, arrays.SIDE, arrays.SIDE)
    return _to_uint8(x + patterns[which.ravel()])


def canny_edges(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """skimage's Canny edge map (sigma 1, hysteresis 0.1 / 0.2) as 0 / 255; `rng` is unused."""
    out = np.zeros_like(images)
    for index, image in enumerate(_unit(images)):
        out[index][feature.canny(image)] = 255
    return out


_CORRUPTIONS = {
    "shot_noise": shot_noise, "impulse_noise": impulse_noise, "glass_blur": glass_blur,
    "motion_blur": motion_blur, "shear": shear, "scale": scale, "rotate": rotate,
    "brightness": brightness, "translate": translate, "stripe": stripe, "fog": fog,
    "spatter": spatter, "dotted_line": dotted_line, "zigzag": zigzag, "canny_edges": canny_edges,
}


def corrupt(images: np.ndarray, name: str, *, seed: int) -> np.ndarray:
    """Apply the corruption `name` (one of NAMES) to uint8 images (N, 28, 28); deterministic for a seed."""
    if name not in _CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; expected one of: {', '.join(NAMES)}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    check_images(images)
    if len(images) == 0:
        return images.copy()
    return _CORRUPTIONS[name](images, np.random.default_rng(seed))
