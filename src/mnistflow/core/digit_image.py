"""Turn a person's own digit image into the 28x28 the model expects, the way MNIST itself was made.

MNIST digits are white ink on black, size-normalised to fit a 20x20 box (aspect ratio kept,
anti-aliased) and placed in a 28x28 field so that their centre of mass is at the centre. `prepare`
does the same to any grayscale image:

1. background: the median of the border pixels; the ink is whatever lies farthest from it, so if
   the darkest pixel is farther below the background than the brightest is above it, the image is
   inverted: the ink is bright whatever the paper (white, grey, or black);
2. the background level is subtracted and the brightest ink stretched to 255; an image whose
   ink is less than `MIN_CONTRAST` grey levels above the background has no ink (ValueError);
3. crop to the bounding box of the pixels brighter than `INK_THRESHOLD` of the ink's range, so
   faint paper texture does not widen the box;
4. scale the crop so its longer side is 20 pixels (Lanczos, which anti-aliases when shrinking);
5. paste it into 28x28 with its centre of mass at the centre, shifted back inside the frame if
   the centre of mass is so far off that the digit would be cut.

`load_grayscale` reads any file PIL opens (PNG, JPEG, BMP, GIF, TIFF, WebP, ...) as uint8 grayscale.
"""
from __future__ import annotations

import os
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

from mnistflow.core import arrays

BOX = 20
CENTRE = arrays.SIDE / 2  # 14.0 in pixel-index coordinates: where MNIST's digits have their centre of mass (measured)
INK_THRESHOLD = 0.25  # share of the ink's range a pixel must exceed to count for the bounding box
MIN_CONTRAST = 32.0  # grey levels (of 255) the brightest ink must stand above the background


def load_grayscale(path: str | os.PathLike[str] | BinaryIO) -> np.ndarray:
    """Read an image file (a path or an open binary file) as uint8 grayscale (H, W); transparency is composited onto white paper.

    Raises ValueError when the file is not an image PIL can read (or is truncated).
    """
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)  # photos: honour the camera's rotation tag
            if image.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
                return (np.asarray(image, dtype=np.float64) / 257.0).round().astype(np.uint8)
            if "A" in image.getbands() or "transparency" in image.info:
                rgba = image.convert("RGBA")
                paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                image = Image.alpha_composite(paper, rgba)
            return np.asarray(image.convert("L"), dtype=np.uint8)
    except (Image.UnidentifiedImageError, Image.DecompressionBombError) as error:
        raise ValueError(f"not an image that can be read ({_first_line(error)})") from None
    except OSError as error:  # a truncated or corrupt image file; a missing file is reported by the caller
        if isinstance(error, (FileNotFoundError, PermissionError, IsADirectoryError)):
            raise
        raise ValueError(f"unreadable image data ({_first_line(error)})") from None


def prepare(gray: np.ndarray) -> np.ndarray:
    """Grayscale image (H, W), any size, either polarity -> uint8 (28, 28), white ink on black, centred."""
    gray = np.asarray(gray, dtype=np.float32)
    if gray.ndim != 2 or min(gray.shape) < 1:
        raise ValueError(f"expected a 2-D grayscale image; got shape {gray.shape}")
    ink = _bright_ink(gray)
    rows = np.flatnonzero((ink > INK_THRESHOLD * 255.0).any(axis=1))
    columns = np.flatnonzero((ink > INK_THRESHOLD * 255.0).any(axis=0))
    crop = ink[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]
    patch = _fit_box(crop)
    return _paste_centred(patch)


def _bright_ink(gray: np.ndarray) -> np.ndarray:
    """Invert a light background, subtract the background level, stretch the ink to 0-255."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = paper = float(np.median(border))
    if background - float(gray.min()) > float(gray.max()) - background:  # dark ink on lighter paper
        gray, background = 255.0 - gray, 255.0 - background
    ink = np.clip(gray - background, 0.0, None)
    peak = float(ink.max())
    if peak < MIN_CONTRAST:
        raise ValueError(
            f"no ink found: the strongest stroke is {peak:.0f} grey levels from the background "
            f"(grey level {paper:.0f}); need at least {MIN_CONTRAST:.0f} (is the image blank?)"
        )
    return ink * (255.0 / peak)


def _fit_box(crop: np.ndarray) -> np.ndarray:
    """Scale so the longer side is BOX pixels, keeping the aspect ratio (float32 0-255)."""
    height, width = crop.shape
    scale = BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))  # PIL sizes are (width, height)
    resized = Image.fromarray(crop.astype(np.float32), mode="F").resize(size, Image.Resampling.LANCZOS)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 255.0)


def _paste_centred(patch: np.ndarray) -> np.ndarray:
    """Place `patch` in a 28x28 black field with its centre of mass at CENTRE (clipped to fit)."""
    height, width = patch.shape
    total = float(patch.sum())
    centre_row = float((patch.sum(axis=1) * np.arange(height)).sum()) / total
    centre_column = float((patch.sum(axis=0) * np.arange(width)).sum()) / total
    top = min(max(int(np.floor(CENTRE - centre_row + 0.5)), 0), arrays.SIDE - height)
    left = min(max(int(np.floor(CENTRE - centre_column + 0.5)), 0), arrays.SIDE - width)
    field = np.zeros((arrays.SIDE, arrays.SIDE), dtype=np.float32)
    field[top : top + height, left : left + width] = patch
    return np.round(field).astype(np.uint8)


def _first_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
