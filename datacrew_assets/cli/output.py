"""How every command prints: JSON with --json, else its text lines."""

from __future__ import annotations

import argparse
import json
from typing import Any


def emit(args: argparse.Namespace, payload: Any, lines: list[str]) -> None:
    print(json.dumps(payload, indent=2, default=str) if args.json else "\n".join(lines))
