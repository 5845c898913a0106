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


def test_oracle_rows_are_marked_as_diagnostics():
    # benchmarks/run.py leaves these rows out of the product's target check
    assert is_oracle(ORACLE_INVERSION) and is_oracle(ORACLE_LSQ)
    assert not is_oracle("head, SimCLR-pretrained encoder") and not is_oracle("as-shot")
    assert "diagnostic" in ORACLE_INVERSION and "diagnostic" in ORACLE_LSQ
