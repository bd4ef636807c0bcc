"""The tiny params every end-to-end test starts from: a one-block CNN, one epoch, small plots, a
three-corruption suite and ten not-digits of each kind; each test overrides what it is about."""
from __future__ import annotations

TINY = {
    "preprocess": {"val_fraction": 0.2},
    "oversample": {"method": "none"},
    "train": {
        "epochs": 1,
        "batch_size": 32,
        "schedule": "none",  # a constant, high rate: more epochs or a higher rate moves the figures well beyond noise
        "learning_rate": 0.01,
        "model": {"blocks": [{"filters": 4, "pool": True}], "dense_units": 0},
        "augment": {"rotation": 0, "zoom": 0, "translation": 0},
    },
    "evaluate": {"batch_size": 64, "curve_points": 20, "sample_images": 10, "mistake_images": 10},
    "ood": {"per_kind": 10},
    "corrupt": {"corruptions": ["brightness", "fog", "zigzag"]},
}


def local_source(train_csv, test_csv) -> dict:
    """The fetch params that read the two tiny CSVs from disk."""
    return {"fetch": {"source": "local", "local": {"train": str(train_csv), "test": str(test_csv)}}}
