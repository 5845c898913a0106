"""Predict Temperature/Tint for a catalog with a trained model folder.

Reads top to bottom: load the model (a verified data-only folder, finetune.store); then, in chunks
that every core's worker runs whole (core.parallel), load the catalog's images at the encoder's
size, re-render each to the model's reference white balance (core.canonical: the camera's as-shot
guess cannot move a prediction), embed, colour features, metadata, ensemble heads -> absolute
(mired, tint); optionally pull towards similar training
photos (neighbour blending) and make near-duplicates within the batch agree (smoothing), both
with the parameters chosen on validation at training time; write `id_global,Temperature,Tint`,
one row per input row in input order.

Photos whose image cannot be read: a clear error by default, or with on_error="metadata-only" the
metadata-only fallback head's prediction and a warning naming them. A row is never dropped.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.colour import IMAGE_FEATURE_NAMES, image_features
from core.errors import CatalogError, ImageReadError
from core.parallel import PARALLEL, ChunkPlan, run_chunks
from catalog.reader import Catalog
from core.runtime import one_blas_thread
from core.wb import TEMP_MAX, TEMP_MIN, TINT_MAX, TINT_MIN
from finetune.ensemble import HEAD_FORMAT, HeadEnsemble, anchor_units, asshot_units, to_csv_units
from finetune.store import HEAD_META, load_model_files
from finetune.trust import asshot_stats
from pretrain.onnx import OnnxEncoder
from retrieval.blend import BlendParams, SmoothParams, apply_blend, smooth_batch
from retrieval.edits import EditBlendParams, blend_added
from retrieval.scenes import CONSISTENCY, SceneParams, scene_consistency

ON_ERROR = ("raise", "metadata-only")


@dataclass(frozen=True)
class PredictSettings:
    """How `WBModel.predict_full` predicts a catalog: the batch-wide steps it runs and how it runs the
    work. The defaults are the plain head's predictions; `cli.py predict` builds its own from its options."""

    blend: bool = False
    """Pull each prediction towards the edits of similar training photos and of photos added with
    add-edits (retrieval.blend, retrieval.edits; strengths chosen at training time)."""
    k: int | None = None
    """Training neighbours consulted when blending; None: the model's own setting."""
    smooth: bool = False
    """Make near-duplicate photos of the batch agree (retrieval.blend.smooth_batch; strength from validation)."""
    consistency: str = "off"
    """One of CONSISTENCY: 'scene' groups the photos into scenes and pulls each towards its scene's
    centre (retrieval.scenes; strength from validation); 'off' does not."""
    on_error: str = "raise"
    """One of ON_ERROR: an unreadable image stops with its file ('raise') or is predicted by the
    metadata-only head with a warning ('metadata-only')."""
    keep_embeddings: bool = True
    """Keep each photo's embedding (Prediction.embeddings); False keeps only its vector in the
    neighbour index's space, what blending, smoothing and scenes read (memory for large catalogs)."""
    batch_size: int = 128
    """Images per encoder batch."""
    workers: int = 1
    """Image decoding threads inside each of the model's `threads` workers."""
    progress: bool = True
    """Show a progress bar."""

    def __post_init__(self):
        if self.on_error not in ON_ERROR:
            raise CatalogError(f"on_error must be one of {ON_ERROR}, got {self.on_error!r}")
        if self.consistency not in CONSISTENCY:
            raise CatalogError(f"consistency must be one of {CONSISTENCY}, got {self.consistency!r}")


@dataclass
class Prediction:
    """What `WBModel.predict_full` returns: the table plus what audits and tests look behind it."""

    table: pd.DataFrame
    """One row per input row, input order: id_global, the targets in CSV units (Temperature K and Tint
    rounded to integers), head_mired/head_tint (before blending), mired/tint (final), image_ok."""
    embeddings: np.ndarray | None
    """(N, D) float32 image embeddings; NaN rows for unreadable images. None with
    PredictSettings(keep_embeddings=False), which keeps only each photo's vector in the neighbour index's
    space (K <= 64 dims instead of D) for the batch-wide steps."""
    failed_ids: list[str]
    """Ids predicted from metadata only (image unreadable)."""
    neighbors: tuple[np.ndarray, np.ndarray] | None = None
    """(sims (N, k) float32, idx (N, k) int64) of the training neighbours used for blending; -1 where none."""
    scenes: np.ndarray | None = None
    """(N,) int64 scene of each photo (retrieval.scenes) with consistency='scene', else None."""


class WBModel:
    """A trained model folder, ready to predict any catalog (see module doc)."""

    def __init__(self, encoder: OnnxEncoder, ensemble: HeadEnsemble, blob: dict[str, Any], index=None,
                 model_dir: Path | None = None, threads: int = 2, blend_strength: float | None = None,
                 edit_strength: float | None = None, parallel: str = "auto"):
        """blend_strength / edit_strength: the user's override of the strength the model chose for
        blending training neighbours / added edits (None: the model's); the shape stays the model's.
        parallel: what the helper workers are, one of core.parallel.PARALLEL."""
        if parallel not in PARALLEL:
            raise ValueError(f"parallel must be one of {PARALLEL}, got {parallel!r}")
        self.encoder = encoder  # the exported encoder, run by onnxruntime: predicting needs no torch
        self.threads = max(1, int(threads))  # workers running chunks of photos (one onnxruntime thread each)
        self.parallel = parallel  # helpers: "auto" (processes where fork is safe, else threads), "threads", "processes"
        self.ensemble = ensemble
        self.blob = blob
        self.index = index
        self.model_dir = model_dir
        self.image_size = int(encoder.image_size)
        self.targets = [s.name for s in ensemble.specs]
        self.blend_k = int(blob.get("blend_k") or 8)
        blend = {**(blob.get("blend") or {}), **({} if blend_strength is None else {"strength": float(blend_strength)})}
        self.blend_params = BlendParams(**blend) if blend else None
        self.smooth_params = SmoothParams(**blob["smooth"]) if blob.get("smooth") else None
        # photos added after training (add-edits) and scenes: their own rules, chosen by cross-fitting
        edit = {**(blob.get("edit_blend") or {}), **({} if edit_strength is None else {"strength": float(edit_strength)})}
        self.edit_params = EditBlendParams(**edit)
        self.scene_params = SceneParams(**blob["scene"]) if blob.get("scene") else SceneParams()

    @classmethod
    def load(cls, model_dir: str | Path, threads: int = 2, device: str = "auto", blend_strength: float | None = None,
             edit_strength: float | None = None, parallel: str = "auto") -> "WBModel":
        """The verified model folder. threads: the cores predicting may use, one worker each running
        chunks of photos whole (decode, statistics, encoder with one onnxruntime thread, heads);
        device: where the encoder runs (pretrain.onnx.providers: onnxruntime's CUDA provider when
        asked for and present); blend_strength / edit_strength / parallel: see __init__."""
        model_dir = Path(model_dir)
        # data only, verified against manifest.json first (finetune.store): a shared model runs no code
        encoder, blob, index = load_model_files(model_dir, threads=1, device=device)
        head_path = model_dir / HEAD_META
        if blob.get("format") != HEAD_FORMAT:
            raise CatalogError(f"{head_path}: written by another version of wbstyle (head format "
                               f"{blob.get('format')}, this version reads {HEAD_FORMAT}); re-run finetune")
        if int(blob.get("image_size", encoder.image_size)) != encoder.image_size:
            raise CatalogError(f"{model_dir}: the head was trained at {blob['image_size']} px but the encoder "
                               f"is {encoder.image_size} px; re-run finetune")
        if list(blob.get("colour_feature_names", IMAGE_FEATURE_NAMES)) != list(IMAGE_FEATURE_NAMES):
            raise CatalogError(f"{head_path}: trained on another set of image features than this version computes "
                               f"({len(blob['colour_feature_names'])} vs {len(IMAGE_FEATURE_NAMES)}); re-run finetune")
        return cls(encoder, HeadEnsemble.from_state_dict(blob), blob, index, model_dir, threads=threads,
                   blend_strength=blend_strength, edit_strength=edit_strength, parallel=parallel)

    # ------------------------------------------------------------------------------------------
    def _features(self, catalog: Catalog, table: pd.DataFrame, settings: PredictSettings, space: bool = False,
                  chunk: int = 128) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
        """(embeddings (N,D) NaN for unreadable rows, the heads' predictions (N,T) in head units, NaN
        for unreadable rows, failures {row: message}). space=True (the model has a neighbour index):
        instead of the embeddings, their vectors in the index space (N,K), all the batch-wide steps read.

        The photos go in chunks to `self.threads` symmetric workers (core.parallel.run_chunks), each
        running a chunk whole: decode (unless the catalog holds the images at the model's size),
        canonical render, colour statistics, encoder (one onnxruntime thread each), heads. Rows are
        independent, so a chunk's results do not depend on which worker ran it, and the statistics are
        never held for the whole catalog: what stays per photo is its embedding (or index-space vector)
        and its prediction. On Linux the helpers are forked processes (no interpreter lock between them:
        1,045-1,054 photos/s in-process here against 920-980 with threads and about 880 with the
        former decoding thread feeding the encoder's), elsewhere threads."""
        from catalog.images import load_images

        n = len(table)
        # forked helpers only where fork is safe and the encoder is on the CPU (a CUDA context does not fork)
        plan = ChunkPlan.make(n, self.threads, self.parallel, chunk, fork_safe=self.encoder.on_cpu)
        dim = self.index.space_dim if space else self.encoder.dim
        emb = plan.array((n, dim), np.float32, np.nan)  # outputs every worker writes its rows into
        units = plan.array((n, len(self.ensemble.specs)), np.float64, np.nan)
        anchors = anchor_units(table, self.ensemble.specs)
        have = catalog.images is not None and len(catalog.images) == n and catalog.images.shape[1] == self.image_size
        mode = "collect" if settings.on_error == "metadata-only" else "raise"

        def run_chunk(a: int, b: int) -> dict[int, str]:
            """Rows a .. b-1, whole; their failures {row: message}. In raise mode an unreadable image
            raises ImageReadError, which stops the queue at this chunk (run_chunks)."""
            if have:
                imgs = catalog.images[a:b]
                fails = {i - a: m for i, m in catalog.image_failures.items() if a <= i < b}
            else:
                imgs, fails = load_images(catalog.image_paths[a:b], self.image_size, workers=settings.workers,
                                          progress=False, on_error=mode)
            ok = np.array([i not in fails for i in range(len(imgs))], bool)
            rows = a + np.flatnonzero(ok)
            if len(rows):
                # Every image input is computed on the canonical render (the model's reference white balance).
                canon = self.ensemble.canonical(imgs[ok], table.iloc[rows])
                e = self.encoder.embed(canon, settings.batch_size)
                # the photo as the camera rendered it: read only by a trusted as-shot-aware member (finetune.trust)
                shot = asshot_stats(imgs[ok]) if self.ensemble.reads_asshot else None
                units[rows] = anchors[rows] + self.ensemble.predict_shift(e, image_features(canon), table.iloc[rows],
                                                                          catalog.exif_units, shot)
                emb[rows] = self.index.normalize(e) if space else e
            return {a + i: m for i, m in fails.items()}

        try:
            chunks = run_chunks(plan, run_chunk, settings.progress, "predicting", stop_on=(ImageReadError,))
        except ImageReadError as e:  # the earliest unreadable row (chunks before it still ran)
            raise ImageReadError(f"{e} (use on_error='metadata-only' to predict unreadable photos "
                                 f"from their metadata)") from None
        failures = dict(sorted(f for fails in chunks for f in fails.items()))
        if plan.processes:  # ordinary arrays from here on (the shared mappings go with the workers)
            emb, units = np.array(emb), np.array(units)
        return emb, units, failures

    def predict(self, catalog: Catalog, **options: Any) -> pd.DataFrame:
        """Predictions for every row of `catalog.table`, in order: `predict_full(...).table`, with
        `options` the fields of PredictSettings (the predictor hook app.evaluate shares with baselines)."""
        return self.predict_full(catalog, PredictSettings(**options)).table

    def predict_full(self, catalog: Catalog, settings: PredictSettings = PredictSettings()) -> Prediction:
        """Predictions for every row of `catalog.table`, in order, with the embeddings and neighbours
        behind them (see module doc, `PredictSettings` and `Prediction`)."""
        with one_blas_thread():  # the heads' small products: a second BLAS thread only contends (core.runtime)
            return self._predict_full(catalog, settings)

    def _predict_full(self, catalog: Catalog, settings: PredictSettings) -> Prediction:
        table = catalog.table
        if not table.index.equals(pd.RangeIndex(len(table))):
            table = table.reset_index(drop=True)  # positional rows; no copy of the usual catalog table
        space = not settings.keep_embeddings and self.index is not None
        emb, head_units, failures = self._features(catalog, table, settings, space)
        if failures and settings.on_error == "raise":
            i = min(failures)
            raise ImageReadError(f"{len(failures)} image(s) could not be read, e.g. row {int(table['row'].iloc[i]) if 'row' in table else i + 1} "
                                 f"id {table['id_global'].iloc[i]}: {failures[i]} (use on_error='metadata-only' "
                                 f"to predict those photos from their metadata)")
        failed = np.zeros(len(table), bool)
        failed[list(failures)] = True
        if failed.any():
            head_units[failed] = self._fallback_units(table, failed, catalog.exif_units)
        units, neighbors, scenes = head_units.copy(), None, None
        names = [s.name for s in self.ensemble.specs]
        if "Temperature" in names and "Tint" in names and (~failed).any():
            # every batch-wide step reads the photos in the index space: normalised once here
            vec = emb if space or self.index is None else self.index.normalize(emb)
            units, neighbors, scenes = self._consistent(table, vec, head_units, failed, settings)
        failed_ids = table["id_global"].iloc[np.flatnonzero(failed)].astype(str).tolist()
        return Prediction(self._table(table, head_units, units, failed), None if space else emb, failed_ids,
                          neighbors, scenes)

    def _fallback_units(self, table: pd.DataFrame, failed: np.ndarray, exif_units: str) -> np.ndarray:
        """(F, T) head units of the photos whose image could not be read: the metadata-only head."""
        bad = np.flatnonzero(failed)
        units = anchor_units(table, self.ensemble.specs)[bad] + \
            self.ensemble.predict_fallback_shift(table.iloc[bad], exif_units)
        ids = table["id_global"].iloc[bad].astype(str).tolist()
        warnings.warn(f"{len(ids)} photo(s) predicted from metadata only (image unreadable): "
                      f"{', '.join(ids[:20])}{' ...' if len(ids) > 20 else ''}", stacklevel=4)
        return units

    def _consistent(self, table: pd.DataFrame, vec: np.ndarray, head_units: np.ndarray, failed: np.ndarray,
                    settings: PredictSettings):
        """(units, neighbours, scenes): the head's (mired, tint) of the readable photos pulled towards
        similar training edits, added edits, the batch's near-duplicates and their scene, each by the
        strength chosen on validation. `vec`: the photos in the neighbour index's space
        (NeighborIndex.normalize), or their raw embeddings when the model has no index."""
        names = [s.name for s in self.ensemble.specs]
        jt, ji = names.index("Temperature"), names.index("Tint")
        n, ok = len(table), np.flatnonzero(~failed)
        vec_ok, table_ok = _rows(ok, n, vec, table)  # views when every image was read: no copies of N rows
        units, neighbors, scenes = head_units.copy(), None, None
        mt = units[ok][:, [jt, ji]]
        if settings.blend and self.index is not None and len(self.index):
            params = self.blend_params or BlendParams()
            sims, idx = self.index.search_training(vec_ok, int(settings.k or self.blend_k), normalized=True)
            asshot = asshot_units(table, self.ensemble.specs)[ok][:, [jt, ji]]
            mt = apply_blend(mt, asshot, sims, idx, self.index.edits, self.index.asshot, params)
            neighbors = (np.full((n, sims.shape[1]), -1.0, np.float32), np.full((n, sims.shape[1]), -1, np.int64))
            neighbors[0][ok], neighbors[1][ok] = sims, idx
        if settings.blend and self.index is not None:  # photos added by add-edits, by their own rule
            mt = blend_added(self.index, mt, head_units[ok][:, [jt, ji]], vec_ok, table_ok, self.edit_params,
                             normalized=True)
        if settings.smooth and self.smooth_params is not None and len(ok) > 1:
            mt = smooth_batch(mt, vec_ok, self.smooth_params, index=self.index, normalized=self.index is not None)
        if settings.consistency == "scene":
            mt, scenes_ok = scene_consistency(mt, vec_ok, table_ok, self.scene_params)
            scenes = np.full(n, -1, np.int64)
            scenes[ok] = scenes_ok
            if failed.any():  # photos predicted from metadata only: each its own scene
                scenes[failed] = scenes_ok.max(initial=-1) + 1 + np.arange(int(failed.sum()))
        units[ok, jt], units[ok, ji] = mt[:, 0], mt[:, 1]
        return units, neighbors, scenes

    def _table(self, table: pd.DataFrame, head_units: np.ndarray, units: np.ndarray, failed: np.ndarray) -> pd.DataFrame:
        """The output rows (Prediction.table): CSV units, Temperature/Tint as integers, the head's and
        the final (mired, tint), whether the image was read."""
        specs = self.ensemble.specs
        names = [s.name for s in specs]
        final = to_csv_units(units, specs)
        out = pd.DataFrame({"id_global": table["id_global"].astype(str).to_numpy()})
        for j, s in enumerate(specs):
            out[s.name] = final[:, j]
        if "Temperature" in names and "Tint" in names:
            jt, ji = names.index("Temperature"), names.index("Tint")
            out["Temperature"] = np.clip(np.rint(out["Temperature"]), TEMP_MIN, TEMP_MAX).astype(np.int64)
            out["Tint"] = np.clip(np.rint(out["Tint"]), TINT_MIN, TINT_MAX).astype(np.int64)
            out["head_mired"], out["head_tint"] = head_units[:, jt], head_units[:, ji]
            out["mired"], out["tint"] = units[:, jt], units[:, ji]
        out["image_ok"] = ~failed
        return out


def _rows(ok: np.ndarray, n: int, *arrays):
    """The rows `ok` of each array or table: the arrays themselves when `ok` is every row (the
    usual case; a copy of 20,000 embeddings is 29 MB), else copies of those rows."""
    if len(ok) == n:
        return arrays
    return tuple(a.iloc[ok] if isinstance(a, pd.DataFrame) else a[ok] for a in arrays)
