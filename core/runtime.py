"""Run-time plumbing every stage shares: device choice, seeding, and the provenance
(versions, config) that each artifact carries so a result can be traced to what made it.

torch is imported inside the functions that need it: predicting runs without torch installed
(the lean install), and it shares this module."""
from __future__ import annotations

import dataclasses
import contextlib
import functools
import json
import os
import platform
import random
import sys
from datetime import datetime, timezone
from typing import Any

import numpy as np


def pick_device(name: str = "auto") -> "torch.device":
    """'auto' takes CUDA when present (then Apple MPS), else the CPU; anything else is passed to torch."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(name)



# ---------------------------------------------------------------------------------------------------
# Per-ISA choices for CPU convolutions (issue #13). Every stage asks here, so the decision is one place.
# ---------------------------------------------------------------------------------------------------
# oneDNN (v3.12, torch 2.14) mis-addresses its workspace in the weight gradient of a *strided 1x1*
# convolution on channels-last input when the input has fewer channels than the ISA's SIMD block
# (8 floats with AVX2, 16 with AVX-512): heap corruption ("corrupted size vs. prev_size"), a hang
# with 2 threads, or silently wrong gradients (uxlfoundation/oneDNN#6035). Measured here: AVX2
# (ONEDNN_MAX_CPU_ISA=AVX2) aborts for 2..6 input channels at 8x8; AVX-512 aborts for 4..12 input
# channels from 64x64 up. 16 is the largest block of either ISA, so one threshold covers every x86 CPU
# and a model means the same on every machine (the choice changes only how a convolution is run).
STRIDED_1X1_MIN_CHANNELS = 16


def strided_1x1_ok(in_channels: int) -> bool:
    """Whether a strided 1x1 convolution with `in_channels` inputs may be trained as one oneDNN
    primitive. When not, the caller subsamples first (x[:, :, ::s, ::s]) and runs a stride-1 1x1
    convolution: the same function (bit-identical in float64), a path oneDNN computes correctly."""
    return in_channels >= STRIDED_1X1_MIN_CHANNELS


def memory_format_for(device: "torch.device | str") -> "torch.memory_format":
    """The layout the encoder trains and embeds in. Channels-last (NHWC) on every ISA, measured on
    one Xeon against NCHW (width 24, 96 px, loaded machine): AVX2 fp32 training 8.9 vs 11.9 ms CPU
    per view and embedding 2.9 vs 3.8 ms; AVX-512 bf16 training 14.7 vs 17.4 ms wall per photo on
    2 threads. On CUDA it lets bf16 use tensor cores. The oneDNN channels-last bug it could meet is
    routed around in the model (strided_1x1_ok)."""
    import torch

    return torch.channels_last


def use_bf16(precision: str, device: "torch.device") -> bool:
    """bfloat16 autocast only where it is native: emulated bf16 on an older CPU is slower than fp32.
    On a CPU the test is oneDNN's own (AVX512-BF16 or AMX present and not capped by ONEDNN_MAX_CPU_ISA)."""
    if precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"precision must be auto, bf16 or fp32, got {precision!r}")
    if precision != "auto":
        return precision == "bf16"
    import torch

    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):  # a torch built without oneDNN
            return False
    return False

def seed_everything(seed: int) -> "torch.Generator":
    """Seed python, numpy and torch; return a torch generator for code that wants its own stream."""
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def versions() -> dict[str, str]:
    """Versions of the packages that shape results, stored inside every artifact."""
    out = {"python": sys.version.split()[0], "platform": platform.platform(), "numpy": np.__version__}
    # importlib.metadata reads the installed version without importing the package (sklearn and
    # torchvision take seconds to import, and provenance is written by every stage)
    from importlib import metadata
    for dist in ("torch", "torchvision", "onnxruntime", "lightly", "kornia", "faiss-cpu", "pandas", "tifffile", "scikit-learn"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:  # an optional package missing must not break saving
            pass
    return out


def provenance(config: Any) -> dict[str, Any]:
    """Config (a dataclass or dict) + versions + timestamp, JSON-serialisable."""
    cfg = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
    cfg = json.loads(json.dumps(cfg, default=str))
    return {"config": cfg, "versions": versions(), "created": datetime.now(timezone.utc).isoformat(),
            "argv": sys.argv}


def set_threads(n: int | None) -> None:
    """Limit intra-op threads (2-core laptops: more threads than cores only adds contention)."""
    if n:
        import torch

        torch.set_num_threads(n)
        os.environ.setdefault("OMP_NUM_THREADS", str(n))


@contextlib.contextmanager
def torch_threads(n: int):
    """A context with torch's intra-op threads set to n, restored after. finetune's fits run with one each,
    however many run at once, so a model does not depend on how many cores trained it."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def one_openmp_thread():
    """A context with OpenMP limited to one thread. sklearn's HistGradientBoosting with 2 OpenMP
    threads on 2 *shared* cores spins in its barriers: measured here, a 1,500-row fit took 270 s with
    2 threads and 1.6 s with 1. One thread is robust."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")


def one_blas_thread():
    """A context with numpy's BLAS limited to one thread. predict runs small matrix products (the
    heads, up to 128 photos at a time) on every core's worker at once; a second OpenBLAS thread only
    fights them: 4,000 photos took 13.4 s with 2 BLAS threads and 11.1 s with 1 here (same
    predictions, the other core loaded; measured with an earlier pipeline)."""
    from threadpoolctl import threadpool_limits  # a base dependency: tiny, pure Python

    return threadpool_limits(limits=1, user_api="blas")


@functools.lru_cache(maxsize=1)
def _libc():
    """glibc, or None (macOS, Windows, musl: the memory calls below are then no-ops). Looked up once:
    ctypes.util.find_library runs `ldconfig -p` in a subprocess, and release_freed_memory runs after
    every chunk of photos."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    return libc if libc is not None and hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


_KEEP_FREED = False
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
_KEPT_BYTES = 256 << 20


def keep_freed_memory() -> None:
    """For a process that is predict's alone (the predict command, its forked workers): glibc keeps
    freed buffers below 256 MB for reuse instead of handing each back to the operating system, and
    `release_freed_memory` stops trimming. Every chunk of photos allocates the same temporaries again;
    returned and re-mapped each time, their pages were zeroed anew by the kernel: 1.3 of 8.4 CPU
    seconds of a 4,000-photo predict went to the kernel, 0.6 with this, at the same peak (319 vs
    325 MB). Library callers (evaluate, tests) keep glibc's defaults."""
    global _KEEP_FREED
    libc = _libc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, _KEPT_BYTES)
        libc.mallopt(_M_TRIM_THRESHOLD, _KEPT_BYTES)
    _KEEP_FREED = True


def release_freed_memory() -> None:
    """Hand memory that was freed back to the operating system (glibc's malloc_trim; a no-op
    elsewhere, and in a process that keeps it for reuse: keep_freed_memory). glibc keeps each
    thread's freed buffers in its own arena; trimming after each chunk lowered the peak resident size
    of a 20,000-photo predict with a decoding thread (an earlier pipeline) from 653 to 611 MB here."""
    libc = None if _KEEP_FREED else _libc()
    if libc is not None:
        libc.malloc_trim(0)
