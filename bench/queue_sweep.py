"""Benchmark: a sweep of queued DVC experiments run by one queue worker, then by two.

    python bench/queue_sweep.py [--experiments 4] [--per-class 50] [--epochs 2] [--keep]

Copies this checkout into a temporary git repository, reproduces the pipeline once on synthetic
digits (tests/synthetic.py; no download), then times `dvc exp run --run-all --jobs N` (which
starts N queue workers, as `dvc queue start -j N` does, and waits for them) on a sweep of
`--experiments` queued runs of train + evaluate, for N = 1 and N = 2. Each round sweeps its own
learning rates, so DVC's run cache cannot replay one round's results in the other. Prints the
wall time of each round, the time per experiment, and the ratio of one worker to two: on an idle
machine with at least two cores it approaches 2 when experiments are CPU-bound on one core each.
The load average is printed before each round: other processes inflate the figures.
It times `--run-all` because that is the command users run; DVC's queue can stall under it
(docs/scaling.md, "A queue can stall"), and then a round ends at the 30-minute timeout of its
command (`TIMEOUT_S`) with one line saying so: run it again.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import timing  # noqa: E402  (bench/timing.py, beside this script)
from mnistflow.core import mnist_csv  # noqa: E402
from synthetic import make_digits  # noqa: E402  (tests/ is not a package)

TIMEOUT_S = 1800  # per command: a stalled queue ends here

SMALL = {
    "preprocess": {"val_fraction": 0.2},
    "oversample": {"method": "none"},
    "train": {
        "batch_size": 64,
        "model": {"blocks": [{"filters": 8, "pool": True}, {"filters": 16, "pool": True}], "dense_units": 32},
        "augment": {"rotation": 0, "zoom": 0, "translation": 0},
    },
    "evaluate": {"batch_size": 256, "curve_points": 50, "sample_images": 10, "mistake_images": 10},
}


class Repo:
    def __init__(self, root: pathlib.Path):
        self.root = root
        self.env = {
            **os.environ,
            "PATH": str(pathlib.Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
            "PYTHONPATH": str(root / "src"),
            "DVC_NO_ANALYTICS": "1",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
            "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
        }

    def run(self, *args: str) -> str:
        try:
            result = subprocess.run(args, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            sys.exit(f"{' '.join(args)} did not finish in {TIMEOUT_S} s (a stalled DVC queue? docs/scaling.md)")
        if result.returncode != 0:
            sys.exit(f"{' '.join(args)} exited {result.returncode}:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
        return result.stdout

    def commit(self, message: str) -> None:
        self.run("git", "add", "-A")
        self.run("git", "commit", "-q", "-m", message)


def make_project(directory: pathlib.Path, *, per_class: int, epochs: int) -> Repo:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                            cwd=ROOT, check=True, capture_output=True, text=True).stdout
    root = directory / "project"
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, root / name)
    mnist_csv.write_csv(directory / "train.csv", *make_digits(per_class, seed=1))
    mnist_csv.write_csv(directory / "test.csv", *make_digits(max(per_class // 5, 2), seed=2))
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["fetch"].update(source="local", local={"train": str(directory / "train.csv"), "test": str(directory / "test.csv")})
    for section, values in SMALL.items():
        params[section].update(values)
    params["train"]["epochs"] = epochs
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    repo = Repo(root)
    repo.run("git", "init", "-q", "-b", "main")
    repo.commit("bench project")
    return repo


def sweep_round(repo: Repo, *, jobs: int, rates: list[float]) -> tuple[float, int]:
    """Queue one experiment per learning rate, run them with `jobs` workers; (seconds, succeeded)."""
    for rate in rates:
        repo.run("dvc", "exp", "run", "--queue", "-S", f"train.learning_rate={rate}", "-n", f"j{jobs}-lr{rate}")
    start = time.perf_counter()
    try:
        repo.run("dvc", "exp", "run", "--run-all", "--jobs", str(jobs))
        seconds = time.perf_counter() - start
    finally:  # not timed: idle workers would otherwise linger ~10 s into the next round
        subprocess.run(["dvc", "queue", "stop"], cwd=repo.root, env=repo.env, capture_output=True, timeout=120)
    shown = json.loads(repo.run("dvc", "exp", "show", "--json"))
    names = {exp["name"] for rev in shown for exp in rev.get("experiments") or [] if exp.get("name")}
    return seconds, sum(f"j{jobs}-lr{rate}" in names for rate in rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=4, help="queued experiments per round")
    parser.add_argument("--per-class", type=int, default=50, help="synthetic training images per digit")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the temporary project and print its path")
    args = parser.parse_args()

    directory = pathlib.Path(tempfile.mkdtemp(prefix="queue-sweep-"))
    try:
        repo = make_project(directory, per_class=args.per_class, epochs=args.epochs)
        start = time.perf_counter()
        repo.run("dvc", "repro")
        repo.commit("reproduced")
        print(f"baseline dvc repro: {time.perf_counter() - start:.1f} s; {os.cpu_count()} CPUs")
        rows = []
        for jobs in (1, 2):
            rates = [round(0.001 * (index + 1) + 0.0001 * jobs, 5) for index in range(args.experiments)]
            load = timing.load_average()
            seconds, succeeded = sweep_round(repo, jobs=jobs, rates=rates)
            rows.append((jobs, succeeded, seconds, load))
        print(f"\n{'workers (-j)':>12} {'experiments ok':>15} {'wall s':>8} {'s / experiment':>15}  load before (1, 5, 15 min)")
        for jobs, succeeded, seconds, load in rows:
            ok = f"{succeeded}/{args.experiments}"
            print(f"{jobs:>12} {ok:>15} {seconds:>8.1f} {seconds / args.experiments:>15.1f}  {load}")
        print(f"\nratio wall(-j 1) / wall(-j 2): {rows[0][2] / rows[1][2]:.2f}")
    finally:
        if args.keep:
            print(f"kept {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
