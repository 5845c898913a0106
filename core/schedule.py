"""The one learning-rate schedule of both stages: linear warm-up, then cosine decay to zero.

Robust without tuning, which matters for a tool that trains on each photographer's own catalog:
SimCLR pretraining warms up for `warmup_epochs`, the heads for the first 10 % of their steps.
Used through torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(total, warmup)).
"""
from __future__ import annotations

import math
from typing import Callable


def warmup_cosine(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    """LR multiplier at each step: (step + 1) / warmup_steps during the warm-up, then
    0.5 * (1 + cos(pi * progress)) down to 0 at `total_steps` (and 0 after)."""
    warmup_steps = max(1, int(warmup_steps))

    def lr_at(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

    return lr_at
