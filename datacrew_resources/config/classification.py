"""Data classifications, least sensitive first: an agent reads up to its clearance."""

from typing import Literal

CLASSIFICATIONS = ("public", "internal", "confidential", "restricted")
Classification = Literal["public", "internal", "confidential", "restricted"]


def may_read(clearance: str, classification: str) -> bool:
    return CLASSIFICATIONS.index(classification) <= CLASSIFICATIONS.index(clearance)
