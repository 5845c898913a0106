"""`validate`'s options (its help text is each field's docstring; cli.py reads both)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class ValidateConfig:
    data: Path
    """catalog root: ROOT with Train/ and/or Validation/, or a single folder with images/ and one CSV"""
    split: str = "all"
    """Train, Validation, folder, or all (every split found)"""
    image_check: bool = True
    """decode every image to find unreadable or corrupt files (slower; off = only check that files exist)"""
    workers: int = 2
    """threads decoding images"""
