"""The layering of ARCHITECTURE.md, read off the code: every import of a project package (at module
level or inside a function) must point to the same layer or one below it, and no project import
hides behind `try/except ImportError`."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# package -> the project packages it may import (besides itself)
ALLOWED = {
    "core": set(),
    "catalog": {"core"},
    "lightroom": {"core", "catalog"},
    "pretrain": {"core", "catalog"},
    "retrieval": {"core", "catalog"},
    "finetune": {"core", "catalog", "pretrain", "retrieval"},
    "app": {"core", "catalog", "lightroom", "pretrain", "retrieval", "finetune"},
    "demo": {"core", "catalog", "lightroom", "pretrain", "retrieval", "finetune", "app"},
}
PROJECT = set(ALLOWED) | {"benchmarks", "cli"}


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imported(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name.split(".")[0] for a in node.names]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return [node.module.split(".")[0]]
    return []


def project_imports(path: Path) -> list[tuple[int, str]]:
    """(line, top-level project package) for every import statement in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return [(n.lineno, top) for n in ast.walk(tree) for top in _imported(n) if top in PROJECT]


def guarded_imports(path: Path) -> list[int]:
    """Lines of project imports inside a `try` whose handlers catch ImportError."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        caught = {getattr(h.type, "id", None) for h in node.handlers} | {
            getattr(e, "id", None) for h in node.handlers if isinstance(h.type, ast.Tuple) for e in h.type.elts}
        if caught & {"ImportError", "ModuleNotFoundError"}:
            lines += [n.lineno for stmt in node.body for n in ast.walk(stmt)
                      if any(top in PROJECT for top in _imported(n))]
    return lines


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_packages_import_only_their_own_layer_or_below(package):
    bad = [f"{p.relative_to(ROOT)}:{line} imports {top}" for p in _modules(package)
           for line, top in project_imports(p) if top != package and top not in ALLOWED[package]]
    assert not bad, "imports against ARCHITECTURE.md:\n" + "\n".join(bad)


@pytest.mark.parametrize("package", sorted(ALLOWED) + ["benchmarks"])
def test_no_project_import_behind_import_error_guards(package):
    bad = [f"{p.relative_to(ROOT)}:{line}" for p in _modules(package) for line in guarded_imports(p)]
    assert not bad, "project imports guarded by except ImportError:\n" + "\n".join(bad)


def test_checker_sees_an_upward_import(tmp_path):
    """The checker itself: an upward import inside a function and a guarded one are both found."""
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from app.predict import run_predict\n"
                 "try:\n    import finetune.train\nexcept ImportError:\n    pass\n")
    assert project_imports(f) == [(2, "app"), (4, "finetune")]
    assert guarded_imports(f) == [4]


def layer_table() -> dict[str, str]:
    """ARCHITECTURE.md's layer table: {package (first column, without the slash): its "may import" cell}."""
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z_]+)/` \| ([^|]+) \|", text, flags=re.M)
    assert rows, "ARCHITECTURE.md has no layer table"
    return {name: cell.strip() for name, cell in rows}


def test_the_layer_table_names_every_package():
    """Its first column lists exactly the top-level folders that hold an __init__.py (the tests aside)."""
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert set(layer_table()) == packages


def test_the_layer_table_says_what_each_layer_may_import():
    """Its second column is ALLOWED, so the document and the check cannot drift apart."""
    table = layer_table()
    said = {name: set() if cell == "nothing of the project" else {x.strip() for x in cell.split(",")}
            for name, cell in table.items() if name != "benchmarks"}
    assert said == ALLOWED
