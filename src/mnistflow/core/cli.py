"""The edge between a stage script and the user: logging set-up, quiet TensorFlow, one-line errors.

    if __name__ == "__main__":
        sys.exit(cli.run(main))

`run` configures logging once, keeps TensorFlow's C++ start-up lines off stderr (`quiet_tensorflow`),
calls `main(argv)`, and turns a ValueError (bad input or params) or OSError (a missing or unreadable
file) into one line on stderr and exit status 1. `read_json` reads a JSON file another stage wrote,
or fails with the `dvc repro` command that writes it.
"""
from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import json
import logging
import os
import pathlib
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Any

LOG_FORMAT = "%(asctime)s %(name)s: %(message)s"

# TensorFlow's C++ log threshold: 3 hides INFO, WARNING and ERROR lines, the last because on a machine
# without a GPU the CUDA probe logs "E0000 ... failed call to cuInit" (a real failure raises in Python).
TF_LOG_LEVEL = "3"
# absl's lines ("I0000 00:00:1796114865.853274   15355 cudart_stub.cc:31] ...") and its notice that
# they come before its set-up: printed while TensorFlow's libraries load, before TF_LOG_LEVEL applies.
CHATTER = re.compile(
    r"^(?:[IWE]\d{4} [\d:.]+ +\d+ \S+:\d+\] "
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$)"
)


def configure_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format=LOG_FORMAT, datefmt="%H:%M:%S", stream=sys.stderr)


def one_line(error: BaseException) -> str:
    """The error's message folded onto one line."""
    text = " ".join(str(error).split())
    return text or type(error).__name__


def quiet_tensorflow() -> None:
    """Keep TensorFlow's C++ start-up lines off stderr; call before TensorFlow is first imported.

    Sets TF_CPP_MIN_LOG_LEVEL (unless the caller did) and, when TensorFlow is imported later, drops
    the absl lines its libraries print while loading (`CHATTER`); everything else written to stderr
    meanwhile is passed on. `TF_CPP_MIN_LOG_LEVEL=0` in the environment shows every line.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", TF_LOG_LEVEL)
    if os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0" or "tensorflow" in sys.modules:
        return
    if not any(isinstance(finder, _QuietTensorFlowImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowImport())


@contextlib.contextmanager
def stderr_without_chatter() -> Iterator[None]:
    """Collect what is written to file descriptor 2 in the block; then pass on all but `CHATTER` lines."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as collected:
        os.dup2(collected.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            collected.seek(0)
            kept = [line for line in collected.read().decode(errors="replace").splitlines(keepends=True)
                    if not CHATTER.match(line)]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` once, with a loader that runs its import inside `stderr_without_chatter`."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None):
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once: later imports of TensorFlow's modules go the usual way
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = module.__spec__.loader = self.loader  # the module looks as if imported plainly
        with stderr_without_chatter():
            self.loader.exec_module(module)


def run(main: Callable[[Sequence[str] | None], None], argv: Sequence[str] | None = None) -> int:
    """Call `main(argv)`; return the process exit status."""
    configure_logging()
    quiet_tensorflow()
    try:
        main(argv)
    except (ValueError, OSError) as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 1
    return 0


def read_json(path: str | os.PathLike[str], *, stage: str) -> Any:
    """The JSON in `path`, written by the pipeline's stage `stage` (named in the error when it is missing or broken)."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; run `dvc repro {stage}` first")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error}); run `dvc repro {stage}` again") from None
