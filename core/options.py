"""What every command's options share: the defaults they all use, and how a field's help is read.

A command's options are one dataclass next to the code that runs it (CleanRL's `Args`): one field per
option, its help text the docstring under the field. cli.py turns the fields into click options
(cli.options_from) and the benchmarks build command lines from the same fields (cli.argv_for), so a
command, its code and its benchmark never disagree. The option modules import no stage, so that
`cli.py --help` and the lean (torch-free) commands can list every command's options.

DEFAULT_MODEL: the model folder every command writes or reads; THREADS: the cores a command uses
(a 2-core laptop: more only adds contention).
"""
from __future__ import annotations

import ast
import inspect
import textwrap
from functools import cache
from pathlib import Path

DEFAULT_MODEL = Path("artifacts/model")
THREADS = 2


@cache
def field_docs(cls: type) -> dict[str, str]:
    """{field name: its docstring, whitespace collapsed to single spaces} of the dataclass `cls`: the
    string literal that follows each annotated field in the class body."""
    body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body
    docs = {}
    for stmt, nxt in zip(body, body[1:]):
        if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str)):
            docs[stmt.target.id] = " ".join(nxt.value.value.split())
    return docs
