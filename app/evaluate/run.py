"""Evaluate a white-balance model: how close it gets to the photographer's edits, and how consistent
it is on photos of one scene.

    python cli.py evaluate --data ROOT --model artifacts/run1                         # a labelled split
    python cli.py evaluate --data BENCH --answers BENCH/answers.csv --model artifacts/run1
    python cli.py evaluate --answers BENCH/answers.csv --pred predictions.csv          # score a CSV only

Reads top to bottom: options -> labels (a labelled split, or an answers CSV) -> predictions (the
model's head alone and with neighbour blending, or a predictions CSV; as-shot as the reference) ->
accuracy (overall, per camera, per temperature band, by as-shot temperature, flash / no flash) ->
rendered colour difference (ΔE00 per photo: its render at the prediction against its render at the
edit, catalog.delta_e; per shoot, camera and flash slice; OUT/delta_e.csv) -> consistency -> table,
OUT/evaluation.json, plots.

Why ΔE00 next to MAE: Kelvin and tint errors are not equally visible (300 K is a cast at 3,000 K and
next to nothing at 8,000 K); the colour difference of the two renders is what the photographer sees.

Why consistency figures next to MAE: MAE rewards a model that is right *on average*, yet two crops
of one scene with different edits is the first thing a photographer notices. Three probes:
  (a) variant spread: each photo and WB-preserving variants of it (crop, zoom out, flip, pasted
      object: pretrain.augment.WBViewAugment; as-shot metadata unchanged). The light did not
      change, so the edit should not: per-photo sd of predicted mired/tint, averaged.
  (b) as-shot bracket spread: the same capture re-rendered at as-shot temperatures 2,500–12,000 K
      (even steps in mired, tint unchanged; core.wb) with currTemp to match — as if the camera's
      auto-WB had guessed differently. The scene and so the edit are the same; a model that merely
      offsets the as-shot value has the bracket's own spread (reported as the as-shot reference).
  (c) shoot spread: sd of predictions within each shoot next to the labels' own sd — a model
      should be about as steady as the photographer, not noisier (and not flatter either).
(a) and (b) run on a seeded subsample (<= max_photos) so evaluation stays fast on a laptop.
`consistency_metrics` is public: benchmarks/run.py applies it to every system it compares, through
the one hook they share, `predictor.predict(catalog, blend=..., progress=...) -> DataFrame`.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from app.options import EvaluateConfig
from core.canonical import to_reference
from catalog.delta_e import grouped_summary, render_delta_e_many, summary as de_summary
from core.errors import CatalogError
from lightroom.raw import is_raw, raw_delta_e
from core.slices import camera_slice, flash_slice
from catalog.answers import read_wb_csv
from catalog.reader import TARGETS, load_catalog, resolve_split
from core.runtime import provenance, seed_everything, write_json
from core.wb import kelvin_to_mired, mired_to_kelvin, rerender_matrix, rerender_torch
from core.metrics import wb_metrics
from finetune.predict import WBModel
from retrieval.scenes import scene_spread
from core.splits import shoot_groups

WORST_SHOOTS = 5  # shoots listed in the printed ΔE00 table (evaluation.json holds every shoot)
TEMP_BANDS = (("<3500 K", 0.0, 3500.0), ("3500-5500 K", 3500.0, 5500.0), (">5500 K", 5500.0, np.inf))
ASSHOT_BINS_K = (2000, 3000, 3500, 4000, 4500, 5000, 5500, 6500, 8000, 12000, 50000)
BRACKET_K = (2500.0, 12000.0)
DELTA_E_LOAD_SIZE = 96  # without a model: images read at the models' default input size (catalog.delta_e)


# ---------------------------------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------------
# Predictors: anything with predict(catalog, blend=, progress=) -> DataFrame[id_global, Temperature, Tint]
# ---------------------------------------------------------------------------------------------------
def has_index(predictor: Any) -> bool:
    """Whether the predictor can blend with neighbours (a WBModel with its FAISS index loaded)."""
    return getattr(predictor, "index", None) is not None


def _predict(predictor: Any, catalog, blend: bool) -> pd.DataFrame:
    return predictor.predict(catalog, blend=blend, progress=False)


def subset_catalog(catalog, rows: np.ndarray):
    """In-memory Catalog of the given rows (table re-indexed, images sliced)."""
    rows = np.asarray(rows, np.int64)
    return dataclasses.replace(catalog, table=catalog.table.iloc[rows].reset_index(drop=True),
                               images=catalog.images[rows], image_paths=[catalog.image_paths[i] for i in rows],
                               image_failures={})


def _stack(base, images: list[np.ndarray], tables: list[pd.DataFrame]):
    """One in-memory Catalog holding several versions of the same photos (ids made unique: `id#v<j>`)."""
    parts = [t.assign(id_global=t["id_global"].astype(str) + f"#v{j}") for j, t in enumerate(tables)]
    return dataclasses.replace(base, table=pd.concat(parts, ignore_index=True), images=np.concatenate(images),
                               image_paths=list(base.image_paths) * len(images), image_failures={})


def _mean_sd(mired: np.ndarray, tint: np.ndarray, versions: int) -> dict[str, float]:
    """Predictions laid out version-major (V*n,) -> mean over photos of the per-photo sd (ddof 0)."""
    m, t = mired.reshape(versions, -1), tint.reshape(versions, -1)
    return {"sd_mired": float(m.std(0).mean()), "sd_tint": float(t.std(0).mean()),
            "p90_sd_mired": float(np.percentile(m.std(0), 90)), "p90_sd_tint": float(np.percentile(t.std(0), 90))}


def _to_uint8(x) -> np.ndarray:
    """float (B,3,H,W) [0,1] -> uint8 NHWC."""
    return (x.clamp(0, 1) * 255.0).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def consistency_metrics(predictor: Any, catalog, n_variants: int = 5, n_brackets: int = 6, max_photos: int = 200,
                        blend: bool | None = None, seed: int = 0, progress: bool = True) -> dict[str, Any]:
    """Variant spread and as-shot bracket spread of `predictor` on a seeded subsample of `catalog`.

    catalog: a Catalog with images loaded at the size the predictor expects. blend: evaluate
    blending too (default: when the predictor has a neighbour index). Returns {"n_photos", "brackets_k",
    "variant": {"head"|"blend": {sd_mired, sd_tint, p90_...}}, "bracket": {...}, "bracket_asshot": {...}}.
    """
    import torch
    from rich.progress import track

    from pretrain.augment import WBViewAugment
    from pretrain.encoder import to_tensor

    if catalog.images is None:
        raise CatalogError(f"{catalog.csv_path}: consistency_metrics needs the images loaded (load_catalog)")
    ok = np.array([i not in catalog.image_failures for i in range(len(catalog))], bool)
    rng = np.random.default_rng(seed)
    pool = np.flatnonzero(ok)
    pick = np.sort(rng.choice(pool, size=min(len(pool), max_photos), replace=False))
    base = subset_catalog(catalog, pick)
    n = len(pick)
    modes = {"head": False}
    if (has_index(predictor) if blend is None else blend):
        modes["blend"] = True
    out: dict[str, Any] = {"n_photos": int(n), "n_variants": int(n_variants), "variant": {}, "bracket": {}}
    if n == 0:
        return out

    # (a) variants: the photo itself + n_variants WB-preserving views; pastes come from other photos
    # of the subsample (the augmenter's donors are the other images of the batch).
    x = to_tensor(base.images)
    aug = WBViewAugment(base.images.shape[1], seed=seed)
    views = [base.images] + [_to_uint8(aug(x)) for _ in range(n_variants)]
    variants = _stack(base, views, [base.table] * len(views))

    # (b) as-shot bracket: re-render from the photo's as-shot WB to each bracket temperature, tint kept.
    bracket_k = mired_to_kelvin(np.linspace(kelvin_to_mired(BRACKET_K[0]), kelvin_to_mired(BRACKET_K[1]), n_brackets))
    cur_t = base.table["currTemp"].to_numpy(np.float64)
    cur_tint = base.table["currTint"].to_numpy(np.float64)
    images, tables = [], []
    for k in bracket_k:
        m = rerender_matrix(cur_t, cur_tint, np.full(n, k), cur_tint)
        images.append(_to_uint8(rerender_torch(x, torch.from_numpy(m))))
        tables.append(base.table.assign(currTemp=float(k)))
    bracket = _stack(base, images, tables)
    out["brackets_k"] = [float(k) for k in bracket_k]
    # what predicting the as-shot value would do: the bracket's own spread (tint is unchanged)
    out["bracket_asshot"] = {"sd_mired": float(np.std(kelvin_to_mired(bracket_k))), "sd_tint": 0.0}

    jobs = [(probe, name, cat, len(views) if probe == "variant" else n_brackets)
            for probe, cat in (("variant", variants), ("bracket", bracket)) for name in modes]
    for probe, name, cat, versions in track(jobs, description="consistency probes", disable=not progress):
        p = _predict(predictor, cat, modes[name])
        out[probe][name] = _mean_sd(kelvin_to_mired(p["Temperature"].to_numpy(np.float64)),
                                    p["Tint"].to_numpy(np.float64), versions)
    return out


# ---------------------------------------------------------------------------------------------------
# Accuracy breakdowns
# ---------------------------------------------------------------------------------------------------
def _metrics(df: pd.DataFrame, mask: np.ndarray | None = None) -> dict[str, float]:
    """wb_metrics on the rows of df (columns Temperature/Tint = truth, pred_Temperature/pred_Tint)."""
    d = df if mask is None else df[mask]
    return wb_metrics(d["Temperature"], d["Tint"], d["pred_Temperature"], d["pred_Tint"])


def breakdowns(df: pd.DataFrame, groups: np.ndarray | None = None) -> dict[str, Any]:
    """Per camera, per edited-temperature band, by as-shot temperature bin, and spread within shoots."""
    out: dict[str, Any] = {"overall": _metrics(df)}
    if "camera_model" in df and df["camera_model"].notna().any():
        cams = df["camera_model"].fillna("(none)").astype(str)
        out["per_camera"] = {c: _metrics(df, (cams == c).to_numpy()) for c in sorted(cams.unique())}
    t = df["Temperature"].to_numpy(np.float64)
    out["per_band"] = {name: _metrics(df, (t >= lo) & (t < hi)) for name, lo, hi in TEMP_BANDS}
    if "currTemp" in df:
        cur = df["currTemp"].to_numpy(np.float64)
        edges = ASSHOT_BINS_K
        out["by_asshot"] = [{"lo_k": lo, "hi_k": hi, **_metrics(df, (cur >= lo) & (cur < hi))}
                            for lo, hi in zip(edges[:-1], edges[1:])]
    flash = flash_slice(df)
    out["per_flash"] = {name: _metrics(df, flash == name) for name in sorted(set(flash))}
    if groups is not None:
        out["shoot_spread"] = shoot_spread(df, groups)
    return out


# ---------------------------------------------------------------------------------------------------
# Rendered colour difference (catalog.delta_e): per photo, then per shoot, camera and flash slice
# ---------------------------------------------------------------------------------------------------
def raw_sources(truth: pd.DataFrame) -> np.ndarray:
    """(N,) object: the raw file a row was imported from (`source_file`, which import-lightroom and
    ingest write) where it is still on disk, else None."""
    files = truth["source_file"].tolist() if "source_file" in truth else [None] * len(truth)
    return np.array([f if isinstance(f, str) and f and is_raw(f) and Path(f).is_file() else None for f in files],
                    dtype=object)


def photo_delta_e(catalog: Any, joined: dict[str, pd.DataFrame]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """({system: (N,) ΔE00 per labelled photo, row-aligned with its joined table}, (N,) the render each photo
    was compared on: 'raw' (LibRaw renders of its raw file, lightroom.raw) or 'canonical' (its catalog image
    through the canonical re-render, core.canonical)). The joined tables share the truth's row order."""
    first = next(iter(joined.values()))
    pos = pd.Index(catalog.table["id_global"].astype(str)).get_indexer(first["id_global"].astype(str))
    truth = (first["Temperature"].to_numpy(np.float64), first["Tint"].to_numpy(np.float64))
    canonical = to_reference(catalog.images[pos], first["currTemp"].to_numpy(np.float64),
                             first["currTint"].to_numpy(np.float64))
    preds = {n: (df["pred_Temperature"].to_numpy(np.float64), df["pred_Tint"].to_numpy(np.float64))
             for n, df in joined.items()}
    out = render_delta_e_many(canonical, *truth, preds)
    raws = raw_sources(first)
    for i in np.flatnonzero(raws != None):  # noqa: E711 (elementwise)
        de = raw_delta_e(raws[i], (truth[0][i], truth[1][i]), [(p[0][i], p[1][i]) for p in preds.values()])
        for n, d in zip(preds, de):
            out[n][i] = d
    return out, np.where(raws != None, "raw", "canonical")  # noqa: E711


def delta_e_breakdown(de: np.ndarray, df: pd.DataFrame, groups: np.ndarray | None) -> dict[str, Any]:
    """ΔE00 mean / P75 / P90 overall, per shoot (worst P75 first), per camera and per flash slice."""
    out: dict[str, Any] = {"overall": de_summary(de), "per_flash": grouped_summary(de, flash_slice(df))}
    if groups is not None:
        out["per_shoot"] = grouped_summary(de, groups)
    cams = camera_slice(df)
    if cams is not None:
        out["per_camera"] = grouped_summary(de, cams)
    return out


def shoot_spread(df: pd.DataFrame, groups: np.ndarray) -> dict[str, float]:
    """Mean over shoots (>= 2 photos) of the sd of predictions, and of the labels, in mired and tint."""
    pm, lm = kelvin_to_mired(df["pred_Temperature"].to_numpy(np.float64)), kelvin_to_mired(df["Temperature"].to_numpy(np.float64))
    pt, lt = df["pred_Tint"].to_numpy(np.float64), df["Tint"].to_numpy(np.float64)
    g = pd.Series(np.asarray(groups).astype(str))
    multi = [idx.to_numpy() for _, idx in g.groupby(g).groups.items() if len(idx) >= 2]
    if not multi:
        nan = float("nan")
        return {"n_shoots": 0, "pred_sd_mired": nan, "label_sd_mired": nan, "pred_sd_tint": nan, "label_sd_tint": nan}
    sd = lambda a: float(np.mean([a[i].std() for i in multi]))  # noqa: E731
    return {"n_shoots": len(multi), "pred_sd_mired": sd(pm), "label_sd_mired": sd(lm),
            "pred_sd_tint": sd(pt), "label_sd_tint": sd(lt)}


# ---------------------------------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------------------------------
def _kelvin_ticks(ax, lo_m: float, hi_m: float, axis: str) -> None:
    """Ticks at round Kelvin values on a mired axis, labelled in K with the mired value below."""
    ks = [k for k in (2000, 2500, 3000, 3500, 4000, 5000, 6500, 8000, 10000, 15000, 25000)
          if lo_m <= 1e6 / k <= hi_m]
    pos, labels = [1e6 / k for k in ks], [f"{k} K\n{1e6 / k:.0f}" for k in ks]
    (ax.set_xticks if axis == "x" else ax.set_yticks)(pos, labels, fontsize=7)


def plot_pred_vs_edit(df: pd.DataFrame, title: str, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4.6))
    em, pm = kelvin_to_mired(df["Temperature"].to_numpy(np.float64)), kelvin_to_mired(df["pred_Temperature"].to_numpy(np.float64))
    lo, hi = float(min(em.min(), pm.min())) - 5, float(max(em.max(), pm.max())) + 5
    a1.scatter(em, pm, s=6, alpha=0.5)
    a1.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    a1.set_xlim(lo, hi)
    a1.set_ylim(lo, hi)
    _kelvin_ticks(a1, lo, hi, "x")
    _kelvin_ticks(a1, lo, hi, "y")
    a1.invert_xaxis()  # warm (low K, high mired) on the left, as on Lightroom's slider
    a1.invert_yaxis()
    a1.set_xlabel("edited Temperature (mired axis; ticks: K / mired)")
    a1.set_ylabel("predicted Temperature")
    et, pt = df["Tint"].to_numpy(np.float64), df["pred_Tint"].to_numpy(np.float64)
    lo, hi = float(min(et.min(), pt.min())) - 2, float(max(et.max(), pt.max())) + 2
    a2.scatter(et, pt, s=6, alpha=0.5, color="tab:green")
    a2.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    a2.set_xlabel("edited Tint")
    a2.set_ylabel("predicted Tint")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_error_by_asshot(by_asshot: dict[str, list[dict]], path: Path) -> None:
    """MAE (mired and tint) per as-shot temperature bin, one bar group per system."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = next(iter(by_asshot.values()))
    bins = [i for i, b in enumerate(first) if b["n"] > 0]
    labels = [f"{first[i]['lo_k']}-{first[i]['hi_k']}\n(n={first[i]['n']})" for i in bins]
    fig, axes = plt.subplots(2, 1, figsize=(max(6, 1.1 * len(bins) + 2), 6), sharex=True)
    w = 0.8 / len(by_asshot)
    for j, (name, rows) in enumerate(by_asshot.items()):
        xs = np.arange(len(bins)) + (j - (len(by_asshot) - 1) / 2) * w
        axes[0].bar(xs, [rows[i]["mae_mired"] for i in bins], w, label=name)
        axes[1].bar(xs, [rows[i]["mae_tint"] for i in bins], w, label=name)
    axes[0].set_ylabel("MAE (mired)")
    axes[1].set_ylabel("MAE (tint)")
    axes[1].set_xticks(np.arange(len(bins)), labels, fontsize=7)
    axes[1].set_xlabel("as-shot temperature (K)")
    axes[0].legend(fontsize=8)
    axes[0].set_title("Error by as-shot temperature")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------------
# The stage
# ---------------------------------------------------------------------------------------------------
def _print_tables(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console(width=max(Console().width, 120))  # the accuracy table needs the room even in a pipe
    tab = Table(title=f"Accuracy on {result['split']} ({result['n']} photos); shoot sd: predictions (labels)")
    for col in ("system", "n", "MAE K", "MAE tint", "MAE mired", "score T", "score tint", "ΔE00 mean", "ΔE00 P75",
                "ΔE00 P90", "shoot sd mired", "shoot sd tint"):
        tab.add_column(col, justify="left" if col == "system" else "right")
    for name, r in result["systems"].items():
        o, s = r["overall"], r.get("shoot_spread", {})
        spread = (f"{s['pred_sd_mired']:.1f} ({s['label_sd_mired']:.1f})", f"{s['pred_sd_tint']:.1f} ({s['label_sd_tint']:.1f})") \
            if s.get("n_shoots") else ("-", "-")
        tab.add_row(name, str(o["n"]), f"{o['mae_temp_k']:.1f}", f"{o['mae_tint']:.2f}", f"{o['mae_mired']:.2f}",
                    f"{o['score_temp']:.5f}", f"{o['score_tint']:.4f}", *_de_cells(r.get("delta_e", {}).get("overall")),
                    *spread)
    con.print(tab)
    renders = result.get("delta_e_renders")
    if renders:
        con.print(f"ΔE00: {renders['raw']} photo(s) compared on LibRaw renders of their raw file, {renders['canonical']} "
                  "on the canonical re-render of their catalog image")
    main = result["systems"][result["primary"]]
    _print_slices(con, result)
    for key, title in (("per_band", "edited temperature band"), ("per_camera", "camera")):
        if key in main:
            t = Table(title=f"{result['primary']}: MAE by {title}")
            for col in (title, "n", "MAE K", "MAE tint", "MAE mired"):
                t.add_column(col, justify="left" if col == title else "right")
            for k, m in main[key].items():
                t.add_row(k, str(m["n"]), f"{m['mae_temp_k']:.1f}", f"{m['mae_tint']:.2f}", f"{m['mae_mired']:.2f}")
            con.print(t)
    sc = result.get("scene_spread")
    if sc and sc["labels"]["n_scenes"]:
        t = Table(title=f"Spread within scenes ({sc['labels']['n_scenes']} scenes of 2+ photos; median per-scene sd; "
                        f"scene pull strength {sc['strength']:g})")
        for col in ("system", "sd mired", "sd tint"):
            t.add_column(col, justify="left" if col == "system" else "right")
        for name, m in sc.items():
            if name != "strength":
                t.add_row(name, f"{m['sd_mired_median']:.2f}", f"{m['sd_tint_median']:.2f}")
        con.print(t)
    c = result.get("consistency")
    if c and c.get("variant"):
        t = Table(title=f"Consistency on {c['n_photos']} photos (mean per-photo sd)")
        for col in ("probe", "system", "sd mired", "sd tint"):
            t.add_column(col, justify="left" if col in ("probe", "system") else "right")
        for probe in ("variant", "bracket"):
            for name, m in c[probe].items():
                t.add_row(probe, name, f"{m['sd_mired']:.2f}", f"{m['sd_tint']:.2f}")
        t.add_row("bracket", "as-shot", f"{c['bracket_asshot']['sd_mired']:.2f}", "0.00")
        con.print(t)


def _de_cells(s: dict[str, Any] | None) -> list[str]:
    return [f"{s[k]:.2f}" for k in ("de00_mean", "de00_p75", "de00_p90")] if s else ["-", "-", "-"]


def _print_slices(con, result: dict[str, Any]) -> None:
    """Flash / no-flash for every system (MAE and ΔE00); the primary system's worst shoots and cameras by ΔE00."""
    from rich.table import Table

    t = Table(title="By flash (MAE; ΔE00 of the renders at the predicted vs the edited white balance)")
    for col in ("system", "slice", "n", "MAE K", "MAE tint", "ΔE00 mean", "ΔE00 P75", "ΔE00 P90"):
        t.add_column(col, justify="left" if col in ("system", "slice") else "right")
    for name, r in result["systems"].items():
        for sl, m in r["per_flash"].items():
            t.add_row(name, sl, str(m["n"]), f"{m['mae_temp_k']:.1f}", f"{m['mae_tint']:.2f}",
                      *_de_cells(r.get("delta_e", {}).get("per_flash", {}).get(sl)))
    con.print(t)
    de = result["systems"][result["primary"]].get("delta_e")
    for key, title, limit in (("per_shoot", f"worst {WORST_SHOOTS} shoots", WORST_SHOOTS), ("per_camera", "cameras", None)):
        if de and key in de:
            t = Table(title=f"{result['primary']}: ΔE00 by {key[4:]}, {title} (worst P75 first)")
            for col in (key[4:], "n", "ΔE00 mean", "ΔE00 P75", "ΔE00 P90"):
                t.add_column(col, justify="left" if col == key[4:] else "right")
            for g, m in list(de[key].items())[:limit]:
                t.add_row(g, str(m["n"]), *_de_cells(m))
            con.print(t)


def _check_options(cfg: EvaluateConfig) -> None:
    if cfg.model is None and cfg.pred is None:
        raise CatalogError("evaluate: give --model (a model folder) or --pred (a predictions CSV)")
    if cfg.data is None and cfg.answers is None:
        raise CatalogError("evaluate: give --data (a labelled catalog) or --answers (an answers CSV)")
    if cfg.model is not None and cfg.data is None:
        raise CatalogError("evaluate: --model needs --data, the catalog whose photos it predicts")


def load_truth(cfg: EvaluateConfig, split: str) -> tuple[WBModel | None, Any, pd.DataFrame]:
    """(model or None, the catalog or None, truth: the labelled rows with their inputs). Labels come
    from the split's own columns, or from --answers joined on id_global."""
    model, catalog = None, None
    labels = "ignore" if cfg.answers is not None else "auto"
    if cfg.model is not None:
        model = WBModel.load(cfg.model, device=cfg.device)
        catalog = load_catalog(cfg.data, split, image_size=model.image_size, labels=labels, progress=cfg.progress)
    elif cfg.data is not None:  # images for the rendered colour difference, at the models' usual input size
        catalog = load_catalog(cfg.data, split, image_size=DELTA_E_LOAD_SIZE, labels=labels, progress=cfg.progress)
    if cfg.answers is None:
        if not catalog.has_labels(TARGETS):
            raise CatalogError(f"{catalog.csv_path}: split {split} has no Temperature/Tint labels on every row; "
                               "give --answers with the labels or choose a labelled --split")
        return model, catalog, catalog.table.copy()
    truth = read_wb_csv(cfg.answers, "answers")
    if catalog is not None:
        inputs = catalog.table.drop(columns=[c for c in TARGETS if c in catalog.table])
        extra = [c for c in truth.columns if c == "id_global" or c not in inputs.columns]
        truth = inputs.merge(truth[extra], on="id_global", how="inner")
        if truth.empty:
            raise CatalogError(f"{cfg.answers}: no id_global in common with {catalog.csv_path}")
    return model, catalog, truth


def system_predictions(cfg: EvaluateConfig, model: WBModel | None, catalog: Any,
                       truth: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """name -> DataFrame[id_global, Temperature, Tint]: as-shot, a predictions CSV, and the model's
    head, head + neighbours and what `cli.py predict` writes by default (the last is the primary)."""
    systems: dict[str, pd.DataFrame] = {}
    if "currTemp" in truth and "currTint" in truth:  # the camera's own guess: the floor to beat
        systems["as-shot"] = pd.DataFrame({"id_global": truth["id_global"], "Temperature": truth["currTemp"],
                                           "Tint": truth["currTint"]})
    if cfg.pred is not None:
        systems["predictions"] = read_wb_csv(cfg.pred, "predictions")
    if model is None:
        return systems
    blend = bool(cfg.blend and has_index(model))
    p = model.predict(catalog, blend=blend, progress=cfg.progress)
    # one pass gives both: the head's own output and the blended final answer
    systems["head"] = pd.DataFrame({"id_global": p["id_global"], "Temperature": mired_to_kelvin(p["head_mired"]),
                                    "Tint": p["head_tint"]})
    if blend:
        systems["head + neighbours"] = p[["id_global", "Temperature", "Tint"]]
        if model.smooth_params is not None:  # what `cli.py predict` writes by default
            q = model.predict(catalog, blend=True, smooth=True, progress=False)
            systems["head + neighbours + smoothing"] = q[["id_global", "Temperature", "Tint"]]
    return systems


def scene_spreads(model: WBModel, catalog: Any, joined: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """Spread within scenes (retrieval.scenes: camera, capture-time gaps, canonical embedding), as
    `cli.py predict --consistency scene` groups these photos: each system's, and the photographer's
    own edits' ("labels") for scale. Scenes pulled with strength 0 still say how consistent a system is."""
    full = model.predict_full(catalog, blend=has_index(model), smooth=True, consistency="scene", progress=False)
    scene_of = pd.Series(full.scenes, index=catalog.table["id_global"].astype(str).to_numpy())
    out: dict[str, Any] = {"strength": float(model.scene_params.strength)}
    for name, df in joined.items():
        scenes = scene_of.reindex(df["id_global"].astype(str)).to_numpy()
        preds = df.rename(columns={"Temperature": "label_T", "Tint": "label_t"}).rename(
            columns={"pred_Temperature": "Temperature", "pred_Tint": "Tint"})
        out[name] = scene_spread(preds, scenes)
        out.setdefault("labels", scene_spread(df, scenes))
    return out


def join_predictions(cfg: EvaluateConfig, truth: pd.DataFrame,
                     systems: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """name -> truth with pred_Temperature/pred_Tint; a labelled id without a prediction is an error."""
    joined: dict[str, pd.DataFrame] = {}
    for name, p in systems.items():
        p = p[["id_global", "Temperature", "Tint"]].rename(columns={"Temperature": "pred_Temperature",
                                                                    "Tint": "pred_Tint"})
        df = truth.merge(p, on="id_global", how="left")
        missing = df["pred_Temperature"].isna()
        if missing.any():
            raise CatalogError(f"{cfg.pred if name == 'predictions' else name}: no prediction for "
                               f"{int(missing.sum())} labelled ids, e.g. {df['id_global'][missing].iloc[0]!r}")
        joined[name] = df
    return joined


def write_plots(result: dict[str, Any], joined: dict[str, pd.DataFrame], out: Path) -> None:
    """Predicted vs edited for the primary system; error by as-shot band for every system."""
    primary, split = result["primary"], result["split"]
    plot_pred_vs_edit(joined[primary], f"{primary}: predicted vs edited ({split}, n={result['n']})",
                      out / "pred_vs_edit.png")
    result["plots"].append(str(out / "pred_vs_edit.png"))
    by_asshot = {n: r["by_asshot"] for n, r in result["systems"].items() if "by_asshot" in r}
    if by_asshot:
        plot_error_by_asshot(by_asshot, out / "error_by_asshot.png")
        result["plots"].append(str(out / "error_by_asshot.png"))


def run_evaluate(cfg: EvaluateConfig) -> dict[str, Any]:
    """Score predictions against labels; write OUT/evaluation.json and plots; return the result dict."""
    seed_everything(cfg.seed)
    _check_options(cfg)
    split = resolve_split(cfg.data, cfg.split, labelled=cfg.answers is None) if cfg.data is not None else (
        cfg.split if cfg.split != "auto" else "Validation")
    out = Path(cfg.out) if cfg.out else (Path(cfg.model) / "eval" if cfg.model else Path("eval"))
    model, catalog, truth = load_truth(cfg, split)
    systems = system_predictions(cfg, model, catalog, truth)
    primary = list(systems)[-1]

    # shoots by capture date; a benchmark's answers without dates still name their bursts
    groups = shoot_groups(truth)
    if all(str(g).startswith("row:") for g in groups) and "burst_id" in truth:
        groups = truth["burst_id"].astype(str).to_numpy()
    result: dict[str, Any] = {**provenance(cfg), "split": split, "n": int(len(truth)), "primary": primary,
                              "systems": {}, "plots": []}
    if split == "Train" and model is not None:
        result["note"] = ("evaluated on Train: optimistic if the model was trained on these photos (its neighbour "
                          "index then holds the photos themselves); evaluate a held-out catalog for honest figures")
        if cfg.progress:
            print(f"note: {result['note']}")
    joined = join_predictions(cfg, truth, systems)
    result["systems"] = {name: breakdowns(df, groups) for name, df in joined.items()}
    if catalog is not None and {"currTemp", "currTint"} <= set(truth.columns):
        de, renders = photo_delta_e(catalog, joined)
        for name, values in de.items():
            result["systems"][name]["delta_e"] = delta_e_breakdown(values, joined[name], groups)
        result["delta_e_renders"] = {k: int((renders == k).sum()) for k in ("canonical", "raw")}
        out.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"id_global": truth["id_global"], "shoot": groups, "flash": flash_slice(truth), "render": renders,
                      **{f"de00 | {n}": v for n, v in de.items()}}).to_csv(out / "delta_e.csv", index=False)
    else:
        result["delta_e_note"] = "no ΔE00: needs --data (the photos) and their as-shot currTemp/currTint"
    if model is not None:
        result["scene_spread"] = scene_spreads(model, catalog, joined)
    if cfg.consistency and model is not None:
        result["consistency"] = consistency_metrics(model, catalog, cfg.n_variants, cfg.n_brackets, cfg.max_photos,
                                                    blend=bool(cfg.blend and has_index(model)), seed=cfg.seed,
                                                    progress=cfg.progress)
    out.mkdir(parents=True, exist_ok=True)
    write_plots(result, joined, out)
    write_json(out / "evaluation.json", result)
    if cfg.progress:
        _print_tables(result)
        print(f"evaluation: {out / 'evaluation.json'}")
    return result
