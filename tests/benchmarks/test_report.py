"""benchmarks/report.py: BENCHMARKS.md from stored section envelopes alone (hand-made here)."""
from __future__ import annotations

import re

from benchmarks import report
from benchmarks.cost import TARGETS
from benchmarks.report import table_rows

MACHINE = {"cpu_model": "Test CPU 9000", "cpu_capability": "AVX512", "cpus": 2, "ram_gb": 8.0, "platform": "linux",
           "torch_threads": 2, "load_start": [0.5, 0.4, 0.3], "load_end": [1.5, 0.9, 0.4]}


def _stored(name: str, result=None, status="ok", reason="", command=None) -> dict:
    return {"section": name, "command": command or f"python benchmarks/run.py --sections {name}",
            "date": "2026-12-01 10:00 UTC", "seconds": 90.0, "quick": False, "machine": MACHINE,
            "versions": {"torch": "9.9"}, "status": status, "reason": reason, "result": result}


def _column(isa: str, bf16: bool, pretrain_s, predict_ips: float) -> dict:
    col = {"hardware": {"isa": isa, "env": {} if isa == "native" else {"ONEDNN_MAX_CPU_ISA": "AVX2"},
                        "cpu_capability": "AVX512" if isa == "native" else "AVX2", "bf16": bf16},
           "load_start": [0.1, 0.2, 0.3], "load_end": [1.0, 1.1, 1.2], "pretrain_bf16": bf16,
           "finetune": {"wall_s": 50.0, "peak_mb": 900.0},
           "predict": {"wall_s": 4000 / predict_ips, "peak_mb": 800.0, "ips": predict_ips},
           "decode_only": {"wall_s": 2.0, "ips": 2000.0, "size": 96, "workers": 2},
           "demo": {"wall_s": 45.0, "peak_mb": 1000.0}}
    col["pretrain"] = {"error": "`cli.py pretrain` exited with -6"} if pretrain_s is None else \
        {"wall_s": pretrain_s, "peak_mb": 1500.0}
    return col


def _cost() -> dict:
    return {"n_pretrain_images": 3032, "n_train": 2539, "n_predict": 4000, "n_unique_predict": 2539,
            "columns": {"native": _column("native", True, 140.0, 1200.0), "avx2": _column("avx2", False, None, 450.0)},
            "model_figures": {"faiss_batch_us": 6.0, "faiss_single_us": 19.0, "faiss_n": 2539, "faiss_k": 8,
                              "faiss_kind": "IndexFlatIP", "files": {"head.safetensors": 1}, "model_mb": 3.1},
            "targets": {"by_precision": TARGETS, "decode_ratio": 0.5, "model_mb": 4.0, "peak_mb": 2048.0}}


def test_cost_columns_are_judged_by_the_precision_each_one_used():
    text = "\n".join(report.cost_markdown(_stored("cost", _cost())))
    assert "Test CPU 9000" in text and "`python benchmarks/run.py --sections cost`" in text
    rows = table_rows(text, "measure | native: value")
    assert rows["torch CPU capability"][0] == "AVX512" and rows["torch CPU capability"][3] == "AVX2"
    assert rows["bf16 used (the stages' decision; pretrain's own)"][0::3] == ["yes (yes)", "no (no)"]
    assert rows["load average (1, 5, 15 min) at column start / end"][0] == "0.1 0.2 0.3 / 1.0 1.1 1.2"
    pre = rows["SimCLR pretrain (`cli.py pretrain`)"]  # bf16: ≤ 150 s; the capped column's run aborted
    assert pre[:3] == ["140.0 s", "≤ 150 s", "**pass**"] and pre[3].startswith("error: ") and pre[5] == "**FAIL**"
    assert rows["pretrain + finetune"][3:] == ["not run: pretrain or finetune failed", "≤ 360 s", "**FAIL**"]
    predict = next(v for k, v in rows.items() if k.startswith("predict end to end: 4,000 TIFFs"))
    assert predict[1:3] == ["≥ 1,000 photos/s", "**pass**"] and predict[4:] == ["≥ 500 photos/s", "**FAIL**"]
    ratio = rows["predict ÷ decode only"]
    assert ratio[:3] == ["0.60", "≥ 0.50", "**pass**"] and ratio[3:] == ["0.23", "≥ 0.50", "**FAIL**"]
    assert rows["`cli.py demo` (fresh --out)"][0::3] == ["45.0 s", "45.0 s"]
    assert rows["single-photo latency (one TIFF → CSV, start-up included)"][0] == "not run"  # never measured
    assert rows["peak memory (any stage)"][:3] == ["1,500 MB", "≤ 2048 MB", "**pass**"]
    model = table_rows(text, "model (either column)")
    assert next(v for k, v in model.items() if k.startswith("model size")) == ["3.10 MB", "≤ 4 MB", "**pass**"]


def test_render_names_each_sections_command_and_what_was_never_run():
    stored = {"cost": _stored("cost", _cost(), command="python benchmarks/run.py --sections cost --isa native,avx2"),
              "bracket": _stored("bracket", status="not run", reason="benchmarks/bracket.py absent"),
              "workflow": _stored("workflow", {"markdown": "## Workflow rates\n\n| a | b |\n|---|---:|\n| x | 1 |"})}
    extras = {"bracket": ("As-shot brackets", None), "workflow": ("Workflow", None), "reliability": ("Reliability", None)}
    text = report.render(stored, "python benchmarks/run.py --sections none", "2026-12-02 00:00 UTC", extras)
    assert text.startswith("# wbstyle benchmarks") and "--sections none" in text.splitlines()[2]
    runs = table_rows(text, "section | command")
    assert list(runs) == ["cost", "bracket", "workflow"]
    assert runs["cost"][0] == "`python benchmarks/run.py --sections cost --isa native,avx2`" and runs["cost"][-1] == "ok"
    for name in ("real", "synthetic"):
        assert f"not run: no stored result (`python benchmarks/run.py --sections {name}`)" in text
    assert re.search(r"## 5\. As-shot brackets\n\n_Measured by .*\n\nnot run: benchmarks/bracket\.py absent", text)
    assert "## 6. Workflow\n" in text and "### Workflow rates" in text and "| x | 1 |" in text
    assert "## 7. Reliability\n\nnot run: no stored result" in text
    assert "Contains --quick" not in text and "(--quick" not in text  # no quick section stored: no quick flags


def test_quick_results_are_flagged():
    stored = {"cost": {**_stored("cost", _cost()), "quick": True}}
    text = report.render(stored, "c", "d", {})
    assert "**Contains --quick results**" in text and "(--quick: tiny stand-in data" in text


def test_capped_column_names_the_environment_it_was_measured_under():
    """The AVX2 column's text quotes the caps stored with that result, not today's harness.ISA_ENV: a
    result measured before numpy and faiss were capped must not claim they were."""
    old = "\n".join(report.cost_markdown(_stored("cost", _cost())))
    assert "`ONEDNN_MAX_CPU_ISA=AVX2`" in old and "NPY_DISABLE_CPU_FEATURES=" not in old
    cost = _cost()
    cost["columns"]["avx2"]["hardware"]["env"] = {"ONEDNN_MAX_CPU_ISA": "AVX2", "FAISS_SIMD_LEVEL": "AVX2"}
    new = "\n".join(report.cost_markdown(_stored("cost", cost)))
    assert "`ONEDNN_MAX_CPU_ISA=AVX2 FAISS_SIMD_LEVEL=AVX2`" in new


def test_int8_lever_rows_show_both_graphs_and_the_speedup():
    cost = _cost()
    cost["model_figures"]["encoder"] = {"graph": "int8", "stored_ms": 0.4, "float32_ms": 1.0,
                                        "relative_difference": 0.021, "n": 512, "image_size": 96}
    rows = table_rows("\n".join(report.cost_markdown(_stored("cost", cost))), "model (either column)")
    speed = next(v for k, v in rows.items() if k.startswith("encoder on one core, 96 px: stored graph (int8)"))
    assert speed[0] == "0.400 / 1.000 ms per photo (2.50x)"
    assert next(v for k, v in rows.items() if k.startswith("embedding difference"))[0] == "2.10 %"
    assert not any(k.startswith("encoder on one core") for k in table_rows(
        "\n".join(report.cost_markdown(_stored("cost", _cost()))), "model (either column)"))  # older results


def _row(mae_mired: float, p75: float, flash: bool = True) -> dict:
    m = {"n": 10, "mae_temp_k": 10 * mae_mired, "mae_tint": 4.0, "mae_mired": mae_mired, "score_temp": 0.01,
         "score_tint": 0.2, "de00_mean": p75 - 0.5, "de00_p75": p75, "de00_p90": p75 + 1.0}
    if flash:
        m["per_flash"] = {"flash": {**m, "n": 3}, "no flash": {**m, "n": 7}}
    return m


def test_real_section_shows_delta_e_flash_slices_the_time_ordered_split_and_recency(monkeypatch):
    from benchmarks.systems import BLEND_BASE, BLEND_SYSTEM, PRODUCT_SYSTEM, RECENCY_SYSTEM

    grouped = {"as-shot": _row(30.0, 4.0), "GBM, metadata": _row(20.0, 3.0), BLEND_BASE: _row(16.0, 2.4),
               RECENCY_SYSTEM: _row(16.8, 2.5), BLEND_SYSTEM: _row(15.5, 2.3), PRODUCT_SYSTEM: _row(15.0, 2.2)}
    for m in grouped.values():
        m |= {"fold_mae_mired": [m["mae_mired"]] * 2, "fold_mae_temp_k": [m["mae_temp_k"]] * 2}
    timed = {"as-shot": _row(35.0, 5.0), BLEND_BASE: _row(20.0, 3.0), RECENCY_SYSTEM: _row(18.0, 2.7)}
    result = {"n": 20, "n_shoots": 6, "fold_sizes": [10, 10], "results": grouped, "seconds": {"x": 1.0},
              "time_ordered": {"n_train": 16, "n_test": 4, "test_dates": ["2024-09-01", "2024-09-02"],
                               "fraction": 0.2, "results": timed},
              "stage1": None, "pretrain": {"epochs": 1, "batch_size": 2, "image_size": 32, "width": 8}, "budgets": {}}
    monkeypatch.setattr(report, "stage1_markdown", lambda st, where: [])  # not what this test reads
    text = "\n".join(report.real_markdown(_stored("real", result)))
    main = table_rows(text, "system | MAE Temperature (K) | MAE Tint | MAE mired | MAE mired, per fold")
    assert main["as-shot"][-3:] == ["3.50", "4.00", "5.00"]  # ΔE00 mean / P75 / P90
    assert f"ΔE00 P75 of the product's default ({PRODUCT_SYSTEM}): 2.20; beats every other row (best other: " \
           f"{BLEND_SYSTEM}, 2.30): **pass**; standing goal ≤ 2: **FAIL**." in text
    flash = table_rows(text, "system | slice | n")
    assert len(flash) == len(grouped)  # first cell repeats per slice: the last slice of each system is kept
    timed_rows = table_rows(text, "system, time-ordered | MAE Temperature (K)")
    assert list(timed_rows) == list(timed) and timed_rows[RECENCY_SYSTEM][-2] == "2.70"
    assert "2 dates, 2024-09-01 to 2024-09-02" in text
    assert "time-ordered split: MAE mired 20.00 → 18.00 (-10.0 %)" in text
    assert "grouped folds: MAE mired 16.00 → 16.80 (+5.0 %)" in text and "ΔE00 P75 2.40 → 2.50 (+4.2 %)" in text
