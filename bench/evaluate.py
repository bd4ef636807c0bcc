"""How long the evaluate stage's work takes on a test-set-sized input, and how big its plot files are.

    python bench/evaluate.py [--images 10000] [--points 200]

No model: the probabilities are drawn from a seeded Dirichlet leaning towards the true digit (about
MNIST-CNN confident), so this measures what `evaluate.evaluate` and `write_outputs` add on top of
prediction. Prints a table of seconds per part and each part's ratio to the reference (sklearn's
classification_report on the same labels, measured in the same run), then the plot files' sizes against the raw,
one-point-per-threshold curves sklearn returns.
"""
from __future__ import annotations

import argparse
import pathlib
import tempfile

import numpy as np
from sklearn import metrics as sk_metrics

from mnistflow.evaluation import curves, evaluate, metrics
from timing import load_average, median_seconds  # bench/timing.py


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, args.images)
    concentration = np.full((args.images, 10), 0.05)
    concentration[np.arange(args.images), labels] = 5.0
    probabilities = np.array([rng.dirichlet(row) for row in concentration])
    images = rng.integers(0, 256, (args.images, 28, 28), dtype=np.uint8)
    params = evaluate.EvaluateParams(curve_points=args.points)

    reference, reference_cpu = median_seconds(
        lambda: sk_metrics.classification_report(labels, np.argmax(probabilities, axis=1), zero_division=0), repeats=3
    )
    parts = {
        "metrics (JSON)": lambda: metrics.classification_metrics(labels, probabilities),
        "ROC + PR curves": lambda: (curves.roc_curves(labels, probabilities, points=args.points),
                                    curves.precision_recall_curves(labels, probabilities, points=args.points)),
        "everything in memory": lambda: evaluate.evaluate(
            test=(images, labels, probabilities), val=(images[:6000], labels[:6000], probabilities[:6000]), params=params
        ),
    }
    with tempfile.TemporaryDirectory() as directory:
        def build_and_write():
            result = evaluate.evaluate(test=(images, labels, probabilities), val=(images, labels, probabilities), params=params)
            evaluate.write_outputs(result, metrics_path=f"{directory}/m.json", val_metrics_path=f"{directory}/v.json",
                                   report_path=f"{directory}/r.txt", plots_dir=f"{directory}/plots")

        parts["everything, written"] = build_and_write
        print(f"{args.images} images, {args.points} points per curve; load average {load_average()}")
        print(f"{'part':<24}{'wall s':>9}{'CPU s':>9}{'x reference (wall)':>20}")
        print(f"{'ref: sklearn report':<24}{reference:>9.3f}{reference_cpu:>9.3f}{1.0:>20.1f}")
        for name, function in parts.items():
            seconds, cpu = median_seconds(function, repeats=1 if "everything" in name else 3)
            print(f"{name:<24}{seconds:>9.3f}{cpu:>9.3f}{seconds / reference:>20.1f}")
        sizes = {path.name: path.stat().st_size for path in pathlib.Path(directory, "plots").iterdir()}

    raw_rows = sum(sk_metrics.roc_curve(labels == k, probabilities[:, k])[0].size for k in range(10))
    raw_pr_rows = sum(sk_metrics.precision_recall_curve(labels == k, probabilities[:, k])[0].size for k in range(10))
    print(f"\n{'plot file':<24}{'bytes':>10}")
    for name, size in sorted(sizes.items()):
        print(f"{name:<24}{size:>10}")
    print(f"\nROC rows: {args.points} on the grid vs {raw_rows} raw points over 10 digits "
          f"(ratio {raw_rows / args.points:.0f}); PR: {args.points} vs {raw_pr_rows} ({raw_pr_rows / args.points:.0f})")


if __name__ == "__main__":
    main()
