"""core/runtime.py: the per-ISA choices every stage takes (bf16, layout, the strided 1x1 route)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from core.runtime import STRIDED_1X1_MIN_CHANNELS, memory_format_for, strided_1x1_ok, use_bf16

ROOT = Path(__file__).resolve().parents[2]
CPU = torch.device("cpu")


def test_use_bf16_follows_an_explicit_precision_and_rejects_others():
    assert use_bf16("bf16", CPU) is True and use_bf16("fp32", CPU) is False
    with pytest.raises(ValueError, match="auto, bf16 or fp32, got 'fp16'"):
        use_bf16("fp16", CPU)
    assert use_bf16("auto", torch.device("meta")) is False  # neither CPU nor CUDA: never guessed


def test_auto_bf16_is_off_when_onednn_is_capped_at_avx2():
    # the cap is how CI runs the AVX2 kernels; bf16 there would be emulated (slower than fp32)
    code = (f"import sys, torch; sys.path.insert(0, {str(ROOT)!r}); from core.runtime import use_bf16; "
            "print(use_bf16('auto', torch.device('cpu')))")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2"},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr[-1000:]


def test_layout_and_strided_1x1_threshold():
    assert memory_format_for(CPU) == torch.channels_last
    assert memory_format_for("cpu") == torch.channels_last
    # 16 floats: the largest SIMD block (AVX-512); AVX2's 8 is covered too
    assert STRIDED_1X1_MIN_CHANNELS == 16
    assert not strided_1x1_ok(4) and not strided_1x1_ok(15) and strided_1x1_ok(16) and strided_1x1_ok(24)
