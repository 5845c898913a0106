"""core/options.py: each option's help is the docstring under its field, and every command's option has one."""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import pytest

from app.options import AddEditsConfig, AuditConfig, EvaluateConfig, PredictConfig
from catalog.options import ValidateConfig
from core.options import field_docs
from demo.options import DemoConfig
from finetune.options import FinetuneConfig
from lightroom.options import ApplyConfig, ImportConfig, IngestConfig
from pretrain.options import PretrainConfig

CONFIGS = [ValidateConfig, PretrainConfig, FinetuneConfig, PredictConfig, AddEditsConfig, EvaluateConfig, AuditConfig,
           ImportConfig, IngestConfig, ApplyConfig, DemoConfig]


@dataclass
class _Example:
    plain: int = 1
    """One line."""
    wrapped: str = "x"
    """Two
    lines."""
    undocumented: float = 0.5
    # a comment is not a docstring
    after_comment: bool = True


def test_field_docs_reads_the_string_under_each_field():
    assert field_docs(_Example) == {"plain": "One line.", "wrapped": "Two lines."}


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_every_option_has_short_help_without_issue_numbers(cls):
    docs = field_docs(cls)
    fields = [f.name for f in dataclasses.fields(cls)]
    assert [f for f in fields if not docs.get(f)] == []
    bad = {f: h for f, h in docs.items() if len(h) > 250 or re.search(r"issue|#\d|one-cycle", h, re.I)}
    assert bad == {}
