"""Run-time plumbing every stage shares: device choice, seeding, and the provenance
(versions, config) that each artifact carries so a result can be traced to what made it.

torch is imported inside the functions that need it: predicting runs without torch installed
(the lean install), and it shares this module."""
from __future__ import annotations

import dataclasses
import json
import os
import platform
import random
import sys
from datetime import datetime, timezone
from pathlib import Path
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


def write_json(path: str | Path, obj: Any) -> None:
    """Reports and results: atomically (catalog.artifacts), so a killed run never leaves half a file."""
    from catalog.artifacts import write_json as write_atomically

    write_atomically(path, obj)
