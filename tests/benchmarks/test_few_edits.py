"""benchmarks/few_edits.py end to end on a tiny catalog of 6-photo shoots, tiny budgets."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from benchmarks.few_edits import main, reveals, summarise


def test_reveals_take_k_from_big_shoots_only():
    shoots = np.array(["date:a"] * 7 + ["date:b"] * 5 + ["row:1"] * 8)
    sets = reveals(shoots, np.arange(20), ks=(0, 1, 3), repeats=2)
    assert {s for s, *_ in sets} == {"date:a"} and len(sets) == 4       # k = 0 has no reveal
    for _, k, rev, rest in sets:
        assert len(rev) == k and len(rest) == 7 - k and not set(rev) & set(rest)


def test_summarise_gain_is_against_k0_on_the_same_photos():
    recs = [{"shoot": "a", "k": 0, "n": 2, "err_mired": [10.0, 10.0], "err0_mired": [10.0, 10.0],
             "err_tint": [2.0, 2.0], "err0_tint": [2.0, 2.0], "err_k": [100.0, 100.0], "err0_k": [100.0, 100.0]},
            {"shoot": "a", "k": 3, "n": 2, "err_mired": [5.0, 10.0], "err0_mired": [10.0, 10.0],
             "err_tint": [1.0, 2.0], "err0_tint": [2.0, 2.0], "err_k": [50.0, 100.0], "err0_k": [100.0, 100.0]}]
    s = summarise(recs)
    assert s[0]["gain_mired"] == 0 and abs(s[3]["gain_mired"] - 0.25) < 1e-12 and s[3]["mae_k"] == 75.0


def test_benchmark_writes_a_table_with_its_command(tmp_path):
    from tests.conftest import write_catalog

    root = write_catalog(tmp_path, n_train=24, n_val=0, size=32, seed=3)
    csv = root / "Train" / "sliders.csv"
    df = pd.read_csv(csv)  # four shoots of six photos, a minute apart
    df["captureTime"] = [f"2023-0{1 + i // 6}-10T10:0{i % 6}:00" for i in range(len(df))]
    df.to_csv(csv, index=False)
    out = tmp_path / "few.md"
    assert main(["--real", str(root), "--out", str(out), "--work", str(tmp_path / "work"), "--folds", "2",
                 "--ks", "1,3", "--repeats", "2", "--quick", "--quiet", "--threads", "1"]) == 0
    md = out.read_text()
    assert "python benchmarks/few_edits.py --real" in md and "| k | reveals |" in md
    res = json.loads(out.with_suffix(".json").read_text())
    by_k = res["real"]["by_k"]
    assert set(by_k) == {"0", "1", "3"} and by_k["0"]["gain_mired"] == 0
    # every shoot held out once: 4 shoots x 2 reveals x (6 - k) photos scored; k = 0 scores each photo once
    assert (by_k["3"]["photos"], by_k["1"]["photos"], by_k["0"]["photos"]) == (4 * 2 * 3, 4 * 2 * 5, 4 * 6)
    assert len(res["real"]["per_fold"]) == 2 and np.isfinite(by_k["3"]["mae_mired"])
    assert "### Scene consistency" in md and "| photographer's edits |" in md
    scenes = res["real"]["scenes"]
    assert len(scenes) == 2 and all(len(f["`predict`, --consistency scene (default)"]["err_mired"]) == 12 for f in scenes)
