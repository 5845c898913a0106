"""benchmarks/oracle.py: the oracle maps a noisy label back to the light behind it exactly through
the generator's style. A stand-in generator module carries the style (tests never read ../shared)."""
from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks.oracle import ORACLE_INVERSION, ORACLE_LSQ, _style, _unstyle, is_oracle  # noqa: E402


def _generator() -> types.ModuleType:
    gen = types.ModuleType("fake_make_wb_bench")
    gen.REF_MIRED = 1e6 / 5500.0

    def photographer_clean(temp, tint):  # the benchmark's documented style: keep 25 % of warmth, warm shade
        m = 1e6 / temp
        m = m - 0.25 * (m - gen.REF_MIRED) if m > gen.REF_MIRED else m - 0.15 * (gen.REF_MIRED - m)
        return 1e6 / (m - 3.0), 0.85 * tint + 2.0

    gen.photographer_clean = photographer_clean
    return gen


def test_unstyle_inverts_the_style_on_both_sides_of_the_reference():
    gen = _generator()
    mired = np.array([100.0, 150.0, gen.REF_MIRED - 1, gen.REF_MIRED + 1, 250.0, 380.0])
    tint = np.array([-20.0, 0.0, 3.0, 8.0, 15.0, 30.0])
    t, ti = _style(gen, mired, tint)
    assert not np.allclose(1e6 / t, mired)  # the style moves the light
    back_m, back_t = _unstyle(gen, t, ti)
    np.testing.assert_allclose(back_m, mired, atol=1e-9)
    np.testing.assert_allclose(back_t, tint, atol=1e-9)


def test_the_target_check_judges_the_best_product_row_never_an_oracle():
    """The oracle rows beat every product row here; the target must still name the product and compare it
    with the best oracle row (issue #12: within 10 %)."""
    from benchmarks.report import _floor_check

    def row(mired):
        return {"mae_mired": mired, "mae_temp": 50.0 * mired, "mae_tint": mired / 3}

    floor = {"mired": 3.0, "temp": 150.0, "tint": 1.0}
    scores = {"as-shot": row(30.0), "head": row(12.0), "product": row(10.0),
              ORACLE_INVERSION: row(9.5), ORACLE_LSQ: row(9.2)}
    text = "\n".join(_floor_check(scores, floor))
    assert "(product: 10.00 against 9.20, 1.09×): **pass**" in text  # the product row, the best oracle
    assert "noise floor (product)" in text and "3.33×" in text  # 10 / 3: the product row, not an oracle's
    scores["product"] = row(10.2)  # 1.11x the best oracle row
    assert "1.11×): **FAIL**" in "\n".join(_floor_check(scores, floor))
    assert not is_oracle("product") and is_oracle(ORACLE_LSQ)
