"""No loader in the project can unpickle: a shared style model is data, and loading it runs no code.

Three angles: (1) a crafted pickle put anywhere in a model folder is refused, and its payload
(which would create a marker file) never runs - even when the attacker also rewrites the manifest
so the hashes match; (2) loading a whole model folder and predicting works with every unpickling
entry point (pickle.load/loads/Unpickler, torch.load) made to raise; (3) a scan of the project's
source finds no call that could unpickle (torch.load without weights_only=True, pickle.load(s),
np.load with allow_pickle=True).
"""
from __future__ import annotations

import io
import json
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from catalog import CatalogError, read_catalog
from core.artifacts import MANIFEST, manifest_for
from finetune.predict import WBModel
from tests.conftest import write_catalog

PROJECT = Path(__file__).resolve().parents[1]


def train_tiny_model(base: Path, seed: int = 0) -> tuple[Path, Path]:
    """(catalog root, model folder) of a seconds-long finetune (random encoder, one small head)."""
    from finetune.train import FinetuneConfig, run_finetune

    torch.set_num_threads(1)
    root = write_catalog(base, n_train=12, n_val=4, layout="A", size=16, seed=seed)
    model = base / "model"
    run_finetune(FinetuneConfig(data=str(root), encoder="", image_size=16, out=str(model), epochs=1, ensemble=1,
                                hidden=8, batch_size=8, rerender_aug=0, baselines=False, folds=1, threads=1,
                                workers=1, progress=False, device="cpu", seed=seed))
    return root, model


def predict(model_dir: Path, root: Path) -> np.ndarray:
    m = WBModel.load(model_dir)
    df = m.predict(read_catalog(root, "Validation", labels="ignore"), progress=False)
    return df[["Temperature", "Tint"]].to_numpy(float)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return train_tiny_model(tmp_path_factory.mktemp("tiny"))


class Payload:
    """Unpickling this creates `marker`: the proof that loading ran code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _copy(model: Path, dest: Path) -> Path:
    import shutil

    shutil.copytree(model, dest)
    return dest


def _reseal(folder: Path) -> None:
    """What an attacker can do: rewrite the manifest so every hash matches the planted files."""
    old = json.loads((folder / MANIFEST).read_text())
    (folder / MANIFEST).write_text(json.dumps(manifest_for(folder, list(old["files"]), {})))


def _load_as_predict(folder: Path) -> None:
    WBModel.load(folder)


def _load_as_finetune(folder: Path) -> None:
    """`finetune --encoder FOLDER` reads the torch encoder (the predict path reads encoder.onnx)."""
    from pretrain.encoder import load_encoder

    load_encoder(folder)


@pytest.mark.parametrize("target, load", [
    ("encoder.onnx", _load_as_predict), ("head.safetensors", _load_as_predict), ("head.json", _load_as_predict),
    ("forest.npz", _load_as_predict), ("neighbors.npz", _load_as_predict), ("neighbors.json", _load_as_predict),
    ("encoder.safetensors", _load_as_finetune), ("encoder.json", _load_as_finetune)])
@pytest.mark.parametrize("how", ["pickle", "torch.save"])
def test_planted_pickle_is_refused_and_never_runs(tiny, tmp_path, target, load, how):
    root, model = tiny
    folder = _copy(model, tmp_path / "m")
    marker = tmp_path / "PWNED"
    buf = io.BytesIO()
    pickle.dump(Payload(marker), buf) if how == "pickle" else torch.save({"x": Payload(marker)}, buf)
    (folder / target).write_bytes(buf.getvalue())
    with pytest.raises(CatalogError, match=re.escape(str(folder / target)) + ".*does not match manifest.json"):
        WBModel.load(folder)
    _reseal(folder)  # the manifest now agrees: the file's own loader must refuse it
    with pytest.raises(CatalogError, match=re.escape(target)):
        load(folder)
    assert not marker.exists()


def test_onnx_reading_a_file_outside_the_folder_is_refused(tiny, tmp_path):
    """An ONNX initializer may point at "external data" by path; one that leaves the model folder
    (here ../secret.bin) is refused by onnxruntime, and the error names the file."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    root, model = tiny
    folder = _copy(model, tmp_path / "m")
    np.full(4, 7.0, np.float32).tofile(tmp_path / "secret.bin")
    w = numpy_helper.from_array(np.zeros(4, np.float32), "w")
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "../secret.bin"), ("offset", "0"), ("length", "16")):
        entry = w.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), folder / "encoder.onnx")
    _reseal(folder)
    with pytest.raises(CatalogError, match=r"encoder\.onnx: not a wbstyle ONNX encoder .*escapes"):
        WBModel.load(folder)


def test_old_pickled_folder_gets_a_clear_error_and_never_runs(tmp_path):
    marker = tmp_path / "PWNED"
    folder = tmp_path / "old"
    folder.mkdir()
    torch.save({"format": 2, "x": Payload(marker)}, folder / "head.pt")
    torch.save({"state_dict": Payload(marker)}, folder / "encoder.pt")
    with pytest.raises(CatalogError, match=r"older wbstyle \(head.pt, encoder.pt: pickled.*re-run `finetune`"):
        WBModel.load(folder)
    assert not marker.exists()


def test_load_and_predict_with_unpickling_disabled(tiny, monkeypatch):
    root, model = tiny
    expected = predict(model, root)

    def refuse(*args, **kwargs):
        raise AssertionError("a loader tried to unpickle")

    class NoUnpickler:
        def __init__(self, *args, **kwargs):
            refuse()

    for name in ("load", "loads"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(pickle, "Unpickler", NoUnpickler)
    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(np, "load", lambda *a, allow_pickle=False, **k: refuse() if allow_pickle else _np_load(*a, **k))
    np.testing.assert_array_equal(predict(model, root), expected)


_np_load = np.load

# Every way the project's source could unpickle, and the only form each call may take (on one line).
UNSAFE = [
    (re.compile(r"\bpickle\.(loads?|Unpickler)\b"), "pickle"),
    (re.compile(r"torch\.load\((?!.*weights_only=True)"), "torch.load without weights_only=True"),
    (re.compile(r"allow_pickle\s*=\s*True"), "allow_pickle=True"),
    (re.compile(r"\bnp\.load\((?!.*allow_pickle=False)"), "np.load without allow_pickle=False"),
    (re.compile(r"\b(joblib|dill|cloudpickle|shelve|marshal)\b\.load"), "another unpickler"),
]


def test_no_source_file_can_unpickle():
    """Walks every loader: all project .py files except the tests (which craft the payloads)."""
    found = []
    for path in sorted(PROJECT.rglob("*.py")):
        rel = path.relative_to(PROJECT)
        if rel.parts[0] in (".venv", "tests", "artifacts", "build") or rel.parts[0].startswith("."):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for pattern, what in UNSAFE:
            for m in pattern.finditer(text):
                found.append(f"{rel}:{text[:m.start()].count(chr(10)) + 1}: {what}")
    assert not found, "\n".join(found)
