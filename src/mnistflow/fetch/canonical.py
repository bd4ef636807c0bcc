"""The canonical MNIST arrays, by the SHA-256 of each decoded uint8 array's C-contiguous bytes
(images (N, 28, 28), labels (N,)), so every source yields the same bytes."""
from __future__ import annotations

import hashlib

import numpy as np

TRAIN_ROWS = 60_000
TEST_ROWS = 10_000

SHA256 = {
    "train images": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "train labels": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "test images": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "test labels": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}

CLASS_COUNTS = {
    "train": (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
    "test": (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009),
}


def array_sha256(array: np.ndarray) -> str:
    """SHA-256 of the array's C-contiguous bytes."""
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def verify(arrays: dict[str, np.ndarray], *, source: str) -> None:
    """Raise ValueError unless each named array ("train images", ...) has its canonical SHA-256."""
    for name, array in arrays.items():
        digest = array_sha256(array)
        if digest != SHA256[name]:
            raise ValueError(
                f"{source}: decoded {name} {array.dtype}{list(array.shape)} have SHA-256 {digest}; "
                f"expected the canonical {SHA256[name]} (a corrupt or different data set)"
            )
