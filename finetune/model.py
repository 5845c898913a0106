"""The stage-2 head network, trained in torch (finetune.train); predict runs its weights in numpy
(finetune.mlp, finetune.ensemble.HeadEnsemble).

WBHead fuses four inputs, all standardised upstream: the image embedding, colour-constancy
features, encoded metadata (EXIF; the as-shot pair is left out, see IMAGE_META_EXCLUDED), and a
learned camera embedding. It is a small MLP plus a linear shortcut from the colour + metadata
features (the cast → edit relation is largely linear; the MLP learns the rest), zero-initialised at
the output so training starts at "the median edit". Only the metadata-only fallback (for photos
whose image cannot be read, so there is no bracket to be consistent across) reads the as-shot.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn


class WBHead(nn.Module):
    """(embedding, colour, metadata, camera index) -> scaled target shifts (B, n_targets)."""

    def __init__(self, emb_dim: int, colour_dim: int, meta_dim: int, n_cameras: int, n_targets: int,
                 hidden: int = 256, dropout: float = 0.1, cam_dim: int = 8, emb_dropout: float | None = None):
        super().__init__()
        self.dims = dict(emb_dim=emb_dim, colour_dim=colour_dim, meta_dim=meta_dim, n_cameras=n_cameras,
                         n_targets=n_targets, hidden=hidden, dropout=dropout, cam_dim=cam_dim,
                         emb_dropout=emb_dropout)
        self.cam = nn.Embedding(max(int(n_cameras), 1), cam_dim)
        nn.init.normal_(self.cam.weight, std=0.1)
        # The embedding is wide and the catalogs are small: extra input dropout keeps the MLP from
        # memorising shoots through it.
        self.emb_drop = nn.Dropout(dropout if emb_dropout is None else emb_dropout)
        in_dim = emb_dim + colour_dim + meta_dim + cam_dim
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(hidden, n_targets))
        self.linear = nn.Linear(colour_dim + meta_dim + cam_dim, n_targets)
        for layer in (self.mlp[-1], self.linear):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, emb: torch.Tensor, colour: torch.Tensor, meta: torch.Tensor,
                camera: torch.Tensor) -> torch.Tensor:
        c = self.cam(camera)
        side = torch.cat([colour, meta, c], 1)
        return self.mlp(torch.cat([self.emb_drop(emb), side], 1)) + self.linear(side)


def huber(pred: torch.Tensor, target: torch.Tensor, delta: float = 1.0,
          weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean Huber loss over all targets (targets already in 'spread' units), divided by delta (= smooth
    L1): quadratic within `delta` spreads, |error| beyond, so a small delta approaches the MAE (whose
    optimum is the median, what an MAE metric rewards) without changing the gradient scale.
    weights (B,): per-row weights, the loss their weighted mean (so the gradient scale stays the same)."""
    if weights is None:
        return nn.functional.smooth_l1_loss(pred, target, beta=delta)
    per_row = nn.functional.smooth_l1_loss(pred, target, beta=delta, reduction="none").mean(1)  # (B,)
    return (per_row * weights).sum() / weights.sum().clamp_min(1e-12)


def head_arrays(head: WBHead) -> dict[str, np.ndarray]:
    """A trained head's weights as float32 numpy arrays, keyed like its state dict (finetune.mlp.KEYS):
    what HeadEnsemble holds and predict runs."""
    return {k: v.detach().cpu().float().numpy() for k, v in head.state_dict().items()}
