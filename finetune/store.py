"""A trained model folder on disk: what finetune writes and predict reads, data only.

    encoder.safetensors + encoder.json   the (float16) encoder and its architecture/provenance
    encoder.onnx                         the graph predict runs; its weights point into encoder.safetensors
                                         (stored once: pretrain.onnx.export_onnx(weights_from=...))
    head.safetensors + head.json         the MLP heads' float16 weights; specs, encoders, blend, provenance
    forest.npz                           the gradient-boosting member (finetune.gbm.Forest arrays)
    aware.npz                            the as-shot-aware member, only when validation trusted it (finetune.trust)
    neighbors.faiss/.npz/.json           the neighbour index (retrieval.index), when built
    manifest.json                        SHA-256 of each file + versions + config, written last

Written through core.artifacts.ModelWriter (staged, then committed in one rename), so a run
killed at any moment leaves the previous model loadable; read through `load_model_files`, which
verifies the manifest first and loads under the folder's read lock (one model, whole, even while
another run writes the folder). No file is ever unpickled (tests/test_loaders_safe.py).

The head's state (HeadEnsemble.state_dict() + extras) is split by type: tensors and lists of tensor
dicts go to head.safetensors under "key.name" / "key.i.name", the packed Forest to forest.npz, and
everything else to head.json, where a placeholder records what went where.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from core.artifacts import (ModelWriter, load_arrays, load_tensors, read_json, reading, save_tensors, verify, write_bytes,
                               write_json)
from core.errors import CatalogError
from finetune.gbm import Forest
from pretrain.onnx import ONNX_FILE, OnnxEncoder, providers
from retrieval.index import NeighborIndex

HEAD_FILE, HEAD_META, FOREST_FILE = "head.safetensors", "head.json", "forest.npz"
# each packed Forest of the head state has its own file
FOREST_FILES = {"gbm": FOREST_FILE, "aware": "aware.npz"}
ENCODER_FILE = "encoder.safetensors"  # = pretrain.encoder.ENCODER_FILE (that module needs torch to import)
# what every model folder holds: the torch encoder (to fine-tune from), its ONNX export (what predict
# runs, no torch), the heads
MODEL_FILES = (ENCODER_FILE, "encoder.json", ONNX_FILE, HEAD_FILE, HEAD_META)


def _is_tensors(v: Any) -> bool:
    return isinstance(v, dict) and bool(v) and all(isinstance(t, np.ndarray) for t in v.values())


def save_head(folder: str | Path, blob: dict[str, Any]) -> None:
    """Split the head state by type into head.safetensors, forest.npz and head.json (module doc)."""
    folder = Path(folder)
    tensors: dict[str, np.ndarray] = {}
    meta: dict[str, Any] = {}
    for key, v in blob.items():
        if isinstance(v, (bytes, bytearray)):  # a packed Forest (an .npz already)
            if key not in FOREST_FILES:
                raise ValueError(f"head state: no file for the packed forest {key!r}; known: {sorted(FOREST_FILES)}")
            write_bytes(folder / FOREST_FILES[key], bytes(v))
            meta[key] = {"__file__": FOREST_FILES[key]}
        elif _is_tensors(v):
            tensors.update({f"{key}.{n}": t for n, t in v.items()})
            meta[key] = {"__tensors__": key}
        elif isinstance(v, list) and v and all(_is_tensors(x) for x in v):
            for i, sd in enumerate(v):
                tensors.update({f"{key}.{i}.{n}": t for n, t in sd.items()})
            meta[key] = {"__tensor_list__": key, "n": len(v)}
        else:
            meta[key] = v
    save_tensors(folder / HEAD_FILE, tensors)
    write_json(folder / HEAD_META, meta)


def load_head(folder: str | Path) -> dict[str, Any]:
    """Inverse of save_head: the blob HeadEnsemble.from_state_dict reads (numpy arrays, parsed Forests)."""
    folder = Path(folder)
    meta = read_json(folder / HEAD_META)
    tensors = load_tensors(folder / HEAD_FILE)

    def group(prefix: str) -> dict[str, np.ndarray]:
        return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

    blob = {}
    for key, v in meta.items():
        if isinstance(v, dict) and "__file__" in v:
            file = FOREST_FILES.get(key)
            if v["__file__"] != file:
                raise CatalogError(f"{folder / HEAD_META}: '{key}' points at {v['__file__']!r}; expected {file}")
            try:  # parsed here, once, so a bad file is named (data only: allow_pickle=False)
                blob[key] = Forest.from_arrays(load_arrays(folder / file))
            except (KeyError, TypeError, ValueError) as e:
                raise CatalogError(f"{folder / file}: not a gradient-boosting forest ({type(e).__name__}: "
                                   f"{e}); re-run finetune") from e
        elif isinstance(v, dict) and "__tensors__" in v:
            blob[key] = group(f"{key}.")
        elif isinstance(v, dict) and "__tensor_list__" in v:
            blob[key] = [group(f"{key}.{i}.") for i in range(int(v["n"]))]
        else:
            blob[key] = v
    return blob


def save_model(out: str | Path, encoder: Any, encoder_extra: dict[str, Any], head: dict[str, Any],
               index: NeighborIndex | None, provenance: dict[str, Any], graph: bytes | None = None) -> dict[str, Any]:
    """Write a whole model folder atomically (staged, then committed; see core.artifacts);
    returns its manifest. The encoder (pretrain.encoder.Encoder, weights already rounded to float16)
    is stored in float16 as safetensors, and as the ONNX graph predict runs: `graph` when given (the
    int8 graph the heads were trained on, pretrain.onnx.int8_graph), else its float32 export."""
    from pretrain.encoder import save_encoder  # training side: torch
    from pretrain.onnx import export_onnx

    with ModelWriter(out) as w:
        save_encoder(w.dir / ENCODER_FILE, encoder, encoder_extra, half=True)
        if graph is not None:
            (w.dir / ONNX_FILE).write_bytes(graph)
        else:  # the graph reads its weights from encoder.safetensors: stored once (pretrain.onnx.export_onnx)
            export_onnx(encoder, w.dir / ONNX_FILE, half_storage=True, weights_from=w.dir / ENCODER_FILE)
        if index is not None:
            index.save(w.dir)
        save_head(w.dir, head)
        return w.commit(provenance)


def load_model_files(model_dir: str | Path, threads: int = 1,
                     device: str = "cpu") -> tuple[OnnxEncoder, dict[str, Any], NeighborIndex | None]:
    """(ONNX encoder, head blob, neighbour index or None) of a verified model folder, without torch;
    CatalogError names the file that is missing, truncated or changed, or says to re-run finetune for
    an old folder. All under the folder's read lock (core.artifacts.reading): a commit by another
    run never moves files between the check and the last file read, so this is one model, whole."""
    model_dir = Path(model_dir)
    with reading(model_dir):
        manifest = verify(model_dir, required=MODEL_FILES)
        encoder = OnnxEncoder(model_dir / ONNX_FILE, threads=threads, providers=providers(device))
        blob = load_head(model_dir)
        has_index = all(f in manifest["files"] for f in ("neighbors.faiss", "neighbors.npz", "neighbors.json"))
        index = NeighborIndex.load(model_dir) if has_index else None
    return encoder, blob, index
