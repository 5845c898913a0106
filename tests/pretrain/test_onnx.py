"""pretrain/onnx.py: the exported graph computes the torch encoder's embedding (to float rounding),
for any batch size, straight from uint8 pixels."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pretrain.encoder import Encoder, embed
from pretrain.onnx import OnnxEncoder, export_onnx


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    enc = Encoder(width=8, image_size=32)
    # non-trivial BatchNorm statistics, so a wrong fold of BN into the convolutions would show
    enc.train()
    with torch.no_grad():
        enc(torch.rand(16, 3, 32, 32))
    enc.eval()
    path = export_onnx(enc, tmp_path_factory.mktemp("onnx") / "encoder.onnx")
    return enc, path


def test_onnx_matches_torch_embedding(exported):
    enc, path = exported
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (37, 32, 32, 3), dtype=np.uint8)   # odd count: a partial last batch
    ort_enc = OnnxEncoder(path)
    assert (ort_enc.image_size, ort_enc.dim) == (32, enc.dim)
    got = ort_enc.embed(images, batch_size=16)
    want = embed(enc, images)
    assert got.shape == want.shape == (37, enc.dim)
    # fp32 both sides; the bf16 tolerance of the issue (~0.5 % of the scale) is far looser than this
    np.testing.assert_allclose(got, want, atol=1e-4 * float(np.abs(want).max()), rtol=1e-3)
    assert not np.allclose(got[0], got[1])  # different photos, different embeddings


def test_half_storage_is_exact_for_float16_weights_and_smaller(exported, tmp_path):
    """finetune rounds the encoder to float16 values; stored as float16 they come back exactly."""
    from pretrain.encoder import round_to_half

    enc, full = exported
    rounded = round_to_half(__import__("copy").deepcopy(enc))
    half = export_onnx(rounded, tmp_path / "half.onnx", half_storage=True)
    images = np.random.default_rng(2).integers(0, 256, (9, 32, 32, 3), dtype=np.uint8)
    got = OnnxEncoder(half).embed(images)
    np.testing.assert_allclose(got, embed(rounded, images), atol=1e-4 * float(np.abs(got).max()), rtol=1e-3)
    assert half.stat().st_size < 0.7 * full.stat().st_size


def test_onnx_refuses_the_wrong_image_size(exported):
    _, path = exported
    with pytest.raises(ValueError, match=r"expected uint8 images of shape \(N, 32, 32, 3\)"):
        OnnxEncoder(path).embed(np.zeros((2, 48, 48, 3), np.uint8))
