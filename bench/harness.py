"""What every benchmark's entry point does the same way: log progress to stderr, and run
in `--workdir` when given, else in a temporary directory removed afterwards."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from collections.abc import Callable
from typing import Any


def log_to_stderr(log: logging.Logger) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def run_in_workdir(args: argparse.Namespace, run: Callable[[argparse.Namespace], Any], *, prefix: str) -> Any:
    """`run(args)` with `args.workdir` set; a temporary one is reset to None afterwards."""
    if args.workdir:
        return run(args)
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        args.workdir = tmp
        try:
            return run(args)
        finally:
            args.workdir = None
