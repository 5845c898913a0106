"""finetune/mlp.py against torch: the numpy forward of a trained-looking WBHead equals the module's
eval-mode output, and erf/GELU match torch's exact forms."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from finetune.mlp import KEYS, check_state, ensemble_forward, erf, gelu, head_forward
from finetune.model import WBHead


def _head(seed: int) -> WBHead:
    torch.manual_seed(seed)
    h = WBHead(emb_dim=12, colour_dim=5, meta_dim=4, n_cameras=3, n_targets=2, hidden=16).eval()
    with torch.no_grad():  # the last layers start at zero; give every weight a value
        for p in h.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return h


def _state(h: WBHead) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().astype(np.float32) for k, v in h.state_dict().items()}


def _inputs(n: int = 50):
    rng = np.random.default_rng(1)
    return (rng.normal(size=(n, 12)).astype(np.float32), rng.normal(size=(n, 5)).astype(np.float32),
            rng.normal(size=(n, 4)).astype(np.float32), rng.integers(0, 3, n))


def test_erf_and_gelu_match_torch():
    x = np.linspace(-6, 6, 2001).astype(np.float32)
    np.testing.assert_allclose(erf(x), torch.erf(torch.from_numpy(x)).numpy(), atol=5e-7)  # A&S 1.5e-7 + float32 rounding
    np.testing.assert_allclose(gelu(x), torch.nn.functional.gelu(torch.from_numpy(x)).numpy(), atol=1e-6)


def test_head_and_ensemble_match_torch():
    heads = [_head(0), _head(1)]
    emb, colour, meta, cam = _inputs()
    with torch.no_grad():
        args = [torch.from_numpy(a) for a in (emb, colour, meta, cam)]
        want = [h(*args).numpy() for h in heads]
    states = [_state(h) for h in heads]
    assert set(KEYS) <= set(states[0])
    np.testing.assert_allclose(head_forward(states[0], emb, colour, meta, cam), want[0], atol=1e-5)
    got = ensemble_forward(states, emb, colour, meta, cam, batch_size=7)  # several partial batches
    np.testing.assert_allclose(got, np.mean(want, 0), atol=1e-5)
    assert np.abs(want[0] - want[1]).max() > 0.1  # the two heads differ: the mean is not trivial


def test_missing_weight_is_named():
    state = _state(_head(0))
    del state["linear.bias"]
    with pytest.raises(ValueError, match="head.safetensors: a head is missing linear.bias"):
        check_state(state, "head.safetensors")
