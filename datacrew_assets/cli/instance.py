"""`datacrew instance [--write]`: the Dagster instance file `datacrew.yaml` asks for."""

from __future__ import annotations

import argparse
from typing import Any

from datacrew_resources.config import Home
from datacrew_resources.delegation.backend import redact
from datacrew_resources.instance import instance_settings, render_instance_yaml, write_instance_yaml
from datacrew_resources.instance.writer import instance_yaml_path, is_datacrews

from .output import emit


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    instance = sub.add_parser(
        "instance", parents=[common],
        help="print the Dagster instance (dagster.yaml) datacrew.yaml asks for: storage, run queue, limits",
    )
    instance.add_argument("--write", action="store_true",
                          help="write it to $DAGSTER_HOME/dagster.yaml (a file of your own is moved aside first)")


def instance_command(args: argparse.Namespace, home: Home) -> int:
    config = home.load_config()
    path = instance_yaml_path(home)
    if args.write:
        written = write_instance_yaml(home, config, replace_own=True)
        status = "written" if written.changed else "up to date"
        kept = str(written.kept) if written.kept else None
    else:
        # Every command has already brought a datacrew-written file up to date.
        status = "missing" if not path.exists() else "up to date" if is_datacrews(path) else "your own (left as it is)"
        kept = None
    # The file may hold a password; what is shown never does.
    text = redact(render_instance_yaml(config))
    lines = [text.rstrip("\n"), f"# {path}: {status}" + (f"; the previous file is now {kept}" if kept else "")]
    payload = {"path": str(path), "status": status, "kept": kept,
               "settings": _redacted(instance_settings(config))}
    emit(args, payload, lines)
    return 0


def _redacted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return redact(value) if isinstance(value, str) else value
