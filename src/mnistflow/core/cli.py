"""The edge between a stage script and the user: logging set-up and one-line errors.

    if __name__ == "__main__":
        sys.exit(cli.run(main))

`run` configures logging once, calls `main(argv)`, and turns a ValueError (bad input or params)
or OSError (a missing or unreadable file) into one line on stderr and exit status 1.
"""
from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence

LOG_FORMAT = "%(asctime)s %(name)s: %(message)s"


def configure_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format=LOG_FORMAT, datefmt="%H:%M:%S", stream=sys.stderr)


def one_line(error: BaseException) -> str:
    """The error's message folded onto one line."""
    text = " ".join(str(error).split())
    return text or type(error).__name__


def run(main: Callable[[Sequence[str] | None], None], argv: Sequence[str] | None = None) -> int:
    """Call `main(argv)`; return the process exit status."""
    configure_logging()
    try:
        main(argv)
    except (ValueError, OSError) as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 1
    return 0
