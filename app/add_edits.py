"""`cli.py add-edits`: teach a trained model a few edits of a new shoot, without retraining.

    python cli.py add-edits --model artifacts/run1 --data NEW_SHOOT [--skip-bad]

NEW_SHOOT is a catalog in the usual layout whose Train split holds the photos the photographer has
edited so far (sliders.csv with Temperature/Tint). Each is embedded with the model's own encoder,
predicted by its head (what the photographer corrected), and appended to the model's neighbour
index (retrieval.index.NeighborIndex.add) with its edit, as-shot, shoot and capture time. The
training entries stay exactly as they were; a camera never seen in training is fine (its photos are
vectors like any other). From then on `predict --blend-neighbors` pulls the photos of that shoot
towards these edits (retrieval.edits, with the parameters finetune chose on validation).

Reads top to bottom (holding the model folder's write lock throughout): load the model -> read the edits (every problem named, or counted and
skipped with --skip-bad) -> decode, embed and predict them -> append -> write the index atomically
(a killed run leaves the previous index usable) -> report.
"""
from __future__ import annotations

import dataclasses
import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from app.options import AddEditsConfig
from core.errors import CatalogError
from catalog.images import load_images
from core.locks import writes_folder
from catalog.reader import Catalog, image_where, problems_message, scan_catalog
from core.wb import TEMP_MAX, TEMP_MIN, kelvin_to_mired
from retrieval.scenes import capture_seconds

if TYPE_CHECKING:  # the options dataclass is imported by cli.py's --help: no torch/faiss at import
    from finetune.predict import WBModel
    from retrieval.index import NeighborIndex




@dataclass
class Edits:
    """Photos ready to be added: their catalog rows (images loaded) and what was skipped, by reason."""
    catalog: Catalog
    skipped: dict[str, list[str]] = field(default_factory=dict)  # reason -> ["row R id X", ...]


def _bad(cfg: AddEditsConfig, edits: Edits, reason: str, where: list[str]) -> None:
    """One kind of bad input: a clear error naming every case, or a counted skip with --skip-bad."""
    if not where:
        return
    if not cfg.skip_bad:
        more = f" and {len(where) - 10} more" if len(where) > 10 else ""
        raise CatalogError(f"{cfg.data}: {len(where)} photo(s) with {reason}: {'; '.join(where[:10])}{more} "
                           f"(fix them, or pass --skip-bad to add the others)")
    edits.skipped.setdefault(reason, []).extend(where)


def _keep(cat: Catalog, keep: np.ndarray) -> Catalog:
    """The catalog restricted to the rows where `keep` (table, image paths and images together)."""
    rows = np.flatnonzero(keep)
    images = cat.images[rows] if cat.images is not None else None
    return dataclasses.replace(cat, table=cat.table.iloc[rows].reset_index(drop=True),
                               image_paths=[cat.image_paths[i] for i in rows], images=images, image_failures={})


def read_edits(cfg: AddEditsConfig, index: NeighborIndex, image_size: int, targets: tuple[str, ...]) -> Edits:
    """The edited photos of cfg.data with their images, every bad row an error or a counted skip."""
    cat, problems = scan_catalog(cfg.data, cfg.split, targets, labels="required")
    fatal = [p for p in problems if p.row is None]
    if cat is None or fatal:
        raise CatalogError(problems_message(fatal or problems))
    edits = Edits(cat)
    where = {int(r): f"row {r} id {i}" for r, i in zip(cat.table["row"], cat.table["id_global"])}
    _bad(cfg, edits, "a missing label", [f"row {s['row']} id {s['id_global']}" for s in cat.skipped])
    _bad(cfg, edits, "a bad value or a missing image", [p.message for p in problems if p.row is not None])
    bad_rows = {p.row for p in problems if p.row is not None}
    labels = cat.table[["Temperature", "Tint", "currTemp", "currTint"]].apply(pd.to_numeric, errors="coerce")
    unusable = ~np.isfinite(labels.to_numpy(np.float64)).all(1) | (labels["currTemp"] <= 0).to_numpy()
    unusable &= ~cat.table["row"].isin(bad_rows).to_numpy()
    _bad(cfg, edits, "no usable label or as-shot (Temperature, Tint, currTemp, currTint)",
         [where[int(r)] for r in cat.table["row"][unusable]])
    known = set(index.ids)
    dup = cat.table["id_global"].astype(str).isin(known).to_numpy()
    _bad(cfg, edits, "an id already in the model's index", [where[int(r)] for r in cat.table["row"][dup]])
    cat = _keep(cat, ~(cat.table["row"].isin(bad_rows).to_numpy() | unusable | dup))
    cat.images, failures = load_images(cat.image_paths, image_size, workers=cfg.workers, progress=False,
                                       on_error="collect", where=image_where(cat))
    _bad(cfg, edits, "an unreadable image", [failures[i] for i in sorted(failures)])
    edits.catalog = _keep(cat, ~np.isin(np.arange(len(cat.table)), list(failures)))
    return edits


def add_edits(model: WBModel, edits: Catalog, progress: bool = False) -> NeighborIndex:
    """A new index: the model's, plus the edited photos of `edits` (images loaded at the model's
    size): embedded and predicted by the model (the add-edits code path; the benchmark calls it too)."""
    from finetune.predict import PredictSettings

    if model.index is None:
        raise CatalogError(f"{model.model_dir}: no neighbour index (neighbors.*); re-run finetune to build one")
    t = edits.table
    if len(t) == 0:
        return model.index
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nothing here is predicted from metadata only: images were checked
        pred = model.predict_full(edits, PredictSettings(blend=False, smooth=False, progress=progress))
    num = lambda c: pd.to_numeric(t[c], errors="coerce").to_numpy(np.float64)  # noqa: E731
    edit_mt = np.column_stack([kelvin_to_mired(np.clip(num("Temperature"), TEMP_MIN, TEMP_MAX)), num("Tint")])
    asshot_mt = np.column_stack([kelvin_to_mired(num("currTemp")), num("currTint")])
    head_mt = pred.table[["head_mired", "head_tint"]].to_numpy(np.float64)
    shoots = [None if s is None or (isinstance(s, float) and np.isnan(s)) else str(s)
              for s in (t["shoot"] if "shoot" in t.columns else [None] * len(t))]
    return model.index.add(pred.embeddings, t["id_global"].astype(str).tolist(), edit_mt, asshot_mt, shoots,
                           head=head_mt, times=capture_seconds(t))


def edit_strength_note(strength: float, blob: dict[str, Any]) -> str:
    """What the added edits will do to predictions, in the words of finetune's cross-fitting."""
    knob = next((k for k in blob.get("knobs") or [] if k.get("knob") == "added-edits strength"), None)
    if strength == 0:
        why = knob["why"] if knob else "the model predates cross-fitted added edits"
        return (f"note: this model's strength for added edits is 0 ({why}): predictions will not move "
                "unless you pass `predict --edit-strength X`")
    gain = {t: (blob.get("edit_blend_gain") or {}).get(t, {}) for t in ("mired", "tint")}
    k3 = {t: g.get("3", g.get(3)) for t, g in gain.items()}
    if k3["mired"] is None or k3["tint"] is None:
        return f"added edits pull predictions with strength {strength:g}"
    return (f"added edits pull predictions with strength {strength:g}; cross-validation: "
            f"{-100 * k3['mired']:+.0f} % MAE mired, {-100 * k3['tint']:+.0f} % MAE tint on a shoot's other photos "
            "after 3 edits")


@writes_folder("model", "add-edits", create=False)
def run_add_edits(cfg: AddEditsConfig) -> dict[str, Any]:
    """The command: add cfg.data's edited photos to cfg.model's index and write it back atomically.
    It holds the model folder's write lock from before it reads the index (core.locks), so runs
    started together add their edits one after the other and none is lost."""
    from finetune.predict import WBModel

    t0 = time.time()
    model = WBModel.load(cfg.model, threads=cfg.threads, device=cfg.device)
    if model.index is None:
        raise CatalogError(f"{cfg.model}: no neighbour index (neighbors.*); re-run finetune to build one")
    edits = read_edits(cfg, model.index, model.image_size, tuple(model.targets))
    before = len(model.index)
    grown = add_edits(model, edits.catalog, progress=cfg.progress)
    if len(grown) > before:
        grown.save_into_model(cfg.model)
    summary = {"added": len(grown) - before, "index_before": before, "index_after": len(grown),
               "training_entries": grown.n_train, "skipped": {k: len(v) for k, v in edits.skipped.items()},
               "seconds": time.time() - t0}
    if cfg.progress:
        skipped = ", ".join(f"{n} with {why}" for why, n in summary["skipped"].items()) or "none"
        print(f"added {summary['added']} edited photo(s) to {cfg.model} (index {before} -> {len(grown)}, "
              f"{grown.n_train} from training, unchanged); skipped: {skipped}; {summary['seconds']:.1f} s")
        print(edit_strength_note(model.edit_params.strength, model.blob))
    return summary
