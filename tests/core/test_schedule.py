"""core/schedule.py against a hand computation: linear warm-up, cosine to zero, zero after."""
import math

from core.schedule import warmup_cosine


def test_warmup_then_cosine_to_zero():
    f = warmup_cosine(total_steps=12, warmup_steps=4)
    assert [f(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert f(4) == 1.0                                                     # the peak, then decay
    assert math.isclose(f(8), 0.5 * (1 + math.cos(math.pi * 0.5)))        # half-way through the decay
    assert f(12) == 0.0 and f(50) == 0.0                                   # finished: stays at zero
    assert warmup_cosine(10, 0)(0) == 1.0                                  # no warm-up: starts at the peak
