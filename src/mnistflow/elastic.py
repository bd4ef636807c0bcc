"""Elastic distortion of digit images (Simard, Steinkraus and Platt 2003), for training batches.

    distorted = elastic.distort(images, alpha=34.0, sigma=4.0, rng=np.random.default_rng([seed, epoch, batch]))

Each image gets its own random displacement field: uniform noise in [-1, 1] per pixel and axis,
smoothed by a Gaussian of `sigma` pixels and scaled by `alpha`, then the image is resampled
(bilinear, black outside) at the displaced positions. Smooth fields bend strokes the way different
hands do, which affine transforms (rotation, zoom, shift) cannot. Simard et al. used alpha 34 and
sigma 4 on MNIST: displacements of about 1.3 pixels (standard deviation), up to about 6.

It runs in the input pipeline (numpy/scipy), not as a Keras layer: the saved model then holds no
custom layer, and a batch's distortion is a pure function of its generator, which `train.batches`
seeds from (seed, epoch, batch), so a resumed run replays it exactly.
"""
from __future__ import annotations

import numpy as np

TRUNCATE = 2.0  # the Gaussian's radius in sigmas: the field is already smooth; wider only costs time


def distort(images: np.ndarray, *, alpha: float, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """uint8 or float (N, H, W) -> float32 (N, H, W): each image resampled along its own smooth random field."""
    import scipy.ndimage  # imported on first use: the module costs nothing to import

    if alpha < 0 or sigma <= 0:
        raise ValueError(f"elastic distortion needs alpha >= 0 and sigma > 0; got alpha={alpha}, sigma={sigma}")
    count, height, width = images.shape
    noise = rng.uniform(-1.0, 1.0, size=(2, count, height, width))
    fields = alpha * scipy.ndimage.gaussian_filter(noise, sigma=(0, 0, sigma, sigma), mode="constant", truncate=TRUNCATE)
    rows, columns = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    batch_index = np.broadcast_to(np.arange(count, dtype=np.float64)[:, None, None], (count, height, width))
    coordinates = np.stack([batch_index, rows + fields[0], columns + fields[1]])
    # Integer positions along the batch axis: bilinear interpolation never mixes two images.
    return scipy.ndimage.map_coordinates(np.asarray(images, np.float32), coordinates, order=1, mode="constant", cval=0.0)
