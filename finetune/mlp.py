"""The regression heads' forward pass in numpy: what predict runs, so predicting needs no torch.

A head (finetune.model.WBHead) is trained in torch; its state dict, as float32 arrays, is all this
module needs. Forward, with x = [embedding, side] and side = [colour, metadata, camera embedding]:

    out = W3·gelu(W2·gelu(W1·x + b1) + b2) + b3  +  Wl·side + bl            (B, n_targets)

Dropout is the identity at inference. GELU is the exact (erf) form torch's nn.GELU uses; erf comes
from Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7, below float32 rounding of the activations).
"""
from __future__ import annotations

import numpy as np

# the state-dict keys of WBHead: nn.Sequential numbers its Linear layers 0, 3, 6 (GELU and Dropout between)
KEYS = ("cam.weight", "mlp.0.weight", "mlp.0.bias", "mlp.3.weight", "mlp.3.bias", "mlp.6.weight", "mlp.6.bias",
        "linear.weight", "linear.bias")

_P, _A = 0.3275911, (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def erf(x: np.ndarray) -> np.ndarray:
    """Error function, elementwise (A&S 7.1.26, odd extension)."""
    a = np.abs(x)
    t = 1.0 / (1.0 + _P * a)
    poly = t * (_A[0] + t * (_A[1] + t * (_A[2] + t * (_A[3] + t * _A[4]))))
    return np.sign(x) * (1.0 - poly * np.exp(-a * a))


def gelu(x: np.ndarray) -> np.ndarray:
    """x·Φ(x), the exact GELU."""
    return 0.5 * x * (1.0 + erf(x * np.float32(1 / np.sqrt(2.0))))


def check_state(state: dict[str, np.ndarray], where: str) -> None:
    """Fail fast, naming the file, when a stored head lacks a weight."""
    missing = [k for k in KEYS if k not in state]
    if missing:
        raise ValueError(f"{where}: a head is missing {', '.join(missing)}")


def head_forward(state: dict[str, np.ndarray], emb: np.ndarray, colour: np.ndarray, meta: np.ndarray,
                 camera: np.ndarray) -> np.ndarray:
    """One head: emb (B, E), colour (B, C), meta (B, M) float32, camera (B,) int -> (B, n_targets)."""
    side = np.concatenate([colour, meta, state["cam.weight"][camera]], 1)
    h = gelu(np.concatenate([emb, side], 1) @ state["mlp.0.weight"].T + state["mlp.0.bias"])
    h = gelu(h @ state["mlp.3.weight"].T + state["mlp.3.bias"])
    return h @ state["mlp.6.weight"].T + state["mlp.6.bias"] + side @ state["linear.weight"].T + state["linear.bias"]


def ensemble_forward(states: list[dict[str, np.ndarray]], emb: np.ndarray, colour: np.ndarray, meta: np.ndarray,
                     camera: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """Mean over the heads, float64 (B, n_targets); in batches so memory stays flat for any B."""
    n_out = states[0]["mlp.6.bias"].shape[0]
    out = np.zeros((len(meta), n_out))
    for i in range(0, len(meta), batch_size):
        sl = slice(i, i + batch_size)
        out[sl] = np.mean([head_forward(s, emb[sl], colour[sl], meta[sl], camera[sl]) for s in states], 0)
    return out
