"""The demo home's configuration and transformation specs, copied into a new home."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..config import Home

TEMPLATE_DIR = Path(__file__).parent


def install_templates(home: Home) -> list[Path]:
    """Copy `datacrew.yaml` and `specs/*.yaml` into the home, never over a user's edits."""
    written = []
    for template in [TEMPLATE_DIR / "datacrew.yaml", *sorted((TEMPLATE_DIR / "specs").glob("*.yaml"))]:
        target = home.root / template.relative_to(TEMPLATE_DIR)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(template, target)
            written.append(target)
    return written
