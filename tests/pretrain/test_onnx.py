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


def test_weights_are_stored_once_shared_with_the_safetensors_file(exported, tmp_path):
    """weights_from: the graph points into encoder.safetensors for every byte-identical weight, so the
    model folder holds the encoder once; the embedding is exactly the self-contained graph's. A weight
    that differs stays in the graph, and a graph pointing outside its folder is refused."""
    import copy

    import onnx
    from onnx import TensorProto

    from pretrain.encoder import round_to_half, save_encoder

    enc, _ = exported
    rounded = round_to_half(copy.deepcopy(enc))
    save_encoder(tmp_path / "encoder.safetensors", rounded, half=True)
    shared = export_onnx(rounded, tmp_path / "encoder.onnx", half_storage=True,
                         weights_from=tmp_path / "encoder.safetensors")
    alone = export_onnx(rounded, tmp_path / "alone" / "encoder.onnx", half_storage=True)
    assert shared.stat().st_size < 0.2 * alone.stat().st_size  # the rest is the graph itself
    external = [t for t in onnx.load(str(shared), load_external_data=False).graph.initializer
                if t.data_location == TensorProto.EXTERNAL]
    assert len(external) >= 10 and all(e.value == "encoder.safetensors" for t in external
                                       for e in t.external_data if e.key == "location")
    images = np.random.default_rng(3).integers(0, 256, (7, 32, 32, 3), dtype=np.uint8)
    np.testing.assert_array_equal(OnnxEncoder(shared).embed(images), OnnxEncoder(alone).embed(images))

    # another encoder's weights on disk (parameters moved, BatchNorm statistics the same): only the
    # byte-identical statistics are shared, every moved weight stays in the graph
    other = copy.deepcopy(rounded)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.5)
    (tmp_path / "other").mkdir()
    save_encoder(tmp_path / "other" / "encoder.safetensors", other, half=True)
    kept = export_onnx(rounded, tmp_path / "other" / "encoder.onnx", half_storage=True,
                       weights_from=tmp_path / "other" / "encoder.safetensors")
    model = onnx.load(str(kept), load_external_data=False)
    moved = {f"enc.{name}__fp16" for name, _ in other.named_parameters()}
    external = {t.name for t in model.graph.initializer if t.data_location == TensorProto.EXTERNAL}
    assert moved & {t.name for t in model.graph.initializer} and not moved & external
    np.testing.assert_array_equal(OnnxEncoder(kept).embed(images), OnnxEncoder(alone).embed(images))

    # a crafted graph whose external data escapes its folder: onnxruntime refuses, the error names the file
    model = onnx.load(str(shared), load_external_data=False)
    for t in model.graph.initializer:
        for entry in t.external_data:
            if entry.key == "location":
                entry.value = "../encoder.safetensors"
    (tmp_path / "evil").mkdir()
    onnx.save(model, str(tmp_path / "evil" / "encoder.onnx"))
    from core.errors import CatalogError
    with pytest.raises(CatalogError, match="evil/encoder.onnx"):
        OnnxEncoder(tmp_path / "evil" / "encoder.onnx")


def _smooth_images(n: int, size: int, seed: int) -> np.ndarray:
    """Photo-like uint8 images (smooth colour fields, not white noise): what calibration sees in use."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = rng.uniform(0.1, 0.9, (n, 1, 1, 3)) + 0.3 * rng.uniform(-1, 1, (n, 1, 1, 3)) * (xx + yy)[None, :, :, None]
    return np.clip(base * 255 + rng.normal(0, 6, (n, size, size, 3)), 0, 255).astype(np.uint8)


def test_int8_graph_is_quantised_close_to_float32_and_deterministic(exported):
    """pretrain.onnx.int8_graph: int8 weights (QDQ) whose embedding stays within a few per cent of the
    float32 one, runnable from bytes, and the same bytes for the same encoder and calibration images."""
    import onnx

    from pretrain.onnx import int8_graph

    enc, path = exported
    calibration = _smooth_images(48, 32, seed=1)
    graph = int8_graph(enc, calibration)
    assert graph == int8_graph(enc, calibration)                     # deterministic
    model = onnx.load_from_string(graph)
    ops = {n.op_type for n in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert any(i.data_type == onnx.TensorProto.INT8 for i in model.graph.initializer)  # weights stored as int8
    images = _smooth_images(20, 32, seed=2)                           # not the calibration photos
    got, want = OnnxEncoder(graph).embed(images), OnnxEncoder(path).embed(images)
    assert got.shape == want.shape and OnnxEncoder(graph).dim == enc.dim
    rel = np.abs(got - want).mean() / np.abs(want).mean()
    assert 0 < rel < 0.05, rel                                        # quantised, yet close
    with pytest.raises(ValueError, match="calibration"):
        int8_graph(enc, np.zeros((0, 32, 32, 3), np.uint8))
