"""benchmarks/run.py --quick: the whole benchmark on a tiny demo catalog writes a complete BENCHMARKS.md
whose tables hold measured numbers (not placeholders) for every system."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import run as bench  # noqa: E402


def _table(text: str, header_start: str) -> list[list[str]]:
    """Cells of the markdown table whose header row starts with `header_start`."""
    lines = text.splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith(f"| {header_start}"))
    rows = []
    for line in lines[i + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def _number(cell: str) -> float:
    m = re.match(r"^-?[\d,]+(\.\d+)?", cell)
    assert m, f"not a number: {cell!r}"
    return float(m.group(0).replace(",", ""))


def test_quick_benchmark_writes_complete_report(tmp_path):
    torch.set_num_threads(1)
    out = tmp_path / "BENCHMARKS.md"
    assert bench.main(["--quick", "--out", str(out), "--work", str(tmp_path / "work")]) == 0
    text = out.read_text()
    for header in ("# wbstyle benchmarks", "## Machine", "## 1. Accuracy on the real release",
                   "## 2. Accuracy on the synthetic benchmark", "## 3. Consistency", "## 4. Cost"):
        assert header in text
    assert "error:" not in text and "--quick --out" in text

    systems = ["as-shot", "GBM, metadata", "GBM, metadata + grey-world", *bench.HEAD_SYSTEMS, bench.BLEND_SYSTEM]
    accuracy = {r[0]: r for r in _table(text, "system | MAE Temperature (K) | MAE Tint | MAE mired | MAE mired, per")}
    assert list(accuracy) == systems
    for row in accuracy.values():
        assert all(_number(c) >= 0 for c in row[1:4])
    assert re.search(r"Improvement of the head over the GBM: \*\*[+-]\d+\.\d %\*\*", text)

    consistency = {r[0]: r for r in _table(text, "system | variant sd mired")}
    assert list(consistency) == systems
    assert _number(consistency["as-shot"][1]) == 0 and _number(consistency["as-shot"][3]) > 50  # the bracket's own sd

    synthetic = {r[0]: r for r in _table(text, "system | MAE Temperature (K) | MAE Tint | MAE mired | ÷ floor")}
    assert {"as-shot", "head, SimCLR-pretrained encoder", bench.PRODUCT_SYSTEM} == set(synthetic)
    assert all(_number(c) >= 0 for r in synthetic.values() for c in r[1:4])

    cost = {r[0]: r for r in _table(text, "measure | value | target | result")}
    assert _number(cost["pretrain + finetune"][1]) > 0 and cost["pretrain + finetune"][3] in ("**pass**", "**FAIL**")
    size = next(r for k, r in cost.items() if k.startswith("model size"))
    assert 0 < _number(size[1]) and size[3] in ("**pass**", "**FAIL**")
    assert _number(cost["peak memory (any stage)"][1]) > 10
    assert cost["single-photo latency (one TIFF → CSV, start-up included)"][1] == "not run: --quick"
    assert cost["SimCLR pretrain (`cli.py pretrain`)"][3] in ("**pass**", "**FAIL**")

    # stage 1 (issue #3) on both data sets: time, memory, size and embedding quality, all measured
    assert text.count("Stage 1 (SimCLR pretraining) on") == 2
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Stage 1 (SimCLR pretraining) on"))
    rows = {r[0]: r[1] for r in _table("\n".join(lines[start:]), "measure | value")}
    assert _number(rows["peak memory"]) > 10
    assert _number(rows["encoder parameters; encoder.pt (float32 + provenance)"]) > 1000
    top1 = [float(v) for v in rows[next(k for k in rows if k.startswith("view retrieval top-1"))].split(" / ")]
    assert len(top1) == 4 and all(0 <= v <= 1 for v in top1)


def test_measured_reports_the_commands_own_peak_memory(tmp_path):
    """Linux carries the parent's peak RSS across fork + exec; a big benchmark process must not make
    a small command look big (it did: every stage read 2,827 MB)."""
    ballast = bytearray(400 * 1024 * 1024)  # the benchmark process, grown to > 400 MB
    ballast[::4096] = b"x" * len(ballast[::4096])  # touch every page so it is resident
    run = bench.measured([sys.executable, "-c", "b = bytearray(60 * 1024 * 1024); b[::4096] = b'y' * len(b[::4096])"],
                         tmp_path / "log.txt")
    assert 60 <= run["peak_mb"] < 300 and run["wall_s"] > 0
    del ballast
