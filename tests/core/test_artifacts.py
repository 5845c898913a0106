"""core.artifacts: atomic writes, data-only readers, the manifest, staged commits that survive a crash."""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from core.artifacts import (COMMIT, INCOMING, MANIFEST, ModelWriter, atomic_write, load_arrays, load_tensors,
                               open_model, read_json, save_arrays, save_tensors, verify, write_json)
from core.errors import CatalogError
from core.locks import LOCK_FILES


def _model(folder, value: int, extra: str | None = None):
    with ModelWriter(folder) as w:
        save_tensors(w.dir / "w.safetensors", {"a": np.full((2, 3), value, np.float16)})
        write_json(w.dir / "meta.json", {"value": value})
        if extra:
            save_arrays(w.dir / extra, {"x": np.arange(3)})
        return w.commit({"config": {"value": value}})


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "f.json"
    write_json(path, {"v": 1})

    def half_then_crash(f):
        f.write(b'{"v": 2, "trunc')
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        atomic_write(path, half_then_crash)
    assert read_json(path) == {"v": 1} and os.listdir(tmp_path) == ["f.json"]  # no temp file left


def test_tensors_and_arrays_round_trip(tmp_path):
    t = {"w": np.arange(6, dtype=np.float16).reshape(2, 3), "n": np.array([3], np.int64), "b": np.array([True])}
    save_tensors(tmp_path / "t.safetensors", t)
    back = load_tensors(tmp_path / "t.safetensors")
    assert all(np.array_equal(back[k], v) and back[k].dtype == v.dtype for k, v in t.items())
    save_arrays(tmp_path / "a.npz", {"x": np.arange(4.0)})
    assert np.array_equal(load_arrays(tmp_path / "a.npz")["x"], np.arange(4.0))
    with pytest.raises(TypeError, match="dtype object"):
        save_arrays(tmp_path / "o.npz", {"o": np.array([{"a": 1}], dtype=object)})


def test_readers_refuse_pickles_and_name_the_file(tmp_path):
    np.savez(tmp_path / "obj.npz", o=np.array([{"a": 1}], dtype=object))  # needs pickle to load
    with pytest.raises(CatalogError, match=r"obj\.npz: not a valid numpy \.npz"):
        load_arrays(tmp_path / "obj.npz")
    (tmp_path / "p.safetensors").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(CatalogError, match=r"p\.safetensors: not a valid safetensors file"):
        load_tensors(tmp_path / "p.safetensors")
    (tmp_path / "p.json").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(CatalogError, match=r"p\.json: not readable as JSON"):
        read_json(tmp_path / "p.json")


def test_manifest_is_written_last_and_checked(tmp_path):
    m = _model(tmp_path / "m", 1)
    assert set(m["files"]) == {"w.safetensors", "meta.json"} and m["config"] == {"value": 1}
    left = sorted(n for n in os.listdir(tmp_path / "m") if n not in LOCK_FILES)  # the locks stay, empty
    assert left == ["manifest.json", "meta.json", "w.safetensors"]
    assert verify(tmp_path / "m", required=("meta.json",))["files"] == m["files"]
    with pytest.raises(CatalogError, match=r"other\.json: not part of this model"):
        verify(tmp_path / "m", required=("other.json",))


@pytest.mark.parametrize("damage", ["truncate", "edit", "delete"])
def test_a_damaged_file_is_named(tmp_path, damage):
    _model(tmp_path / "m", 1)
    p = tmp_path / "m" / "w.safetensors"
    data = p.read_bytes()
    if damage == "truncate":
        p.write_bytes(data[:-5])
    elif damage == "edit":
        p.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # same size, one bit
    else:
        p.unlink()
    want = "missing from the model folder" if damage == "delete" else "does not match manifest.json"
    with pytest.raises(CatalogError, match=rf"w\.safetensors: {want}"):
        open_model(tmp_path / "m")


def test_old_and_incomplete_folders(tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    (old / "head.pt").write_bytes(b"\x80\x04pickled")
    with pytest.raises(CatalogError, match=r"older wbstyle \(head\.pt: pickled.*re-run `finetune`"):
        open_model(old)
    (old / "head.pt").unlink()
    with pytest.raises(CatalogError, match="manifest.json missing: not a complete model folder"):
        open_model(old)
    with pytest.raises(CatalogError, match="model folder not found"):
        open_model(tmp_path / "nothing")


def test_a_run_that_fails_before_commit_leaves_the_previous_model(tmp_path):
    _model(tmp_path / "m", 1)
    with pytest.raises(RuntimeError):
        with ModelWriter(tmp_path / "m") as w:
            save_tensors(w.dir / "w.safetensors", {"a": np.zeros(1, np.float16)})
            raise RuntimeError("killed mid-run")
    assert not (tmp_path / "m" / INCOMING).exists()
    open_model(tmp_path / "m")
    assert read_json(tmp_path / "m" / "meta.json") == {"value": 1}


def test_a_commit_interrupted_while_moving_files_is_finished_on_open(tmp_path, monkeypatch):
    _model(tmp_path / "m", 1, extra="old_only.npz")
    import core.artifacts as artifacts

    moves = []
    real_replace = os.replace

    def die_after_one_move(src, dst):
        if str(src).endswith(COMMIT) or COMMIT not in str(src):
            return real_replace(src, dst)
        if len(moves) == 1:
            raise KeyboardInterrupt  # the process dies with one file moved, the manifest not yet
        moves.append(dst)
        return real_replace(src, dst)

    monkeypatch.setattr(artifacts.os, "replace", die_after_one_move)
    with pytest.raises(KeyboardInterrupt):
        _model(tmp_path / "m", 2)
    monkeypatch.undo()
    assert (tmp_path / "m" / COMMIT).is_dir()  # half moved: the next open rolls forward
    m = open_model(tmp_path / "m")
    assert m["config"] == {"value": 2} and read_json(tmp_path / "m" / "meta.json") == {"value": 2}
    assert not (tmp_path / "m" / COMMIT).exists()
    assert not (tmp_path / "m" / "old_only.npz").exists()  # the previous model's extra file is gone
    assert load_tensors(tmp_path / "m" / "w.safetensors")["a"][0, 0] == 2


def test_stale_staging_of_a_killed_run_is_ignored_and_cleared(tmp_path):
    _model(tmp_path / "m", 1)
    (tmp_path / "m" / INCOMING).mkdir()
    (tmp_path / "m" / INCOMING / "w.safetensors").write_bytes(b"half")
    assert open_model(tmp_path / "m")["config"] == {"value": 1}
    _model(tmp_path / "m", 3)
    assert not (tmp_path / "m" / INCOMING).exists() and read_json(tmp_path / "m" / MANIFEST)["config"] == {"value": 3}
