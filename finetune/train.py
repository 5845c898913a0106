"""Stage 2: learn the photographer's white balance from image embedding + colour cues + metadata.

Reads top to bottom:
  1. load the encoder (pretrained, or randomly initialised = "no pretraining") and the Train
     catalog at the encoder's image size, and re-render every photo from its as-shot to the one
     reference white balance (core.canonical): every image input below is computed on that
     canonical render, and the targets are the absolute edit, so the camera's as-shot guess cannot
     move a prediction (it is the same capture whatever the camera guessed);
  2. AS-SHOT RE-RENDERING AUGMENTATION: each training photo gets `rerender_aug` copies as if the
     camera had picked another as-shot white balance (±300 mired, ±45 tint: the range real cameras
     produce), rendered there (clipped, 8-bit) and canonicalised again, label kept. With canonical
     inputs the copies teach robustness to what the round trip loses (clipping, 8-bit rounding),
     for every member, the gradient-boosting one included;
  3. embed originals + copies ONCE with the frozen encoder, as predict will run it (the int8 ONNX
     graph calibrated on these photos, `deploy_encoder`), and compute colour features once (the
     cache); the heads then train on arrays in seconds (with --train-encoder the encoder is first
     fine-tuned jointly with a head on rendered batches, then the cache is rebuilt with it);
  4. cross-fitting (whole shoots held out: core.splits): every member is trained on each of 5 grouped
     folds' training shoots and predicts its held-out ones, which gives every photo an out-of-fold
     prediction; the model on every photo is trained alongside (the six fits run as forked workers,
     one per core, one thread each: `run_fits`). On those pooled predictions every knob is chosen by
     the one rule (core.metrics.select): the member mix, the as-shot-aware member's pull
     (finetune.trust: adopted only for a large gain, else the model stays as-shot-invariant),
     neighbour blending and batch smoothing (retrieval.blend, neighbours from each fold's training
     photos only), the scene pull and the strength for added edits;
  5. build the saved model whole from the fit on every photo and the chosen knobs, and save OUT/head.*,
     OUT/encoder.*, OUT/forest.npz (+ OUT/aware.npz when trusted), OUT/neighbors.*, OUT/manifest.json
     (finetune.store), OUT/finetune_report.json (+ OUT/validation_predictions.csv: every system's
     out-of-fold predictions).
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np
import pandas as pd
import torch

from core.artifacts import reading, write_json
from core.locks import writes_folder
from finetune.options import FinetuneConfig
from core.canonical import REF_TEMP, REF_TINT, from_reference, to_reference
from catalog.delta_e import render_delta_e, summary as de_summary
from core.colour import COLOUR_FEATURE_NAMES, IMAGE_FEATURE_NAMES, image_features
from core.errors import CatalogError
from core.metadata import MetadataEncoder
from core.progress import progress_bar
from core.schedule import warmup_cosine
from core.runtime import one_blas_thread, pick_device, provenance, seed_everything, set_threads, torch_threads
from core.wb import TEMP_MAX, TEMP_MIN, TINT_MAX, TINT_MIN, kelvin_to_mired, mired_to_kelvin
from core.parallel import ChunkPlan, can_fork, run_chunks
from core.metrics import Choice, photo_errors, select, target_mae, wb_metrics
from finetune.gbm import fit_gbm, gbm_inputs, predict_gbm
from finetune.ensemble import (HEAD_FORMAT, HeadEnsemble, TargetSpec, anchor_units, asshot_units, fit_scaling,
                               image_meta_columns, label_units, make_specs, scale_targets, to_csv_units)
from finetune.model import WBHead, head_arrays, huber
from finetune.trust import TrustParams, apply_trust, asshot_stats, choose_trust, could_trust, fit_aware
from core.splits import grouped_holdout, grouped_kfold, recency_weights, shoot_groups
from finetune.store import save_model
from retrieval import blend
from retrieval.index import NeighborIndex
from pretrain.encoder import ENCODER_FILE, Encoder, embed, load_encoder, round_to_half, to_tensor

FALLBACK_HIDDEN = 64  # the metadata-only head has ~30 inputs: a narrow MLP is enough, and keeps the model small




def parse_targets(targets: str | list[str] | tuple[str, ...]) -> list[str]:
    names = [t.strip() for t in targets.split(",")] if isinstance(targets, str) else [str(t) for t in targets]
    names = [t for t in names if t]
    if not names:
        raise CatalogError("no targets given; expected e.g. 'Temperature,Tint'")
    return names


# ------------------------------------------------------------------------------------------------
# 1. Encoder
# ------------------------------------------------------------------------------------------------
def load_or_init_encoder(cfg: FinetuneConfig) -> tuple[Encoder, dict[str, Any]]:
    """The pretrained encoder from cfg.encoder (a folder with encoder.safetensors, or the file itself), or a
    seeded random one when no folder is given: then the features are random projections of the
    image, still informative about colour — and --train-encoder can learn it from scratch."""
    if cfg.encoder:
        path = Path(cfg.encoder)
        path = path / ENCODER_FILE if path.is_dir() else path
        if not path.is_file():
            raise CatalogError(f"encoder checkpoint not found: {path} (expected the folder written by `pretrain`)")
        with reading(path.parent):  # a model folder another run may be committing: one encoder, whole
            enc, blob = load_encoder(path)
        # The model folder stores the encoder in float16; rounding first means the heads train on
        # exactly the embeddings predict will compute.
        pre = {k: blob.get(k) for k in ("config", "versions", "created", "epoch", "n_images", "final_eval")}
        from core.artifacts import sha256

        return round_to_half(enc), {"source": str(path), "sha256": sha256(path), "pretrained": True,
                                    "arch": blob.get("arch"), "pretrain": pre}
    torch.manual_seed(cfg.seed)
    enc = round_to_half(Encoder(image_size=cfg.image_size).eval())
    return enc, {"source": None, "pretrained": False, "arch": enc.config(), "pretrain": None}


CALIBRATION_PHOTOS = 256  # int8 activation ranges: measured on this many training photos (seeded sample)


@dataclass
class DeployedEncoder:
    """The frozen encoder (torch, float16-rounded weights) and the graph predict will run for it.
    Every embedding the heads train on comes from `embed`, i.e. from that same graph, so predict
    reproduces them: with int8 the quantisation error is part of what the heads learn."""
    torch: Encoder
    graph: bytes | None   # pretrain.onnx.int8_graph of `torch`; None: predict runs its float32 export
    session: Any          # pretrain.onnx.OnnxEncoder of `graph` (None without one)

    @property
    def dim(self) -> int:
        return self.torch.dim

    @property
    def image_size(self) -> int:
        return self.torch.image_size

    def embed(self, images: np.ndarray, device: torch.device | str = "cpu") -> np.ndarray:
        if self.session is not None:
            return self.session.embed(images, batch_size=256)
        return embed(self.torch, images, batch_size=256, device=device)


def deploy_encoder(encoder: Encoder, images: np.ndarray, cfg: FinetuneConfig) -> DeployedEncoder:
    """`encoder` as predict will run it: the int8 graph calibrated on a seeded sample of `images`
    (the training photos' canonical renders) with cfg.int8, else the float32 export."""
    if not cfg.int8:
        return DeployedEncoder(encoder, None, None)
    from pretrain.onnx import OnnxEncoder, int8_graph

    n = min(len(images), CALIBRATION_PHOTOS)
    sample = np.sort(np.random.default_rng(cfg.seed).choice(len(images), n, replace=False))
    graph = int8_graph(encoder, images[sample])
    return DeployedEncoder(encoder, graph, OnnxEncoder(graph, threads=cfg.threads))


# ------------------------------------------------------------------------------------------------
# 2. As-shot re-rendering augmentation
# ------------------------------------------------------------------------------------------------
def make_rerender_plan(table: pd.DataFrame, n_aug: int, max_mired: float, max_tint: float,
                       seed: int) -> pd.DataFrame:
    """Rows = originals then copies: columns src (source row), copy (0 = original), currTemp,
    currTint (the simulated as-shot, clipped to the slider ranges).

    The shift is uniform in mired (perceptually even) and in tint; the label is *not* stored here
    because it does not change."""
    n = len(table)
    temp = table["currTemp"].to_numpy(np.float64)
    tint = table["currTint"].to_numpy(np.float64)
    src = [np.arange(n)]
    copies = [np.zeros(n, np.int64)]
    new_t, new_i = [temp], [tint]
    rng = np.random.default_rng(seed)
    for a in range(1, int(n_aug) + 1):
        dm = rng.uniform(-max_mired, max_mired, n)
        dt = rng.uniform(-max_tint, max_tint, n)
        m = np.clip(kelvin_to_mired(temp) + dm, kelvin_to_mired(TEMP_MAX), kelvin_to_mired(TEMP_MIN))
        src.append(np.arange(n))
        copies.append(np.full(n, a, np.int64))
        new_t.append(mired_to_kelvin(m))
        new_i.append(np.clip(tint + dt, TINT_MIN, TINT_MAX))
    return pd.DataFrame({"src": np.concatenate(src), "copy": np.concatenate(copies),
                         "currTemp": np.concatenate(new_t), "currTint": np.concatenate(new_i)})


def expand_table(table: pd.DataFrame, plan: pd.DataFrame) -> pd.DataFrame:
    """The catalog rows of every plan entry, with currTemp/currTint replaced by the plan's."""
    out = table.iloc[plan["src"].to_numpy()].reset_index(drop=True).copy()
    out["currTemp"] = plan["currTemp"].to_numpy()
    out["currTint"] = plan["currTint"].to_numpy()
    return out


def plan_images(images: np.ndarray, plan: pd.DataFrame, rows: np.ndarray,
                reference: tuple[float, float] = (REF_TEMP, REF_TINT)) -> np.ndarray:
    """uint8 (B,S,S,3) canonical renders of the plan rows `rows`: an original is the loaded image (already
    canonical); a copy is rendered at its simulated as-shot, clipped and 8-bit as a camera's render would
    be, and canonicalised again, so it differs from the original only by what that round trip loses."""
    rows = np.asarray(rows)
    out = images[plan["src"].to_numpy()[rows]]  # fancy indexing: a copy
    moved = plan["copy"].to_numpy()[rows] != 0
    if moved.any():
        t, ti = plan["currTemp"].to_numpy()[rows][moved], plan["currTint"].to_numpy()[rows][moved]
        out[moved] = to_reference(from_reference(out[moved], t, ti, reference), t, ti, reference)
    return out


@dataclass
class FeatureCache:
    emb: np.ndarray     # (M, D) float32 for every plan row
    colour: np.ndarray  # (M, C) float32: core.colour.image_features (colour_features first)


def build_cache(encoder: DeployedEncoder | Encoder, images: np.ndarray, plan: pd.DataFrame,
                device: torch.device | str = "cpu", chunk: int = 512, progress: bool = True,
                colour: np.ndarray | None = None) -> FeatureCache:
    """Embed and colour-describe every plan row once (images: canonical renders; copies made on the fly
    by plan_images). Pass `colour` to reuse colour features (they do not depend on the encoder)."""
    if isinstance(encoder, Encoder):  # a bare torch encoder: predict would run its float32 export
        encoder = DeployedEncoder(encoder, None, None)
    m = len(plan)
    emb = np.zeros((m, encoder.dim), np.float32)
    col = np.zeros((m, len(IMAGE_FEATURE_NAMES)), np.float32) if colour is None else colour
    with progress_bar(progress) as bar:
        task = bar.add_task("embedding photos + re-rendered copies", total=m)
        for i in range(0, m, chunk):
            sl = slice(i, min(i + chunk, m))
            u8 = plan_images(images, plan, np.arange(sl.start, sl.stop))
            emb[sl] = encoder.embed(u8, device)
            if colour is None:
                col[sl] = image_features(u8)
            bar.advance(task, sl.stop - sl.start)
    return FeatureCache(emb, col)


# ------------------------------------------------------------------------------------------------
# 3. Heads
# ------------------------------------------------------------------------------------------------
WEIGHT_GRID = np.round(np.linspace(0.0, 1.0, 11), 1)


def choose_gbm_weights(mlp: np.ndarray, gbm: np.ndarray, truth: np.ndarray, default: float = 0.5,
                       folds: np.ndarray | None = None, shoots: np.ndarray | None = None
                       ) -> tuple[np.ndarray, list[Choice]]:
    """Per target, the weight w of the gradient-boosting member in (1 - w)·MLP + w·GBM: the grid value
    (0, 0.1, ..., 1) with the lowest pooled out-of-fold MAE, adopted over `default` by
    core.metrics.select (over the photos' `folds` and `shoots`). (N, T) arrays in head units, so
    Temperature is judged in mired. Returns the weights (T,) and each target's Choice. Which family
    generalises better differs by catalog: on the synthetic benchmark the MLP memorises scenes through
    the embedding and the GBM-heavy mix is clearly better."""
    grid = np.union1d(WEIGHT_GRID, [float(default)])
    d = int(np.flatnonzero(np.isclose(grid, default))[0])
    out, choices = np.full(truth.shape[1], float(default)), []
    for j in range(truth.shape[1]):
        mix = (1 - grid)[:, None] * mlp[None, :, j] + grid[:, None] * gbm[None, :, j]      # (C, N)
        base_mae = float(np.mean(np.abs(mix[d] - truth[:, j])))
        # (1e-6 of a mired or tint unit: below it a mix differs from the default by float rounding only)
        choice = select(photo_errors(mix[..., None], truth[:, j:j + 1], [max(base_mae, 1e-6)]), d, folds, shoots)
        out[j] = grid[choice.index]
        choices.append(choice)
    return out, choices


def version_table(plan: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """(photos, 1 + copies) plan-row indices: column 0 the original, then its re-rendered copies."""
    src, copy_no = plan["src"].to_numpy(), plan["copy"].to_numpy()
    n_versions = int(copy_no.max()) + 1 if len(copy_no) else 1
    pos = {int(r): i for i, r in enumerate(rows)}
    table = np.full((len(rows), n_versions), -1, np.int64)
    keep = np.isin(src, rows)
    for r in np.flatnonzero(keep):
        table[pos[int(src[r])], copy_no[r]] = r
    table[table < 0] = np.repeat(table[:, :1], n_versions, 1)[table < 0]  # (never happens with a full plan)
    return table


@dataclass(frozen=True)
class HeadTraining:
    """How train_head and finetune_encoder train: FinetuneConfig's head and encoder settings, taken once per fit
    (from_config)."""
    epochs: int
    """Epochs of each head: one pass over the training photos, each in one random version."""
    batch_size: int
    """Photos per minibatch (at most all of them)."""
    lr: float
    """Peak AdamW learning rate of a head (warm-up over the first 10 % of steps, then cosine decay)."""
    weight_decay: float
    """AdamW weight decay, heads and encoder alike."""
    huber_delta: float
    """Huber loss threshold, in units of each target's training spread."""
    hidden: int
    """Hidden width of the head MLP."""
    dropout: float
    """Dropout after each hidden layer of the head MLP."""
    emb_dropout: float
    """Dropout on the head's embedding input."""
    train_encoder: str
    """The encoder layers finetune_encoder trains: 'last' (its last stage) or 'all'."""
    encoder_epochs: int
    """Epochs of encoder fine-tuning (--encoder-epochs, or --epochs when that is 0)."""
    encoder_lr: float
    """AdamW learning rate of the encoder's parameters."""

    @classmethod
    def from_config(cls, cfg: FinetuneConfig) -> HeadTraining:
        return cls(cfg.epochs, cfg.batch_size, cfg.lr, cfg.weight_decay, cfg.huber_delta, cfg.hidden, cfg.dropout,
                   cfg.emb_dropout, cfg.train_encoder, cfg.encoder_epochs or cfg.epochs, cfg.encoder_lr)


class Batch(NamedTuple):
    """A head's inputs as tensors, row-aligned: all rows (HeadInputs.tensors) or one minibatch (take)."""
    emb: torch.Tensor | None      # (B, D) standardised embeddings; None where the encoder computes them per batch
    colour: torch.Tensor          # (B, C) standardised colour statistics
    meta: torch.Tensor            # (B, F) metadata features
    cam: torch.Tensor             # (B,) camera index
    y: torch.Tensor               # (B, T) scaled target shifts
    weights: torch.Tensor | None  # (B,) loss weights; None: equal

    def take(self, rows: torch.Tensor, device: torch.device | str = "cpu") -> Batch:
        return Batch(*(None if t is None else t[rows].to(device) for t in self))


@dataclass(frozen=True)
class HeadInputs:
    """What a head trains on, as arrays row-aligned with the plan rows (the originals, for the fallback head)."""
    emb: np.ndarray | None       # (M, D) standardised embeddings; None: finetune_encoder computes them per batch
    colour: np.ndarray           # (M, C) standardised colour statistics
    meta: np.ndarray             # (M, F) metadata features
    cam: np.ndarray              # (M,) camera index
    y: np.ndarray                # (M, T) scaled target shifts
    n_cameras: int
    fallback: np.ndarray         # (n_cameras,) each camera's fallback bucket (camera dropout)
    versions: np.ndarray | None  # (photos, V) each photo's rows (version_table); None: every row is its own photo
    weights: np.ndarray | None   # (M,) per-row loss weights (core.splits.recency_weights); None: equal

    def tensors(self) -> Batch:
        return Batch(*(None if a is None else torch.from_numpy(np.ascontiguousarray(a))
                       for a in (self.emb, self.colour, self.meta, self.cam, self.y)),
                     None if self.weights is None else torch.from_numpy(np.asarray(self.weights, np.float32)))

    def version_rows(self) -> torch.Tensor:
        return torch.from_numpy(self.versions if self.versions is not None else np.arange(len(self.y))[:, None])


def epoch_loop(opt: torch.optim.Optimizer, versions: torch.Tensor, epochs: int, batch_size: int,
               g: torch.Generator, loss_of: Callable[[torch.Tensor], torch.Tensor], train_mode: Callable[[], Any],
               bar=None, task=None) -> None:
    """The training loop of train_head and finetune_encoder: linear warm-up over the first 10 % of steps then
    cosine decay; each epoch `train_mode()`, one random version per photo (`versions`: (photos, V) rows), the
    photos shuffled, then one AdamW step per minibatch on `loss_of(rows)`. Every draw comes from `g` in this
    order (version pick, shuffle, then whatever loss_of draws per step), so a seed gives the same head. It
    steps `opt`: training the parameters the caller's optimiser holds is what the loop is for."""
    n = len(versions)
    bs = max(1, min(batch_size, n))
    steps = math.ceil(n / bs)
    total = epochs * steps
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(total, total // 10))
    for _ in range(epochs):
        train_mode()
        pick = torch.randint(0, versions.shape[1], (n,), generator=g)
        rows = versions[torch.arange(n), pick][torch.randperm(n, generator=g)]
        for i in range(steps):
            loss = loss_of(rows[i * bs:(i + 1) * bs])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        if bar is not None:
            bar.advance(task)


CAMERA_DROPOUT = 0.1  # share of rows that see their camera's fallback bucket while a head trains


def train_head(inputs: HeadInputs, settings: HeadTraining, seed: int, bar=None, task=None) -> WBHead:
    """One head on standardised arrays (all plan rows); y = scaled target shifts. Deterministic given
    the seed.

    An epoch is one pass over the training *photos*: `inputs.versions` (photos, V) lists each photo's rows
    (original + re-rendered copies) and every epoch draws one of them per photo at random. So the
    augmentation adds variety, not passes: the copies of a photo share its label noise, and seeing
    them all every epoch overfits like training (1 + copies) times longer (measured: tint error
    rises).

    Camera dropout: 10 % of rows see their camera's fallback bucket (its group, or 'unknown'), so
    those embeddings are trained and an unseen camera at prediction time lands somewhere sensible."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    head = WBHead(inputs.emb.shape[1], inputs.colour.shape[1], inputs.meta.shape[1], inputs.n_cameras,
                  inputs.y.shape[1], settings.hidden, settings.dropout, emb_dropout=settings.emb_dropout)
    data = inputs.tensors()
    fb = torch.as_tensor(np.asarray(inputs.fallback, np.int64))
    opt = torch.optim.AdamW(head.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)

    def loss_of(rows: torch.Tensor) -> torch.Tensor:
        x = data.take(rows)
        drop = torch.rand(len(rows), generator=g) < CAMERA_DROPOUT
        return huber(head(x.emb, x.colour, x.meta, torch.where(drop, fb[x.cam], x.cam)), x.y, settings.huber_delta,
                     x.weights)

    epoch_loop(opt, inputs.version_rows(), settings.epochs, settings.batch_size, g, loss_of, head.train, bar, task)
    return head.eval()


def finetune_encoder(encoder: Encoder, images: np.ndarray, plan: pd.DataFrame, inputs: HeadInputs,
                     emb_stats: tuple[np.ndarray, np.ndarray], settings: HeadTraining, seed: int,
                     device: torch.device, progress: bool) -> Encoder:
    """The slow path (--train-encoder last|all): a copy of `encoder` + a temporary head trained jointly on
    batches rendered on the fly (images, plan: see plan_images; inputs.emb unused, the embeddings come from
    the encoder, standardised by emb_stats). Only the encoder is returned; the ensemble heads are trained
    afterwards on a cache rebuilt with it. One version per photo and epoch, as train_head."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    encoder = copy.deepcopy(encoder).to(device)
    for p in encoder.parameters():
        p.requires_grad_(settings.train_encoder == "all")
    if settings.train_encoder == "last":
        for p in encoder.stages[-1].parameters():
            p.requires_grad_(True)
    head = WBHead(encoder.dim, inputs.colour.shape[1], inputs.meta.shape[1], inputs.n_cameras, inputs.y.shape[1],
                  settings.hidden, settings.dropout, emb_dropout=settings.emb_dropout).to(device)
    params = [{"params": [p for p in encoder.parameters() if p.requires_grad], "lr": settings.encoder_lr},
              {"params": head.parameters(), "lr": settings.lr}]
    opt = torch.optim.AdamW(params, weight_decay=settings.weight_decay)
    mean, std = (torch.as_tensor(a, device=device) for a in emb_stats)
    data = inputs.tensors()

    def train_mode() -> None:
        encoder.train(settings.train_encoder == "all")
        if settings.train_encoder == "last":
            encoder.stages[-1].train()
        head.train()

    def loss_of(rows: torch.Tensor) -> torch.Tensor:
        x = data.take(rows, device)
        emb = (encoder(to_tensor(plan_images(images, plan, rows.numpy())).to(device)) - mean) / std
        return huber(head(emb, x.colour, x.meta, x.cam), x.y, settings.huber_delta)

    with progress_bar(progress) as bar:
        task = bar.add_task(f"fine-tuning encoder ({settings.train_encoder})", total=settings.encoder_epochs)
        epoch_loop(opt, inputs.version_rows(), settings.encoder_epochs, settings.batch_size, g, loss_of, train_mode,
                   bar, task)
    for p in encoder.parameters():
        p.requires_grad_(False)
    return encoder.eval().cpu()


@dataclass(frozen=True)
class FitLabels:
    """What a fit derives from its training photos before any member trains, per plan row (M) of the
    training set: the metadata encoding, the targets and the photos' versions and weights."""
    meta_enc: MetadataEncoder   # fitted on the training photos
    meta: np.ndarray            # (M, F) every metadata feature (the fallback head reads the as-shot)
    meta_img: np.ndarray        # (M, F') without the as-shot: what the image members read
    cam: np.ndarray             # (M,) camera index
    shifts: np.ndarray          # (M, T) label - anchor, head units
    specs: list[TargetSpec]     # with the target scaling fitted on the training rows
    y: np.ndarray               # (M, T) scaled shifts
    train_all: np.ndarray       # plan rows of the training photos and their re-rendered copies
    originals: np.ndarray       # plan rows of the training photos themselves (no copies)
    versions: np.ndarray        # (photos, V) version_table of the training photos
    weights: np.ndarray | None  # (M,) recency weight of each row (a copy as its photo); None: equal

    def head_inputs(self, emb: np.ndarray | None, colour: np.ndarray, weighted: bool = True) -> HeadInputs:
        """The image members' inputs on every plan row (versions: the training photos')."""
        return HeadInputs(emb, colour, self.meta_img, self.cam, self.y, self.meta_enc.n_cameras,
                          np.asarray(self.meta_enc.fallback, np.int64), self.versions,
                          self.weights if weighted else None)

    def fallback_inputs(self) -> HeadInputs:
        """The metadata-only head's inputs: the originals only (copies add nothing without the image), every
        metadata feature (it is the one member that reads the as-shot: without an image the best cue)."""
        o = self.originals
        empty = np.zeros((len(o), 0), np.float32)
        return HeadInputs(empty, empty, self.meta[o], self.cam[o], self.y[o], self.meta_enc.n_cameras,
                          np.asarray(self.meta_enc.fallback, np.int64), None,
                          None if self.weights is None else self.weights[o])


def fit_labels(cfg: FinetuneConfig, ts: TrainingSet, rows: np.ndarray) -> FitLabels:
    """FitLabels of the training photos `rows` (original row indices) and their re-rendered copies."""
    src = ts.plan["src"].to_numpy()
    train_all = np.flatnonzero(np.isin(src, rows))           # plan rows: originals + copies
    originals = train_all[ts.plan["copy"].to_numpy()[train_all] == 0]
    weights = None  # per plan row: newer shoots count more (--recency-half-life), a copy as its photo
    if cfg.recency_half_life > 0:
        photo_w = np.zeros(len(ts.table))
        photo_w[rows] = recency_weights(ts.table.iloc[rows], cfg.recency_half_life)
        weights = photo_w[src]
    meta_enc = MetadataEncoder().fit(ts.table.iloc[rows], ts.cat.exif_units)
    meta, cam = meta_enc.transform(ts.table_all, ts.cat.exif_units)
    shifts = ts.units_all - ts.anchors_all
    specs = fit_scaling(shifts[train_all], ts.specs)
    return FitLabels(meta_enc, meta, meta[:, image_meta_columns(meta_enc.feature_names)], cam, shifts, specs,
                     scale_targets(shifts, specs), train_all, originals, version_table(ts.plan, rows), weights)


def fit_model(cfg: FinetuneConfig, ts: TrainingSet, rows: np.ndarray, seed: int, device: torch.device, label: str,
              shot_stats: np.ndarray | None = None, aware_targets: np.ndarray | None = None
              ) -> tuple[HeadEnsemble, DeployedEncoder, FeatureCache]:
    """Train everything that is fitted on labels, from the training photos `rows` (original row
    indices) and their re-rendered copies only: metadata encoder, standardisation, target scaling,
    (optionally the encoder), the ensemble, the metadata-only fallback head and, given the as-shot
    renders' colour statistics (N, C), the as-shot-aware member (finetune.trust; not yet trusted) for the
    targets `aware_targets` (T,) bool (default all). `label` names the fit on its progress bar."""
    f = fit_labels(cfg, ts, rows)
    settings = HeadTraining.from_config(cfg)
    encoder, cache = ts.encoder, ts.cache
    if cfg.train_encoder != "none":
        encoder, cache = tune_encoder(cfg, ts, f, settings, seed, device)
    o = f.originals
    stats = HeadEnsemble.input_stats(cache.emb[o], cache.colour[o])
    emb, col = HeadEnsemble([], f.specs, f.meta_enc, *stats).standardise(cache.emb, cache.colour)
    heads, fallback = train_heads(cfg, f, settings, emb, col, seed, label)
    gbm = None
    if cfg.gbm_weight > 0 or cfg.tune_gbm_weight:
        # Originals and their re-rendered copies. A copy's canonical render differs from its photo's only by
        # clipping and 8-bit rounding, which is exactly what the trees must learn to ignore: on the originals
        # alone the member scored better per photo on the real release (12.76 vs 13.07 mired) but the
        # prediction moved with the camera's as-shot (bracket spread 4.56 mired against 3.50 with the copies).
        t = f.train_all
        x, cat = gbm_inputs(f.meta_img[t], f.cam[t], cache.colour[t])
        gbm = fit_gbm(x, cat, f.shifts[t], seed, None if f.weights is None else f.weights[t])
    aware = None
    if shot_stats is not None:
        aware = fit_aware_member(ts, o, f.meta[o], f.cam[o], cache.colour[o], shot_stats, aware_targets, seed)
    return HeadEnsemble(heads, f.specs, f.meta_enc, *stats, fallback=fallback, gbm=gbm,
                        gbm_weight=cfg.gbm_weight, aware=aware), encoder, cache


def tune_encoder(cfg: FinetuneConfig, ts: TrainingSet, f: FitLabels, settings: HeadTraining, seed: int,
                 device: torch.device) -> tuple[DeployedEncoder, FeatureCache]:
    """--train-encoder: the encoder fine-tuned on the fit's training photos (finetune_encoder), deployed as
    predict will run it, and the feature cache rebuilt with it (the colour statistics do not change)."""
    stats = HeadEnsemble.input_stats(ts.cache.emb[f.originals], ts.cache.colour[f.originals])
    frozen = HeadEnsemble([], f.specs, f.meta_enc, *stats)
    _, col = frozen.standardise(ts.cache.emb, ts.cache.colour)
    # the recency weights count in the kept heads only, not in the encoder's temporary one
    tuned = finetune_encoder(ts.encoder.torch, ts.images, ts.plan, f.head_inputs(None, col, weighted=False),
                             (frozen.emb_mean, frozen.emb_std), settings, seed, device, cfg.progress)
    round_to_half(tuned)  # what the model folder stores (float16): see pretrain.encoder.save_encoder
    encoder = deploy_encoder(tuned, ts.images, cfg)
    return encoder, build_cache(encoder, ts.images, ts.plan, device, progress=cfg.progress, colour=ts.cache.colour)


def train_heads(cfg: FinetuneConfig, f: FitLabels, settings: HeadTraining, emb: np.ndarray, colour: np.ndarray,
                seed: int, label: str) -> tuple[list[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """The ensemble's cfg.ensemble heads on the standardised `emb`, `colour` (every plan row) and the
    metadata-only fallback head, as arrays rounded to float16: the model folder stores them so, and
    validation must judge exactly what will be saved."""
    with progress_bar(cfg.progress) as bar:
        task = bar.add_task(f"{label}: {cfg.ensemble} head(s) + fallback", total=(cfg.ensemble + 1) * cfg.epochs)
        inputs = f.head_inputs(emb, colour)
        heads = [train_head(inputs, settings, seed + 7919 * k, bar, task) for k in range(cfg.ensemble)]
        narrow = dataclasses.replace(settings, hidden=min(settings.hidden, FALLBACK_HIDDEN))
        fallback = train_head(f.fallback_inputs(), narrow, seed + 104729, bar, task)
    return [head_arrays(round_to_half(h)) for h in heads], head_arrays(round_to_half(fallback))


def fit_aware_member(ts: TrainingSet, originals: np.ndarray, meta: np.ndarray, cam: np.ndarray, colour: np.ndarray,
                     shot_stats: np.ndarray, aware_targets: np.ndarray | None, seed: int) -> Any:
    """finetune.trust.fit_aware on the original photos at plan rows `originals` (meta, cam, colour: theirs;
    shot_stats: per photo). Originals only: a re-rendered copy keeps its label under another as-shot, which
    teaches that the as-shot is noise, the opposite of what this member is for. A target it may not pull
    (aware_targets False) is never read, so it is fitted to zeros: its trees are single leaves (the model's
    4 MB budget)."""
    to_asshot = ts.units_all[originals] - asshot_units(ts.table_all.iloc[originals], ts.specs)
    if aware_targets is not None:
        to_asshot = np.where(np.asarray(aware_targets, bool)[None], to_asshot, 0.0)
    shot = shot_stats[ts.plan["src"].to_numpy()[originals]]
    return fit_aware(meta, cam, colour, shot, to_asshot, seed)


# ------------------------------------------------------------------------------------------------
# Baselines and figures
# ------------------------------------------------------------------------------------------------
def baseline_gbm(table: pd.DataFrame, exif_units: str, splits: list[tuple[np.ndarray, np.ndarray]],
                 specs: list[TargetSpec], colour: np.ndarray | None = None, seed: int = 0,
                 **hgb: Any) -> np.ndarray:
    """Out-of-fold predictions (N, T) in head units (anchor + shift; NaN for rows never validated) of
    sklearn HistGradientBoosting on the MetadataEncoder features (+ colour_features when given),
    one regressor per target, predicting the shift from the as-shot (what the head did before issue
    #12), with an absolute-error loss (the metric is an MAE). The baselines the head must beat."""
    units, anchors = label_units(table, specs), asshot_units(table, specs)
    shifts = units - anchors
    out = np.full(units.shape, np.nan)
    for tr, va in splits:
        enc = MetadataEncoder().fit(table.iloc[tr], exif_units)
        x, cat = gbm_inputs(*enc.transform(table, exif_units), colour)
        out[va] = anchors[va] + predict_gbm(fit_gbm(x[tr], cat, shifts[tr], seed, **hgb), x[va])
    return out


def baseline_predictions(table: pd.DataFrame, exif_units: str, splits: list[tuple[np.ndarray, np.ndarray]],
                         specs: list[TargetSpec], image_feats: np.ndarray | None, seed: int = 0) -> dict[str, np.ndarray]:
    """Out-of-fold predictions (head units) of the reference systems on `splits`: as-shot, and — when
    `image_feats` (core.colour.image_features of the photos) is given — the GBMs on metadata,
    metadata + colour_features, and metadata + every image statistic the head reads."""
    out = {"as-shot": asshot_units(table, specs)}
    if image_feats is not None:
        n_col = len(COLOUR_FEATURE_NAMES)
        for name, feats in (("gbm metadata", None), ("gbm metadata+colour", image_feats[:, :n_col]),
                            ("gbm metadata+colour+chroma", image_feats)):
            out[name] = baseline_gbm(table, exif_units, splits, specs, feats, seed)
    return out


def figures(table: pd.DataFrame, specs: list[TargetSpec], pred_units: np.ndarray, rows: np.ndarray) -> dict[str, Any]:
    """Metrics of predictions given in head units (anchor + shift) on `rows`."""
    pred = to_csv_units(pred_units[rows], specs)
    names = [s.name for s in specs]
    out: dict[str, Any] = {}
    if "Temperature" in names and "Tint" in names:
        jt, ji = names.index("Temperature"), names.index("Tint")
        out.update(wb_metrics(table["Temperature"].to_numpy(np.float64)[rows], table["Tint"].to_numpy(np.float64)[rows],
                              pred[:, jt], pred[:, ji]))
    for j, s in enumerate(specs):
        if s.name not in ("Temperature", "Tint") or "mae_temp_k" not in out:
            out[f"mae_{s.name}"] = target_mae(table[s.name].to_numpy(np.float64)[rows], pred[:, j])
        if s.kind == "mired" and "mae_temp_k" not in out:
            out["mae_mired"] = float(np.mean(np.abs(pred_units[rows, j] - kelvin_to_mired(
                np.clip(table[s.name].to_numpy(np.float64)[rows], TEMP_MIN, TEMP_MAX)))))
    out["n"] = int(len(rows))
    return out


def delta_e_figures(table: pd.DataFrame, specs: list[TargetSpec], images: np.ndarray, pred_units: np.ndarray,
                    rows: np.ndarray) -> dict[str, float]:
    """ΔE00 mean / P75 / P90 (catalog.delta_e) of predictions in head units on `rows`: each photo's canonical
    render `images` (N, S, S, 3) at the predicted and at the true white balance. Rendered at the encoder's
    input size, so a few per cent above a full-size comparison (catalog.delta_e.RENDER_SIZE). {} unless both
    Temperature and Tint are learned."""
    names = [s.name for s in specs]
    if "Temperature" not in names or "Tint" not in names or not len(rows):
        return {}
    pred = to_csv_units(pred_units[rows], specs)
    de = render_delta_e(images[rows], pred[:, names.index("Temperature")], pred[:, names.index("Tint")],
                        table["Temperature"].to_numpy(np.float64)[rows], table["Tint"].to_numpy(np.float64)[rows])
    return {k: v for k, v in de_summary(de).items() if k != "n"}


def print_table(results: dict[str, dict[str, Any]], title: str, reference: str = "as-shot") -> None:
    """Rich table of validation figures, one row per system, with the change vs `reference`."""
    from rich.console import Console
    from rich.table import Table

    cols = [("mae_temp_k", "MAE K"), ("mae_mired", "MAE mired"), ("mae_tint", "MAE tint"),
            ("score_temp", "score T"), ("score_tint", "score tint"),
            ("de00_mean", "ΔE00 mean"), ("de00_p75", "ΔE00 P75"), ("de00_p90", "ΔE00 P90")]
    cols = [c for c in cols if any(c[0] in r for r in results.values())]
    cols += [(k, k.replace("mae_", "MAE ")) for k in sorted({k for r in results.values() for k in r
                                                             if k.startswith("mae_") and k not in dict(cols)})]
    tab = Table(title=title)
    tab.add_column("system")
    for _, label in cols:
        tab.add_column(label, justify="right")
    ref = results.get(reference, {})
    has_k = "mae_temp_k" in ref
    gbms = {k: v for k, v in results.items() if k.startswith("gbm") and "mae_temp_k" in v}
    best = {m: min(v[m] for v in gbms.values()) for m in ("mae_temp_k", "mae_tint")} if gbms else None
    if has_k:
        tab.add_column(f"K vs {reference}", justify="right")
    if best:
        tab.add_column("K vs best GBM", justify="right")
        tab.add_column("tint vs best GBM", justify="right")
    tab.add_column("n", justify="right")

    def rel(a: float, b: float) -> str:
        return f"{100 * (a / b - 1):+.1f} %" if b else "—"

    for name, r in results.items():
        cells = [("—" if r.get(k) is None else (f"{r[k]:.5f}" if k.startswith("score") else f"{r[k]:.2f}"))
                 for k, _ in cols]
        if has_k:
            cells.append(rel(r["mae_temp_k"], ref["mae_temp_k"]))
        if best:
            cells += [rel(r["mae_temp_k"], best["mae_temp_k"]), rel(r["mae_tint"], best["mae_tint"])]
        tab.add_row(name, *cells, str(r.get("n", "")))
    console = Console()
    console.width = max(console.width, 150)  # logs and pipes default to 80 columns: keep rows on one line
    console.print(tab)


def _mired_tint(units: np.ndarray, specs: list[TargetSpec]) -> np.ndarray | None:
    """(N, 2) (mired, tint) columns of head-unit values, when both targets are learned."""
    names = [s.name for s in specs]
    if "Temperature" not in names or "Tint" not in names:
        return None
    return units[:, [names.index("Temperature"), names.index("Tint")]]


def _units_from_mired_tint(units: np.ndarray, mt: np.ndarray, specs: list[TargetSpec]) -> np.ndarray:
    out = units.copy()
    names = [s.name for s in specs]
    out[:, names.index("Temperature")] = mt[:, 0]
    out[:, names.index("Tint")] = mt[:, 1]
    return out


def knob_rows(specs: list[TargetSpec], gbm_weight: np.ndarray, gbm_choices: list[Choice], trust: TrustParams,
              c: "Consistency") -> list[dict[str, Any]]:
    """One row per knob chosen on the out-of-fold predictions: its value, whether core.metrics.select
    adopted it, the pooled gain, the gain in each fold and why (finetune's report and its printed table)."""
    rows = [{"knob": f"gradient-boosting weight, {s.name}", "value": float(w), **ch.to_dict()}
            for s, w, ch in zip(specs, gbm_weight, gbm_choices)]
    rows += [{"knob": f"as-shot trust, {s.name}", "value": float(w), **r} for s, w, r in zip(specs, trust.weight, trust.report)
             if "gain" in r]
    for key, name in (("blend", "neighbour blending"), ("smooth", "batch smoothing"), ("scene", "scene pull"),
                      ("edit_blend", "added-edits strength")):
        chosen = c.reports.get(key, {}).get("chosen", {})
        if "gain" in chosen:
            rows.append({"knob": name, "value": float(chosen.get("strength", 0.0)),
                         **{k: chosen[k] for k in ("adopted", "gain", "fold_gains", "z", "why")}})
    return rows


def print_knobs(rows: list[dict[str, Any]], scheme: str) -> None:
    """The knob table: value, pooled gain, gain per fold, and the rule's reason."""
    from rich.console import Console
    from rich.table import Table

    tab = Table(title=f"Knobs chosen on the out-of-fold predictions ({scheme})")
    for col, justify in (("knob", "left"), ("value", "right"), ("pooled gain", "right"), ("gain per fold", "right"),
                         ("decision", "left")):
        tab.add_column(col, justify=justify)
    for r in rows:
        tab.add_row(r["knob"], f"{r['value']:g}", f"{100 * r['gain']:+.1f} %",
                    " ".join(f"{100 * g:+.1f}" for g in r["fold_gains"]),
                    ("adopted: " if r["adopted"] else "default: ") + r["why"])
    console = Console()
    console.width = max(console.width, 150)
    console.print(tab)


# ------------------------------------------------------------------------------------------------
# The stage, in the steps of the module docstring
# ------------------------------------------------------------------------------------------------
@dataclass
class TrainingSet:
    """Steps 1-2: the labelled photos on their canonical renders, the re-rendered copies, the feature
    cache and the grouped validation splits. Arrays are row-aligned with `table` (N photos) or, for
    the *_all ones, with the augmentation plan (originals + copies)."""
    cat: Any                    # catalog.reader.Catalog of the Train split (exif_units, csv_path)
    table: pd.DataFrame         # (N rows) usable labelled photos
    images: np.ndarray          # (N, S, S, 3) uint8 canonical renders at the encoder's size
    shot_stats: np.ndarray | None  # (N, C) finetune.trust.asshot_stats of the photos as the camera rendered
                                   # them; None where no validation could trust the as-shot (could_trust)
    specs: list[TargetSpec]
    units: np.ndarray           # (N, T) labels in head units (mired, tint, ...)
    plan: pd.DataFrame          # finetune.train.make_rerender_plan: one row per original or copy
    table_all: pd.DataFrame     # the plan's rows as catalog rows (as-shot changed for copies)
    units_all: np.ndarray       # (M, T) labels per plan row
    anchors_all: np.ndarray     # (M, T) anchor per plan row (0 for the absolute Temperature/Tint)
    cache: FeatureCache         # embeddings + colour statistics of every plan row
    encoder: DeployedEncoder    # the frozen encoder and the graph predict runs (its embeddings: `cache`)
    enc_info: dict[str, Any]
    groups: np.ndarray          # (N,) shoot of each photo (core.splits.shoot_groups)
    splits: list[tuple[np.ndarray, np.ndarray]]
    scheme: str                 # how the splits were made, in words (choose_splits)
    seconds_cache: float

    @property
    def n(self) -> int:
        return len(self.table)

    @property
    def fold_of(self) -> np.ndarray:
        """(N,) the split that held each photo out; -1 for photos no split validated."""
        out = np.full(self.n, -1, np.int64)
        for f, (_, va) in enumerate(self.splits):
            out[va] = f
        return out

    @property
    def edits_mt(self) -> np.ndarray | None:
        return _mired_tint(self.units, self.specs)

    @property
    def asshot_mt(self) -> np.ndarray | None:
        return _mired_tint(asshot_units(self.table, self.specs), self.specs)

    @functools.cached_property
    def shoots(self) -> list[str | None]:
        col = self.table["shoot"] if "shoot" in self.table.columns else [None] * self.n
        return [None if v is None else str(v) for v in col]

    @functools.cached_property
    def ids(self) -> list[str]:
        return [str(i) for i in self.table["id_global"]]


def load_training_set(cfg: FinetuneConfig, targets: list[str], device: torch.device) -> TrainingSet:
    """Steps 1-2: encoder, the Train split on canonical renders, augmentation plan, feature cache, splits."""
    from catalog.reader import load_catalog

    encoder, enc_info = load_or_init_encoder(cfg)
    cat = load_catalog(cfg.data, "Train", image_size=encoder.image_size, targets=tuple(targets), labels="auto",
                       workers=cfg.workers, progress=cfg.progress)
    table, images = cat.table, cat.images
    missing = [t for t in targets if t not in table.columns]
    if missing:
        raise CatalogError(f"{cat.csv_path}: target column(s) {missing} not found; columns are {list(table.columns)}")
    specs = make_specs(targets, table.columns)
    units = label_units(table, specs)
    keep = np.isfinite(units).all(1) & np.isfinite(asshot_units(table, specs)).all(1)
    if not keep.all():  # the reader skips unlabelled rows; a non-positive/NaN as-shot is the rest
        warnings.warn(f"{cat.csv_path}: {int((~keep).sum())} row(s) without usable targets/as-shot ignored")
        table, images = table[keep].reset_index(drop=True), images[keep]
        units = units[keep]
    if len(table) < 4:
        raise CatalogError(f"{cat.csv_path}: only {len(table)} labelled photo(s); fine-tuning needs at least 4")
    # the as-shot renders' statistics, before the canonical render replaces them; only where some validation
    # could trust the as-shot-aware member (the shoot count is not known yet: at most one shoot a photo)
    shot_stats = asshot_stats(images) if could_trust(len(table), None, cfg.asshot_trust_gain) else None
    images = to_reference(images, table["currTemp"].to_numpy(np.float64), table["currTint"].to_numpy(np.float64))
    plan = make_rerender_plan(table, cfg.rerender_aug, cfg.rerender_mired, cfg.rerender_tint, cfg.seed)
    table_all = expand_table(table, plan)
    t0 = time.time()
    encoder = deploy_encoder(encoder, images, cfg)
    cache = build_cache(encoder, images, plan, device, progress=cfg.progress)
    seconds_cache = time.time() - t0
    groups = shoot_groups(table, embeddings=cache.emb[:len(table)])
    splits, scheme = choose_splits(groups, cfg)
    return TrainingSet(cat, table, images, shot_stats, specs, units, plan, table_all, units[plan["src"].to_numpy()],
                       anchor_units(table_all, specs), cache, encoder, enc_info, groups, splits, scheme, seconds_cache)


DELTA_E_ROWS = ("as-shot", "gbm metadata+colour", "head", "final (head + chosen blend + smooth)")
MIN_SHOOTS_PER_FOLD = 3  # fewer shoots per held-out fold and a fold's gain is one shoot's luck


def choose_splits(groups: np.ndarray, cfg: FinetuneConfig) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """The cross-fitting folds every member and knob is chosen on: cfg.folds grouped folds (whole shoots
    held out), or one grouped holdout of cfg.val_fraction when cfg.folds < 2 or the catalog has fewer
    than MIN_SHOOTS_PER_FOLD shoots per fold. Returns (splits, how they were made, in words)."""
    n_groups = len(set(groups.tolist()))
    if cfg.folds >= 2 and n_groups >= MIN_SHOOTS_PER_FOLD * cfg.folds:
        return grouped_kfold(groups, cfg.folds, cfg.seed), f"{cfg.folds}-fold cross-fitting"
    holdout = [grouped_holdout(groups, cfg.val_fraction, cfg.seed)]
    if cfg.folds < 2:
        return holdout, "one holdout (--folds < 2)"
    return holdout, (f"one holdout: {n_groups} shoots are too few for {cfg.folds} folds of "
                     f"{MIN_SHOOTS_PER_FOLD}+ shoots")


@dataclass
class FoldResults:
    """Step 4: out-of-fold predictions (N, T) in head units of every member, each validation photo's
    neighbours among its fold's training photos, and the last fold's model."""
    oof: np.ndarray             # the mix (MLP ensemble + GBM member at the configured weight)
    oof_mlp: np.ndarray
    oof_gbm: np.ndarray         # NaN when there is no GBM member
    oof_fb: np.ndarray          # the metadata-only fallback head
    oof_aware: np.ndarray       # the as-shot-aware member (finetune.trust); NaN when there is none
    nb_sims: np.ndarray         # (N, k) float32 cosine similarity of the neighbours, -1 where none
    nb_idx: np.ndarray          # (N, k) int64 photo row of each neighbour, -1 where none
    vectors: np.ndarray | None  # (N, d) every photo in one index space (batch smoothing, scenes)
    val_rows: np.ndarray        # the photos some fold validated
    last: tuple[Any, DeployedEncoder, FeatureCache]  # (HeadEnsemble, encoder, cache) of the last fold (its model:
                                                     # only for --no-refit with one holdout, the one saved)
    full: FoldFit | None        # the model on every photo (--refit), trained alongside the folds
    seconds: float


@dataclass
class FoldFit:
    """What one cross-fitting fit returns to the parent: the held-out rows' predictions (head units, before
    the anchor) of every member and their neighbours among the fold's training photos; for the refit on
    every photo, the model itself."""
    parts: Any = None           # finetune.ensemble.MemberPredictions of the held-out rows
    fallback: np.ndarray | None = None
    nb_sims: np.ndarray | None = None
    nb_idx: np.ndarray | None = None
    model: Any = None           # HeadEnsemble: the refit job's, or the one holdout's with --no-refit
    encoder: Any = None         # DeployedEncoder / FeatureCache: only when --train-encoder tuned them (serial)
    cache: Any = None


def fit_fold(cfg: FinetuneConfig, ts: TrainingSet, job: int, shot: np.ndarray | None, space: NeighborIndex | None,
             device: torch.device) -> FoldFit:
    """Cross-fitting job `job`: fold `job` (train on its training shoots, predict its held-out ones), or, for
    job == len(splits), the refit on every labelled photo (the saved model; its as-shot-aware member is
    fitted for every target when the as-shot could be trusted, trimmed once trust is chosen: `refit`).
    Runs with one torch and one BLAS thread whatever the number of workers, so the figures never depend on
    it (and two workers on two cores never fight over them)."""
    with torch_threads(1), one_blas_thread():
        if job == len(ts.splits):
            model, enc, cache = fit_model(cfg, ts, np.arange(ts.n), cfg.seed, device, "refit on all photos", shot)
            return FoldFit(model=model, **_tuned(ts, enc, cache))
        tr, va = ts.splits[job]
        model, enc, cache = fit_model(cfg, ts, tr, cfg.seed + 1000 * (job + 1), device,
                                      f"fold {job + 1}/{len(ts.splits)}", shot)
        kept = not cfg.refit and len(ts.splits) == 1  # the one holdout's model is the saved one (`refit`)
        out = FoldFit(parts=model.predict_parts(cache.emb[va], cache.colour[va], ts.table.iloc[va], ts.cat.exif_units,
                                                None if shot is None else shot[va]),
                      fallback=model.predict_fallback_shift(ts.table.iloc[va], ts.cat.exif_units),
                      model=model if kept else None, **_tuned(ts, enc, cache))
        if space is not None:  # neighbours of validation photos among *this fold's* training photos
            index_f = NeighborIndex.build(cache.emb[tr], [ts.ids[i] for i in tr], ts.edits_mt[tr],
                                          ts.asshot_mt[tr], [ts.shoots[i] for i in tr])
            out.nb_sims, ix = index_f.search(cache.emb[va], max(1, cfg.blend_k))
            out.nb_idx = np.where(ix >= 0, tr[np.maximum(ix, 0)], -1)
        return out


def _tuned(ts: TrainingSet, encoder: Any, cache: Any) -> dict[str, Any]:
    """The fit's encoder and cache only when they are not the training set's own (--train-encoder)."""
    return {} if encoder is ts.encoder else {"encoder": encoder, "cache": cache}


def run_fits(cfg: FinetuneConfig, ts: TrainingSet, jobs: int, shot: np.ndarray | None, space: NeighborIndex | None,
             device: torch.device) -> list[FoldFit]:
    """Every cross-fitting job (fit_fold), in job order, one job a chunk on core.parallel's workers: one per
    core (--threads), forked processes sharing the feature cache copy-on-write, results back pickled. One
    at a time where forking is not safe (macOS, Windows), on a GPU, or when the encoder is fine-tuned (its
    fits render batches and hold the device); never threads, whose torch thread settings would collide."""
    forkable = cfg.train_encoder == "none" and device.type == "cpu" and can_fork()
    plan = ChunkPlan.make(jobs, int(cfg.threads or 1) if forkable else 1, chunk=1)
    # several workers: one bar counts the fits (a fit's own bars would interleave); one: the fit's own bars
    fit_cfg = dataclasses.replace(cfg, progress=False) if plan.workers > 1 else cfg
    return run_chunks(plan, lambda a, b: fit_fold(fit_cfg, ts, a, shot, space, device),
                      progress=cfg.progress and plan.workers > 1,
                      label=f"cross-fitting: {jobs} fits on {plan.workers} workers")


def cross_validate(cfg: FinetuneConfig, ts: TrainingSet, device: torch.device) -> FoldResults:
    """Train on each split's training shoots, predict its held-out shoots (no photo of a validation
    shoot is seen by its model, nor is it among its neighbours); with --refit the model on every photo is
    trained alongside (`refit` finishes it), so the workers stay busy."""
    n, k = ts.n, max(1, cfg.blend_k)
    anchors = anchor_units(ts.table, ts.specs)
    oof, oof_mlp, oof_gbm, oof_fb, oof_aware = (np.full(ts.units.shape, np.nan) for _ in range(5))
    nb_sims, nb_idx = np.full((n, k), -1.0, np.float32), np.full((n, k), -1, np.int64)
    space = vectors = None
    if ts.edits_mt is not None:  # Batch smoothing and scenes are fitted on all validation photos together, so
        # they need one common space: the index space of every photo's embedding (no labels involved), which
        # is the saved model's own space whenever the encoder is frozen.
        space = NeighborIndex.build(ts.cache.emb[:n], ts.ids, ts.edits_mt, ts.asshot_mt, ts.shoots)
        vectors = np.zeros((n, space.basis.shape[0]), np.float32)
    # the as-shot-aware member only where its validation could adopt it (finetune.trust.could_trust); a
    # small catalog (the demo's) or --asshot-trust-gain 1 never fits it
    val_rows = np.concatenate([va for _, va in ts.splits])
    trustable = ts.shot_stats is not None and could_trust(len(val_rows), len(set(ts.groups[val_rows])),
                                                          cfg.asshot_trust_gain)
    shot = ts.shot_stats if trustable else None
    t0 = time.time()
    fits = run_fits(cfg, ts, len(ts.splits) + int(bool(cfg.refit)), shot, space, device)
    for (tr, va), fit in zip(ts.splits, fits):
        oof[va], oof_mlp[va] = anchors[va] + fit.parts.mix, anchors[va] + fit.parts.mlp
        if fit.parts.aware is not None:
            oof_aware[va] = anchors[va] + fit.parts.aware
        if fit.parts.gbm is not None:
            oof_gbm[va] = anchors[va] + fit.parts.gbm
        oof_fb[va] = anchors[va] + fit.fallback
        if space is not None:
            nb_sims[va, :fit.nb_sims.shape[1]] = fit.nb_sims
            nb_idx[va, :fit.nb_sims.shape[1]] = fit.nb_idx
            vectors[va] = space.normalize((fit.cache or ts.cache).emb[va])
    last = fits[len(ts.splits) - 1]
    return FoldResults(oof, oof_mlp, oof_gbm, oof_fb, oof_aware, nb_sims, nb_idx, vectors, val_rows,
                       (last.model, last.encoder or ts.encoder, last.cache or ts.cache),
                       fits[-1] if cfg.refit else None, time.time() - t0)


def tune_mixing(cfg: FinetuneConfig, ts: TrainingSet, fr: FoldResults
                ) -> tuple[np.ndarray, list[Choice], dict[str, np.ndarray]]:
    """The GBM member's weight per target (choose_gbm_weights) with each target's Choice (none when not
    tuned), and every system's out-of-fold predictions (N, T) in head units: baselines, fallback, MLP
    only, and the head at that weight."""
    v = fr.val_rows
    has_gbm = bool(np.isfinite(fr.oof_gbm[v]).all())
    gbm_weight = np.full(len(ts.specs), cfg.gbm_weight if has_gbm else 0.0)
    choices: list[Choice] = []
    head = fr.oof.copy()
    if cfg.tune_gbm_weight and has_gbm:
        gbm_weight, choices = choose_gbm_weights(fr.oof_mlp[v], fr.oof_gbm[v], ts.units[v], cfg.gbm_weight,
                                                 ts.fold_of[v], ts.groups[v])
        head[v] = (1 - gbm_weight) * fr.oof_mlp[v] + gbm_weight * fr.oof_gbm[v]
    preds = baseline_predictions(ts.table, ts.cat.exif_units, ts.splits, ts.specs,
                                 ts.cache.colour[:ts.n] if cfg.baselines else None, cfg.seed)
    preds["head (metadata only)"] = fr.oof_fb
    if has_gbm:  # the GBM member alone is the "gbm metadata+colour+chroma" row
        preds["head: MLP ensemble only"] = fr.oof_mlp
    preds["head"] = head
    return gbm_weight, choices, preds


def tune_trust(cfg: FinetuneConfig, ts: TrainingSet, fr: FoldResults, preds: dict[str, np.ndarray]
               ) -> tuple[TrustParams, dict[str, np.ndarray]]:
    """How far the as-shot-aware member may pull the head (finetune.trust.choose_trust on the validation
    photos), and `preds` with the as-shot-aware member's row and, when trusted, the head with the pull
    (the image members alone kept as their own row): a new dict, in the same order."""
    v = fr.val_rows
    if not len(v) or not np.isfinite(fr.oof_aware[v]).all():
        return TrustParams.off(len(ts.specs)), preds
    params = choose_trust(preds["head"][v], fr.oof_aware[v], ts.units[v], cfg.asshot_trust_gain, ts.groups[v],
                          ts.fold_of[v])
    out = {**preds, "as-shot-aware member": fr.oof_aware}
    if params.active:
        head = preds["head"].copy()
        head[v] = apply_trust(head[v], fr.oof_aware[v], params)
        out = {**out, "head: image members only": preds["head"], "head": head}  # "head" keeps its place
    return params, out


@dataclass
class Consistency:
    """Step 4, retrieval: blending, batch smoothing, scenes and added edits, each chosen on validation
    (strength 0 when not significant); the figures of the variants tried."""
    blend: Any = None           # retrieval.blend.BlendParams
    smooth: Any = None          # retrieval.blend.SmoothParams
    scene: Any = None           # retrieval.scenes.SceneParams
    edit: Any = None            # retrieval.edits.EditBlendParams
    reports: dict[str, Any] = field(default_factory=dict)
    variants: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (N, T) out-of-fold head units

    def notes(self) -> list[str]:
        said = [(self.blend, "blend", "neighbour blending strength is 0"),
                (self.smooth, "smooth", "batch smoothing strength is 0"),
                (self.scene, "scene", "scene consistency strength is 0"),
                (self.edit, "edit_blend", "added-edits strength is 0")]
        return [f"{text}: {self.reports.get(key, {}).get('chosen', {}).get('why', 'not fitted')}"
                for params, key, text in said if params is not None and params.strength == 0]


def fit_consistency(ts: TrainingSet, fr: FoldResults, head: np.ndarray) -> Consistency:
    """Blend, smooth, scene and added-edit parameters on the validation photos (head: (N, T) out-of-fold)."""
    if ts.edits_mt is None:
        return Consistency()
    from retrieval.edits import fit_edit_blend
    from retrieval.scenes import capture_seconds, fit_scene

    v, edits, asshot = fr.val_rows, ts.edits_mt, ts.asshot_mt
    folds, shoots = ts.fold_of[v], ts.groups[v]  # what core.metrics.select judges each knob over
    head_mt = _mired_tint(head, ts.specs)[v]
    c = Consistency()
    # Absolute mode only: the "shift" mode carries a neighbour's edit - as-shot onto the query's as-shot,
    # which would bring the camera's guess back into the prediction.
    c.blend, c.reports["blend"] = blend.fit_blend(head_mt, asshot[v], edits[v], fr.nb_sims[v], fr.nb_idx[v], edits,
                                                  asshot, modes=("absolute",), folds=folds, shoots=shoots)
    for mode, m in c.reports["blend"].get("modes", {}).items():
        p = blend.BlendParams(**{kk: m[kk] for kk in ("mode", "strength", "tau", "min_sim")})
        mt = blend.apply_blend(head_mt, asshot[v], fr.nb_sims[v], fr.nb_idx[v], edits, asshot, p)
        c.variants[f"head + blend ({mode}, s={p.strength:g})"] = _with_val(head, v, mt, ts.specs)
    blended = blend.apply_blend(head_mt, asshot[v], fr.nb_sims[v], fr.nb_idx[v], edits, asshot, c.blend)
    c.smooth, c.reports["smooth"] = blend.fit_smooth(blended, fr.vectors[v], edits[v], index=None, folds=folds,
                                                     shoots=shoots)
    smoothed = blend.smooth_batch(blended, fr.vectors[v], c.smooth, index=None)
    c.variants["final (head + chosen blend + smooth)"] = _with_val(head, v, smoothed, ts.specs)
    # scenes among the photos predicted together, and a few edits of a new shoot (add-edits), revealed
    # inside each held-out fold's shoots
    val_table = ts.table.iloc[v]
    c.scene, c.reports["scene"] = fit_scene(smoothed, edits[v], fr.vectors[v], val_table, folds=folds, shoots=shoots)
    c.edit, c.reports["edit_blend"] = fit_edit_blend(head_mt, edits[v], fr.vectors[v], capture_seconds(val_table),
                                                     np.array([str(s) for s in ts.shoots])[v], folds=folds)
    return c


def _with_val(head: np.ndarray, rows: np.ndarray, mt: np.ndarray, specs: list[TargetSpec]) -> np.ndarray:
    """`head` (N, T) with its validation rows' (mired, tint) replaced by `mt`."""
    out = head.copy()
    out[rows] = _units_from_mired_tint(head[rows], mt, specs)
    return out


def refit(cfg: FinetuneConfig, ts: TrainingSet, fr: FoldResults, gbm_weight: np.ndarray, trust: TrustParams,
          device: torch.device) -> tuple[Any, DeployedEncoder, FeatureCache, NeighborIndex | None]:
    """Step 5: the saved model trained on every labelled photo (trained alongside the folds: fr.full; or the
    last fold's, with --no-refit and one split), built whole with the validated member weights and trust,
    and the neighbour index of the training photos."""
    pulled = np.asarray(trust.weight) > 0  # the targets the as-shot-aware member may pull
    if fr.full is not None:
        final, final_enc, final_cache = fr.full.model, fr.full.encoder or ts.encoder, fr.full.cache or ts.cache
    elif len(ts.splits) > 1:  # --no-refit with folds: the first fold's training photos
        final, final_enc, final_cache = fit_model(cfg, ts, ts.splits[0][0], cfg.seed, device, "model",
                                                  ts.shot_stats if trust.active else None, pulled)
    else:
        final, final_enc, final_cache = fr.last
    aware = None  # an untrusted as-shot-aware member is never consulted, nor saved
    if trust.active:  # fr.full's member was fitted for every target: refitted when trust pulls only some
        aware = refit_aware(ts, final, pulled, cfg.seed) if fr.full is not None and not pulled.all() else final.aware
    final = final.with_members(gbm_weight=gbm_weight if final.gbm is not None else None, trust=trust,
                               aware=aware)
    index = None
    if ts.edits_mt is not None:
        index = NeighborIndex.build(final_cache.emb[:ts.n], ts.ids, ts.edits_mt, ts.asshot_mt, ts.shoots)
    return final, final_enc, final_cache, index


def refit_aware(ts: TrainingSet, model: Any, aware_targets: np.ndarray, seed: int) -> Any:
    """The as-shot-aware member on every original photo for the targets trust lets it pull only."""
    originals = np.flatnonzero(ts.plan["copy"].to_numpy() == 0)
    meta, cam = model.meta_encoder.transform(ts.table_all.iloc[originals], ts.cat.exif_units)
    return fit_aware_member(ts, originals, meta, cam, ts.cache.colour[originals], ts.shot_stats, aware_targets, seed)


def save_outputs(cfg: FinetuneConfig, ts: TrainingSet, final: Any, final_enc: DeployedEncoder, index: NeighborIndex | None,
                 c: Consistency, report: dict[str, Any], preds: dict[str, np.ndarray]) -> None:
    """The model folder (finetune.store: data only, staged and committed at once, so a run killed
    before this leaves the previous model), finetune_report.json and validation_predictions.csv."""
    out = Path(cfg.out)
    head = {"format": HEAD_FORMAT, **final.state_dict(), "image_size": ts.encoder.image_size,
            "colour_feature_names": list(IMAGE_FEATURE_NAMES),
            "blend": c.blend.to_dict() if c.blend else None, "blend_k": max(1, cfg.blend_k),
            "smooth": c.smooth.to_dict() if c.smooth else None,
            "scene": c.scene.to_dict() if c.scene else None,
            "edit_blend": c.edit.to_dict() if c.edit else None,
            # what cross-fitting measured for each knob, so commands can say it (add-edits: the gain after k edits)
            "knobs": report["knobs"],
            "edit_blend_gain": {t: c.reports.get("edit_blend", {}).get(f"gain_{t}_by_k", {}) for t in ("mired", "tint")},
            "provenance": provenance(cfg), "validation": report["validation"]["results"]}
    # Only inference weights travel with the model (float16, no optimiser / projection head: those stay
    # in the pretrain folder for --resume); the pretraining provenance comes along.
    save_model(out, final_enc.torch, {"provenance": provenance(cfg), "source": ts.enc_info["source"],
                                      "pretrain": ts.enc_info["pretrain"], "fine_tuned": cfg.train_encoder,
                                      "graph": "int8" if final_enc.graph is not None else "float32"},
               head, index, provenance(cfg), graph=final_enc.graph)
    write_json(out / "finetune_report.json", report)
    # Every system's validation predictions, per photo (CSV units), for error analysis and plots.
    fold_of = ts.fold_of
    val_csv = pd.DataFrame({"id_global": ts.table["id_global"].astype(str), "fold": fold_of,
                            "shoot": ts.groups.astype(str)})
    for spec in ts.specs:
        val_csv[spec.name] = ts.table[spec.name].to_numpy()
    for name, system_units in preds.items():
        csv_units = to_csv_units(system_units, ts.specs)
        for j, spec in enumerate(ts.specs):
            val_csv[f"{name} | {spec.name}"] = np.where(fold_of >= 0, csv_units[:, j], np.nan)
    val_csv.to_csv(out / "validation_predictions.csv", index=False)


@writes_folder("out", "finetune")
def run_finetune(cfg: FinetuneConfig) -> dict[str, Any]:
    """Steps 1-5 of the module docstring; returns the report (also OUT/finetune_report.json). Holds
    OUT's write lock throughout (core.locks: another run writing OUT waits, or this one does)."""
    t_start = time.time()
    set_threads(cfg.threads)
    seed_everything(cfg.seed)
    device = pick_device(cfg.device)
    if cfg.train_encoder not in ("none", "last", "all"):
        raise CatalogError(f"train_encoder must be 'none', 'last' or 'all', got {cfg.train_encoder!r}")
    Path(cfg.out).mkdir(parents=True, exist_ok=True)
    ts = load_training_set(cfg, parse_targets(cfg.targets), device)
    fr = cross_validate(cfg, ts, device)
    gbm_weight, gbm_choices, preds = tune_mixing(cfg, ts, fr)
    trust, preds = tune_trust(cfg, ts, fr, preds)
    c = fit_consistency(ts, fr, preds["head"])
    if "final (head + chosen blend + smooth)" in c.variants:
        preds["final"] = c.variants["final (head + chosen blend + smooth)"]
    results = {name: figures(ts.table, ts.specs, p, fr.val_rows) for name, p in preds.items() if name != "final"}
    results |= {name: figures(ts.table, ts.specs, p, fr.val_rows) for name, p in c.variants.items()}
    # ΔE00 beside the MAE of the rows a user compares (each costs a render of every photo at its prediction)
    every = {**preds, **c.variants}
    results = {name: {**r, **(delta_e_figures(ts.table, ts.specs, ts.images, every[name], fr.val_rows)
                              if name in DELTA_E_ROWS else {})} for name, r in results.items()}
    what = ts.scheme if len(ts.splits) > 1 else f"{ts.scheme}, {len(fr.val_rows)}/{ts.n} photos"
    print_table(results, f"Validation ({what}, grouped by shoot: {len(set(ts.groups))} groups)")
    knobs = knob_rows(ts.specs, gbm_weight, gbm_choices, trust, c)
    print_knobs(knobs, what)
    notes = c.notes()
    t0 = time.time()
    final, final_enc, _, index = refit(cfg, ts, fr, gbm_weight, trust, device)
    report = {
        "provenance": provenance(cfg), "encoder": ts.enc_info, "n_photos": ts.n, "n_groups": len(set(ts.groups)),
        "exif_units": ts.cat.exif_units, "targets": [s.to_dict() for s in final.specs],
        "validation": {"scheme": what, "splits": [{"train": len(tr), "val": len(va)} for tr, va in ts.splits],
                       "results": results, "notes": notes},
        "gbm_weight": {s.name: float(w) for s, w in zip(ts.specs, gbm_weight)},
        "knobs": knobs,
        "asshot_trust": trust.to_dict(),
        **{key: {"params": p.to_dict() if p else None, "report": c.reports.get(key, {})}
           for key, p in (("blend", c.blend), ("smooth", c.smooth), ("scene", c.scene), ("edit_blend", c.edit))},
        "timings_s": {"cache": ts.seconds_cache, "validation": fr.seconds, "refit": time.time() - t0,
                      "total": time.time() - t_start},
    }
    save_outputs(cfg, ts, final, final_enc, index, c, report, preds)
    return {"results": results, "report_path": str(Path(cfg.out) / "finetune_report.json"),
            "model_dir": str(cfg.out), **report}
