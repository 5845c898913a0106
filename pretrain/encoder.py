"""The compact image encoder shared by pretraining, finetuning and retrieval.

Why this shape: white balance lives in global colour statistics, so the encoder sees the whole frame
at a modest resolution and its embedding concatenates globally pooled features from *every* stage —
the shallow stages are nearly linear in the input colours and keep the colour cast that deep,
semantic features would wash out. About 0.7 M parameters (< 3 MB in float32).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.runtime import memory_format_for, strided_1x1_ok


class Block(nn.Module):
    """Residual 3x3 block with a strided 1x1 shortcut (ResNet 'basic' block)."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        # A narrow strided 1x1 shortcut corrupts the heap in oneDNN's weight gradient (see
        # core.runtime.strided_1x1_ok): there the input is subsampled first and the 1x1 runs at
        # stride 1, the same function. Wide blocks (the default width) keep the single primitive.
        self.subsample = 1 if strided_1x1_ok(cin) else stride
        self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, stride // self.subsample, bias=False),
                                  nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # in-place ReLUs: a BatchNorm's backward needs its input, not its output, so the output can
        # be overwritten; one activation tensor fewer per ReLU in training (fp32 AVX2 peak memory)
        y = F.relu(self.b1(self.c1(x)), inplace=True)
        s = self.subsample
        return F.relu(self.b2(self.c2(y)) + self.skip(x[:, :, ::s, ::s] if s > 1 else x), inplace=True)


class Encoder(nn.Module):
    """sRGB images (B,3,H,W) in [0,1] -> embedding (B, dim), dim = sum of stage widths."""

    def __init__(self, width: int = 24, image_size: int = 112):
        super().__init__()
        w = [width, 2 * width, 4 * width, 8 * width]
        self.image_size = image_size
        self.width = width
        self.stem = nn.Sequential(nn.Conv2d(3, w[0], 3, 2, 1, bias=False), nn.BatchNorm2d(w[0]), nn.ReLU(inplace=True))
        self.stages = nn.ModuleList([Block(w[0], w[1], 2), Block(w[1], w[2], 2), Block(w[2], w[3], 2)])
        self.dim = sum(w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x - 0.5)
        pooled = [h.mean((2, 3))]
        for stage in self.stages:
            h = stage(h)
            pooled.append(h.mean((2, 3)))
        return torch.cat(pooled, 1)

    def config(self) -> dict[str, int]:
        return {"width": self.width, "image_size": self.image_size}


def to_tensor(images: np.ndarray | torch.Tensor, size: int | None = None) -> torch.Tensor:
    """uint8 NHWC (numpy or torch) -> float NCHW in [0,1], resized (antialiased) to `size` if given."""
    t = torch.as_tensor(images)
    t = t.permute(0, 3, 1, 2).float().div_(255.0)
    if size is not None and t.shape[-1] != size:
        t = F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return t


@torch.no_grad()
def embed(encoder: Encoder, images: np.ndarray, batch_size: int = 256,
          device: torch.device | str = "cpu") -> np.ndarray:
    """Embed uint8 NHWC images in eval mode; returns float32 (N, dim)."""
    layout = memory_format_for(device)  # NHWC: the fastest layout for CPU convolutions
    encoder.eval().to(device, memory_format=layout)
    out = []
    for i in range(0, len(images), batch_size):
        x = to_tensor(images[i:i + batch_size], encoder.image_size).to(device, memory_format=layout)
        out.append(encoder(x).float().cpu())
    if not out:
        return np.zeros((0, encoder.dim), np.float32)
    return torch.cat(out).numpy().astype(np.float32)


ENCODER_FILE = "encoder.safetensors"  # weights; the architecture and provenance beside it in encoder.json


def save_encoder(path: str | Path, encoder: Encoder, extra: dict[str, Any] | None = None,
                 half: bool = False) -> None:
    """Weights to `path` (X.safetensors), architecture config + whatever provenance the caller adds
    (JSON-serialisable) to X.json; both data only (core.artifacts), written atomically.

    half=True stores the floating-point tensors as float16: the model folder's copy, which only has
    to run inference, is half the size (the model-size budget is 4 MB). finetune rounds the encoder
    to float16 precision *before* it computes features (`round_to_half`), so the head is trained on
    exactly the embeddings that predict will see from the stored weights."""
    from core.artifacts import save_tensors, write_json

    path = Path(path)
    sd = half_state(encoder.state_dict()) if half else encoder.state_dict()
    meta = {"arch": encoder.config(), "storage": "float16" if half else "float32", **(extra or {})}
    save_tensors(path, {k: v.detach().cpu().numpy() for k, v in sd.items()})
    write_json(path.with_suffix(".json"), meta)


def save_checkpoint(path: str | Path, blob: dict[str, Any]) -> None:
    """The training state --resume needs (weights, optimizer, schedule, history), atomically. Stays
    a torch file (optimizer state has no data-only home), and is only ever read with weights_only."""
    from core.artifacts import atomic_write

    def plain(v):  # str subclasses (torch.__version__ is a TorchVersion) would need a pickled class
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return type(v)(plain(x) for x in v)
        return str(v) if isinstance(v, str) else v

    atomic_write(path, lambda f: torch.save(plain(blob), f))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Inverse of save_checkpoint: tensors and plain containers only (torch's weights_only loader
    refuses anything that would run code)."""
    from core.errors import CatalogError

    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:  # pickle.UnpicklingError for code, RuntimeError for a truncated file
        raise CatalogError(f"{path}: not a loadable training checkpoint ({type(e).__name__}: "
                           f"{str(e).splitlines()[0] if str(e) else ''}); start the run again without --resume") from e


def half_state(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict with its floating-point tensors as float16 (storage only)."""
    return {k: v.half() if v.is_floating_point() else v for k, v in sd.items()}


def float_state(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Inverse of half_state: floating-point tensors back to float32."""
    return {k: v.float() if v.is_floating_point() else v for k, v in sd.items()}


def round_to_half(module: nn.Module) -> nn.Module:
    """Round the weights (in place) to what a float16 copy holds; they stay float32 tensors. Used for
    every network the model folder stores in float16 (encoder, heads), so that what training
    validated is exactly what predict runs."""
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            if t.is_floating_point():
                t.copy_(t.half().float())
    return module


def load_encoder(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[Encoder, dict[str, Any]]:
    """Inverse of save_encoder: (float32 encoder in eval mode, the metadata dict + "state_dict").
    `path` may be the folder holding encoder.safetensors. Nothing in the files is executed."""
    from core.artifacts import load_tensors, read_json
    from core.errors import CatalogError

    path = Path(path)
    path = path / ENCODER_FILE if path.is_dir() else path
    if path.suffix != ".safetensors":
        raise CatalogError(f"{path}: not an encoder in the data-only format (encoder.safetensors + encoder.json); "
                           f"an encoder.pt from an older wbstyle holds pickled objects and is never loaded: "
                           f"re-run pretrain (or finetune without --encoder)")
    if not path.is_file() and (path.parent / "encoder.pt").is_file():
        raise CatalogError(f"{path.parent}: holds encoder.pt from an older wbstyle (pickled, never loaded); "
                           f"re-run pretrain to write {ENCODER_FILE}")
    meta = read_json(path.with_suffix(".json"))
    sd = {k: torch.from_numpy(v) for k, v in load_tensors(path).items()}
    try:
        enc = Encoder(**meta["arch"])
        enc.load_state_dict(float_state(sd))
    except (KeyError, TypeError, RuntimeError) as e:
        raise CatalogError(f"{path}: weights do not fit the architecture in {path.with_suffix('.json').name} "
                           f"({type(e).__name__}: {str(e).splitlines()[0]})") from e
    return enc.eval().to(map_location), {**meta, "state_dict": sd}
