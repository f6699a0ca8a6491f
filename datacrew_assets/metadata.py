"""Metadata shapes shared by every datacrew asset."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import dagster as dg


class _Column(Protocol):
    name: str
    type: str
    nullable: bool
    description: str


def column_schema(columns: Iterable[_Column]) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=c.name,
                type=c.type,
                description=c.description or None,
                constraints=dg.TableColumnConstraints(nullable=c.nullable),
            )
            for c in columns
        ]
    )


def preview_markdown(columns: list[str], rows: list[list], *, limit: int = 10) -> dg.MarkdownMetadataValue:
    """A small table of the first rows, as the UI shows it."""
    head = "| " + " | ".join(columns) + " |"
    rule = "|" + "---|" * len(columns)
    body = ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows[:limit]]
    return dg.MarkdownMetadataValue("\n".join([head, rule, *body]))
