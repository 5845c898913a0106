"""Stage 1: SimCLR pretraining of the compact encoder on the user's own photos.

Reads top to bottom: options -> images -> held-out slice -> model, loss, optimiser -> training loop
(two white-balance-preserving views per photo, NT-Xent loss) -> measured embedding quality ->
checkpoint, report, curve.

Why self-supervised first: a catalog has a few thousand labelled photos at most, too few to train
an image encoder from scratch against two numbers. Contrastive learning on *all* the photos
(Validation images too — labels are never used here) gives an embedding in which two views of one
scene are close. Because every augmentation keeps pixel colours (see pretrain/augment.py), the colour
cast is the one thing the views always share, so the embedding keeps it instead of discarding it.

Quality is measured, not assumed (`evaluate_embeddings`): on held-out photos, is a photo's own
second view its nearest neighbour, compared with a mean-colour embedding and with the untrained
encoder; and where labels exist, do nearest neighbours share white-balance edits more than random
pairs do.

Multi-GPU: launched with `torchrun --nproc_per_node=K`, each process takes 1/K of every batch,
gradients are averaged by DistributedDataParallel and NT-Xent gathers negatives from all processes.
Only rank 0 prints and writes. A plain `python` run never touches torch.distributed.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from torch import nn

from core.locks import writes_folder
from pretrain.options import PretrainConfig
from core.schedule import warmup_cosine
from core.splits import grouped_holdout
from core.vectors import standardise
from core.canonical import to_reference
from core.errors import CatalogError
from core.artifacts import write_json
from core.progress import progress_bar
from core.runtime import memory_format_for, pick_device, provenance, seed_everything, set_threads, use_bf16
from core.wb import kelvin_to_mired
from pretrain.augment import WBViewAugment
from pretrain.encoder import ENCODER_FILE, Encoder, embed, load_checkpoint, save_checkpoint, save_encoder, to_tensor

STATE_FILE = "pretrain_state.pt"  # everything --resume needs (torch, weights_only); encoder.safetensors is the encoder alone


# ---------------------------------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------------
# Images: every photo of every split, labels read only for measuring
# ---------------------------------------------------------------------------------------------------
def load_pretrain_images(cfg: PretrainConfig) -> tuple[np.ndarray, dict[str, Any]]:
    """All photos of the catalog as one uint8 (N,S,S,3) array, plus per-photo info for evaluation.

    Train is required; Validation is used when present (its labels, if any, are ignored). A single
    catalog folder (layout C) is read as it is.
    """
    from catalog.reader import list_splits, load_catalog  # imported here: the reader pulls pandas & co.

    root = Path(cfg.data)
    catalogs = [load_catalog(root, "Train", image_size=cfg.load_size, labels="ignore", workers=cfg.workers,
                             progress=cfg.progress, on_error="collect")]
    if "Validation" in list_splits(root):  # optional; when present, its problems are reported, not skipped
        catalogs.append(load_catalog(root, "Validation", image_size=cfg.load_size, labels="ignore",
                                     workers=cfg.workers, progress=cfg.progress, on_error="collect"))
    images, mired, tint, shoot, split, failed = [], [], [], [], [], 0
    for cat in catalogs:
        keep = np.ones(len(cat.table), bool)
        keep[list(cat.image_failures)] = False  # a broken photo costs one sample, not the run (reader warns)
        failed += int((~keep).sum())
        t = cat.table[keep]
        images.append(to_reference(cat.images[keep], t["currTemp"], t["currTint"]))  # canonical render (issue #12)
        n = int(keep.sum())
        if "Temperature" in t and "Tint" in t and cat.split != "Validation":
            kelvin = pd.to_numeric(t["Temperature"], errors="coerce").to_numpy(np.float64)
            mired.append(np.where(kelvin > 0, kelvin_to_mired(np.where(kelvin > 0, kelvin, 1.0)), np.nan))
            tint.append(pd.to_numeric(t["Tint"], errors="coerce").to_numpy(np.float64))
        else:
            mired.append(np.full(n, np.nan))
            tint.append(np.full(n, np.nan))
        shoot += list(t["shoot"]) if "shoot" in t else [None] * n
        split += [cat.split] * n
    images = np.concatenate(images)
    if len(images) < 2:
        raise CatalogError(f"{root}: pretraining needs at least 2 readable photos, found {len(images)}")
    info = {"mired": np.concatenate(mired), "tint": np.concatenate(tint), "shoot": shoot,
            "split": np.array(split), "failed": failed}
    return images, info


def holdout_split(shoots: list, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of held-out photos: whole shoots go out together (near-duplicate bursts on both
    sides would make retrieval look easy), chosen by core.splits.grouped_holdout; photos without a
    shoot are their own group. None when the fraction is 0 or the catalog too small to split (the
    embedding is then measured on the training photos)."""
    n = len(shoots)
    groups = np.array([f"shoot:{s}" if s is not None and s == s else f"row:{i}" for i, s in enumerate(shoots)], object)
    mask = np.zeros(n, bool)
    if fraction <= 0 or len(set(groups)) < 2:
        return mask
    mask[grouped_holdout(groups, fraction, seed)[1]] = True
    if mask.sum() < 2 or (~mask).sum() < 2:
        return np.zeros(n, bool)
    return mask


# ---------------------------------------------------------------------------------------------------
# Measuring the embedding
# ---------------------------------------------------------------------------------------------------
def _nearest(query: np.ndarray, base: np.ndarray, exclude_self: bool = False) -> np.ndarray:
    """Index of each query's nearest base row by cosine after standardising with the base's
    mean/std (as retrieval/index.py does), so every dimension counts, not just the largest."""
    mu, sd = base.mean(0), base.std(0) + 1e-8
    q = standardise(query, mu, sd, dtype=np.float64)
    b = standardise(base, mu, sd, dtype=np.float64)
    sim = q @ b.T
    if exclude_self:
        np.fill_diagonal(sim, -np.inf)
    return sim.argmax(1)


def _mean_colour(x: torch.Tensor) -> np.ndarray:
    return x.mean((2, 3)).double().cpu().numpy()


@torch.no_grad()
def evaluate_embeddings(encoder: Encoder, images_uint8: np.ndarray, labels_mired_tint: np.ndarray | None = None,
                        seed: int = 0, augment: WBViewAugment | None = None, batch_size: int = 256,
                        device: torch.device | str = "cpu") -> dict[str, float]:
    """Embedding quality on `images_uint8` (N,S,S,3), for the encoder and a mean-colour baseline.

    view_top1: fraction of photos whose own second augmented view is the nearest (cosine) of all second
    views to their first view (chance = 1/N). With labels (N,2) in (mired, tint), NaN rows skipped:
    mean |delta mired| / |delta tint| between each photo and its nearest other photo (clean images),
    and the same for random pairs — lower than random means neighbours share edits.
    """
    was_training = encoder.training
    encoder.eval().to(device)
    aug = augment or WBViewAugment(encoder.image_size)
    g = torch.Generator().manual_seed(seed)
    e1, e2, c1, c2 = [], [], [], []
    for i in range(0, len(images_uint8), batch_size):
        x = to_tensor(images_uint8[i:i + batch_size]).to(device)
        v1, v2 = aug(x, g), aug(x, g)
        e1.append(encoder(v1).double().cpu().numpy())
        e2.append(encoder(v2).double().cpu().numpy())
        c1.append(_mean_colour(v1))
        c2.append(_mean_colour(v2))
    n = len(images_uint8)
    target = np.arange(n)
    out: dict[str, float] = {
        "n": n, "chance_top1": 1.0 / n,
        "view_top1": float((_nearest(np.concatenate(e1), np.concatenate(e2)) == target).mean()),
        "view_top1_mean_colour": float((_nearest(np.concatenate(c1), np.concatenate(c2)) == target).mean()),
    }
    if labels_mired_tint is not None:
        lab = np.asarray(labels_mired_tint, np.float64)
        ok = np.isfinite(lab).all(1)
        if ok.sum() >= 3:
            lab, imgs = lab[ok], images_uint8[ok]
            emb = embed(encoder, imgs, batch_size, device).astype(np.float64)
            col = _mean_colour(to_tensor(imgs))
            rng = np.random.default_rng(seed)
            m = len(lab)
            rand = (np.arange(m)[:, None] + rng.integers(1, m, size=(m, 20))) % m  # 20 random others each
            d_rand = np.abs(lab[:, None, :] - lab[rand]).mean((0, 1))
            d_enc = np.abs(lab - lab[_nearest(emb, emb, exclude_self=True)]).mean(0)
            d_col = np.abs(lab - lab[_nearest(col, col, exclude_self=True)]).mean(0)
            out.update({"n_labelled": int(m),
                        "nn_dmired": float(d_enc[0]), "nn_dtint": float(d_enc[1]),
                        "nn_dmired_mean_colour": float(d_col[0]), "nn_dtint_mean_colour": float(d_col[1]),
                        "random_dmired": float(d_rand[0]), "random_dtint": float(d_rand[1])})
    encoder.train(was_training)
    return out


# ---------------------------------------------------------------------------------------------------
# Model pieces
# ---------------------------------------------------------------------------------------------------
class SimCLR(nn.Module):
    """Encoder + projection head; the loss sees the projection, later stages the encoder output."""

    def __init__(self, encoder: Encoder, proj_dim: int):
        super().__init__()
        self.encoder = encoder
        # lightly pulls in torchvision (seconds to import): only the training stage pays for it
        from lightly.models.modules import SimCLRProjectionHead

        self.head = SimCLRProjectionHead(input_dim=encoder.dim, hidden_dim=encoder.dim, output_dim=proj_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


def _plot_curve(history: list[dict], initial: dict | None, baseline: float | None, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ep = [h["epoch"] for h in history]
    ax.plot(ep, [h["loss"] for h in history], "o-", color="tab:blue", label="NT-Xent loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss", color="tab:blue")
    ev = ([{"epoch": 0, **initial}] if initial else []) + [h for h in history if "view_top1" in h]
    if ev:
        ax2 = ax.twinx()
        ax2.plot([h["epoch"] for h in ev], [h["view_top1"] for h in ev], "s-", color="tab:orange",
                 label="held-out view top-1")
        if baseline is not None:
            ax2.axhline(baseline, color="tab:orange", ls="--", lw=1, label="mean-colour baseline")
        ax2.set_ylabel("view retrieval top-1", color="tab:orange")
        ax2.set_ylim(0, 1)
        ax2.legend(loc="center right", fontsize=8)
    ax.set_title("SimCLR pretraining")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _print_table(initial: dict, final: dict, where: str) -> None:
    from rich.console import Console
    from rich.table import Table

    tab = Table(title=f"Embedding quality on {final['n']} {where} photos")
    for col in ("metric", "trained", "untrained", "mean colour", "chance/random"):
        tab.add_column(col, justify="right" if col != "metric" else "left")
    tab.add_row("view top-1", f"{final['view_top1']:.3f}", f"{initial['view_top1']:.3f}",
                f"{final['view_top1_mean_colour']:.3f}", f"{final['chance_top1']:.3f}")
    if "nn_dmired" in final:
        for k, name in (("dmired", "NN |Δmired|"), ("dtint", "NN |Δtint|")):
            tab.add_row(name, f"{final['nn_' + k]:.1f}", f"{initial['nn_' + k]:.1f}",
                        f"{final['nn_' + k + '_mean_colour']:.1f}", f"{final['random_' + k]:.1f}")
    Console().print(tab)


# ---------------------------------------------------------------------------------------------------
# The stage
# ---------------------------------------------------------------------------------------------------
@dataclass
class Processes:
    """One process, or one per GPU under torchrun (WORLD_SIZE/RANK/LOCAL_RANK from the launcher)."""
    world: int
    rank: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def start_processes(cfg: PretrainConfig) -> Processes:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = pick_device(cfg.device)
    if world > 1:
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Processes(world, rank, device)


@dataclass
class PretrainData:
    """The photos, decoded once: training images on the device, the held-out ones for measuring."""
    images: torch.Tensor       # (N_train, 3, S, S) uint8 on the device; a step only indexes it
    eval_images: np.ndarray    # (N_eval, S, S, 3) uint8: held-out shoots (or the training photos)
    eval_labels: np.ndarray    # (N_eval, 2) edit mired / tint where known (NaN otherwise)
    counts: dict[str, Any]     # photos: total, train, holdout, ... (the report's n_images)
    held_out: bool             # whether eval_images are held-out shoots


def load_data(cfg: PretrainConfig, procs: Processes) -> PretrainData:
    images_np, info = load_pretrain_images(cfg if procs.main else _quiet(cfg))
    hold = holdout_split(info["shoot"], cfg.holdout_fraction, cfg.seed)
    train_idx = np.flatnonzero(~hold)
    eval_idx = np.flatnonzero(hold) if hold.any() else train_idx
    images = torch.from_numpy(images_np[train_idx]).permute(0, 3, 1, 2).contiguous().to(procs.device)
    counts = {"total": len(images_np), "train": int(len(train_idx)), "holdout": int(hold.sum()),
              "validation_split": int((info["split"] == "Validation").sum()), "failed": info["failed"],
              "evaluated_on": "holdout" if hold.any() else "train"}
    # the decoded copy goes with this frame: peak memory is a target (2 GB)
    return PretrainData(images, images_np[eval_idx], np.stack([info["mired"], info["tint"]], 1)[eval_idx], counts,
                        bool(hold.any()))


@dataclass
class Training:
    """Model, loss, optimiser and schedule of one run, and where it stands (epoch, history)."""
    encoder: Encoder
    model: nn.Module           # SimCLR(encoder, projection head), channels-last
    net: nn.Module             # model, wrapped in DistributedDataParallel when there are several processes
    criterion: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    batch: int                 # photos per step, all processes together
    steps_per_epoch: int
    history: list[dict[str, Any]] = field(default_factory=list)
    start_epoch: int = 0
    initial_eval: dict[str, float] | None = None


def build_training(cfg: PretrainConfig, procs: Processes, n_train: int, layout: torch.memory_format,
                   resume_from: Path | None = None) -> Training:
    """Model, loss, optimiser and schedule of a run; with `resume_from` (OUT/pretrain_state.pt,
    --resume) they continue from it: weights, projection head, optimiser, schedule, history."""
    batch = min(cfg.batch_size, n_train)
    steps_per_epoch = max(1, n_train // batch)  # drop the ragged tail: a tiny last batch has few negatives
    if batch // procs.world < 2:
        raise ValueError(f"batch_size {cfg.batch_size} gives {batch // procs.world} photos per process; need >= 2")
    seed_everything(cfg.seed)
    encoder = Encoder(width=cfg.width, image_size=cfg.image_size)
    model = SimCLR(encoder, cfg.proj_dim).to(procs.device, memory_format=layout)
    from lightly.loss import NTXentLoss

    criterion = NTXentLoss(temperature=cfg.temperature, gather_distributed=procs.world > 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    total_steps = cfg.epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine(total_steps, max(1, round(cfg.warmup_epochs * steps_per_epoch))))
    net = nn.parallel.DistributedDataParallel(
        model, device_ids=[procs.device.index] if procs.device.type == "cuda" else None) if procs.world > 1 else model
    if resume_from is None:
        return Training(encoder, model, net, criterion, optimizer, scheduler, batch, steps_per_epoch)
    blob = load_checkpoint(resume_from, map_location=procs.device)
    if blob["arch"] != encoder.config():
        raise ValueError(f"{resume_from}: checkpoint architecture {blob['arch']} differs from the options "
                         f"{encoder.config()}; resume with the same width/image_size")
    encoder.load_state_dict(blob["state_dict"])
    model.head.load_state_dict(blob["projection_head"])
    optimizer.load_state_dict(blob["optimizer"])
    scheduler.load_state_dict(blob["scheduler"])
    return Training(encoder, model, net, criterion, optimizer, scheduler, batch, steps_per_epoch,
                    blob["history"], blob["epoch"], blob.get("initial_eval"))


def train_epoch(cfg: PretrainConfig, t: Training, images: torch.Tensor, epoch: int, procs: Processes,
                augment: WBViewAugment, layout: torch.memory_format, bf16: bool, bar, task) -> dict[str, Any]:
    """One pass over the training photos; returns the epoch's history row (loss, seconds, images/s, lr)."""
    # one generator per (seed, epoch, rank): the batches and views of an epoch do not depend on
    # whether the run was resumed, so a resumed run repeats an uninterrupted one exactly
    n_train, device = len(images), procs.device
    g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
    perm = torch.randperm(n_train, generator=g)
    g_aug = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch + 7919 * (procs.rank + 1))
    t.net.train()
    t0, loss_sum = time.time(), 0.0
    for s in range(t.steps_per_epoch):
        idx = perm[s * t.batch:(s + 1) * t.batch][procs.rank::procs.world][:t.batch // procs.world].to(device)
        x = images[idx].float().div_(255.0)
        views = torch.cat([augment(x, g_aug), augment(x, g_aug)]).contiguous(memory_format=layout)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            z0, z1 = t.net(views).float().chunk(2)
        loss = t.criterion(z0, z1)
        t.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        t.optimizer.step()
        t.scheduler.step()
        loss_sum += loss.item()
        ips = (s + 1) * t.batch / (time.time() - t0)
        bar.update(task, advance=1,
                   description=f"pretrain: epoch {epoch + 1}/{cfg.epochs}  loss {loss.item():.3f}  {ips:.0f} img/s")
    seconds = time.time() - t0
    return {"epoch": epoch + 1, "loss": loss_sum / t.steps_per_epoch, "seconds": seconds,
            "images_per_s": t.steps_per_epoch * t.batch / seconds, "lr": t.optimizer.param_groups[0]["lr"]}


def _main_process(cfg: PretrainConfig) -> bool:
    """The process that writes OUT (rank 0; the others of a multi-process run never write it)."""
    return int(os.environ.get("RANK", "0")) == 0


@writes_folder("out", "pretrain", when=_main_process)
def run_pretrain(cfg: PretrainConfig) -> Path:
    """Train the encoder on every photo of `cfg.data`; returns the path of OUT/encoder.safetensors.

    Phases: processes -> data -> model/optimiser (or --resume) -> epochs (measure every eval_every,
    save every epoch) -> final measurement, report and curve. Why these choices: module docstring.
    Over 60 lines on purpose: these phases read top to bottom, and its closures share the run's state."""
    t_start = time.time()
    set_threads(cfg.threads)
    procs = start_processes(cfg)
    bf16 = use_bf16(cfg.precision, procs.device)
    out = Path(cfg.out)
    ckpt_path = out / ENCODER_FILE
    # The resume state (float32 weights, optimiser, projection head, schedule) lives in its own file:
    # encoder.safetensors is what finetune reads, and finetune may write its compact copy over it (same folder).
    state_path = out / STATE_FILE
    if cfg.resume and not state_path.exists():
        raise FileNotFoundError(f"{state_path}: --resume given but there is no checkpoint to continue from")
    data = load_data(cfg, procs)
    layout = memory_format_for(procs.device)  # channels-last on every ISA, measured (core.runtime)
    t = build_training(cfg, procs, len(data.images), layout, state_path if cfg.resume else None)
    aug_params = dict(crop_scale=(cfg.crop_min, 1.0), zoom_out=(cfg.zoom_out_min, 1.0),
                      p_zoom_out=cfg.p_zoom_out, p_paste=cfg.p_paste)
    augment = WBViewAugment(cfg.image_size, **aug_params)

    def measure() -> dict[str, float]:
        return evaluate_embeddings(t.encoder, data.eval_images, data.eval_labels, seed=cfg.seed + 1,
                                   augment=WBViewAugment(cfg.image_size, **aug_params),
                                   batch_size=cfg.batch_size, device=procs.device)

    if t.initial_eval is None and procs.main:
        t.initial_eval = measure()  # the untrained encoder: what training has to beat
    hardware = {"device": str(procs.device), "bf16_autocast": bf16, "threads": torch.get_num_threads(),
                "processes": procs.world}

    def save(epoch: int, final: dict | None = None) -> None:
        extra = {**provenance(cfg), "history": t.history, "epoch": epoch, "n_images": data.counts,
                 "initial_eval": t.initial_eval, "final_eval": final, "hardware": hardware}
        save_encoder(ckpt_path, t.encoder, extra=extra)
        save_checkpoint(state_path, {**extra, "state_dict": t.encoder.state_dict(), "arch": t.encoder.config(),
                                     "optimizer": t.optimizer.state_dict(),
                                     "projection_head": t.model.head.state_dict(),
                                     "scheduler": t.scheduler.state_dict()})

    final: dict[str, float] | None = None
    with progress_bar(cfg.progress and procs.main) as bar:  # the epoch, loss and speed ride in the description
        task = bar.add_task("pretrain", total=cfg.epochs * t.steps_per_epoch,
                            completed=t.start_epoch * t.steps_per_epoch)
        for epoch in range(t.start_epoch, cfg.epochs):
            row = train_epoch(cfg, t, data.images, epoch, procs, augment, layout, bf16, bar, task)
            if procs.main and (epoch + 1 == cfg.epochs or (cfg.eval_every and (epoch + 1) % cfg.eval_every == 0)):
                final = measure()
                row.update(final)
            t.history.append(row)
            if procs.main:
                save(epoch + 1)  # every epoch: an interrupted run can --resume
    if procs.main:
        final = final if final is not None else measure()  # resumed a finished run: measure what there is
        save(max(t.start_epoch, cfg.epochs), final)
        _report(cfg, t, data, hardware, final, time.time() - t_start, out)
    if procs.world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return ckpt_path


def _report(cfg: PretrainConfig, t: Training, data: PretrainData, hardware: dict[str, Any],
            final: dict[str, float], seconds: float, out: Path) -> None:
    """OUT/pretrain_report.json, OUT/pretrain_curve.png and the table."""
    h = t.history
    report = {**provenance(cfg), "n_images": data.counts, "hardware": hardware, "epochs_trained": len(h),
              "seconds_total": seconds,
              "seconds_per_epoch": float(np.mean([r["seconds"] for r in h])) if h else None,
              "images_per_s": float(np.mean([r["images_per_s"] for r in h])) if h else None,
              "initial_eval": t.initial_eval, "final_eval": final, "history": h}
    write_json(out / "pretrain_report.json", report)
    _plot_curve(h, t.initial_eval, final.get("view_top1_mean_colour"), out / "pretrain_curve.png")
    if cfg.progress:
        _print_table(t.initial_eval, final, "held-out" if data.held_out else "training")


def _quiet(cfg: PretrainConfig) -> PretrainConfig:
    """Same options without progress output (ranks other than 0)."""
    from dataclasses import replace
    return replace(cfg, progress=False)
