"""Score a model with a white top-hat of each window applied before it: validation only, trains nothing.

    python bench/tophat.py --model models/model.keras --windows 0 7 9 11 13 17

Applies `image - scipy.ndimage.grey_opening(image, window x window, mode="nearest")` to the first
`--n` images of data/prepared/val.npz and of each corruption in data/corrupted/val.npz, feeds the
result to the model, and prints one row per window (0: the images as they are): clean accuracy,
the mean over the corruptions, and each corruption. Run on a model trained without
`train.model.tophat`, it shows what that window would change before any training run is spent on
it; this is how the window of 11 was chosen (docs/robustness.md, "How the recipe was chosen").
"""
from __future__ import annotations

import argparse
import datetime
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/model.keras")
    parser.add_argument("--windows", type=int, nargs="+", default=[0, 7, 9, 11, 13, 17])
    parser.add_argument("--n", type=int, default=2000, help="validation images per set")
    args = parser.parse_args()

    import keras
    import numpy as np
    from scipy import ndimage

    model = keras.models.load_model(args.model, compile=False)
    with np.load("data/prepared/val.npz") as clean, np.load("data/corrupted/val.npz") as corrupted:
        labels = clean["labels"][: args.n]
        sets = {"clean": clean["images"][: args.n]}
        sets.update({name: corrupted[name][: args.n] for name in corrupted.files if name != "labels"})
    print(f"# {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, {args.model}, {args.n} validation images per set")
    names = [name for name in sets if name != "clean"]
    print("| window | clean | mean corrupted | " + " | ".join(names) + " |")
    print("| ---: " * (len(names) + 3) + "|")
    for window in args.windows:
        accuracy = {}
        for name, images in sets.items():
            x = images.astype(np.float32)
            if window:
                x = x - ndimage.grey_opening(x, size=(1, window, window), mode="nearest")
            accuracy[name] = float((model.predict(x[..., np.newaxis], batch_size=1000, verbose=0).argmax(axis=1) == labels).mean())
        mean = np.mean([accuracy[name] for name in names])
        print(f"| {window} | {accuracy['clean']:.4f} | {mean:.4f} | " + " | ".join(f"{accuracy[name]:.3f}" for name in names) + " |", flush=True)


if __name__ == "__main__":
    main()
