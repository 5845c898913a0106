"""What reading the camera's as-shot buys in accuracy and costs in consistency (issue #12).

    python benchmarks/asshot_tradeoff.py --real DIR --out asshot_tradeoff.md
    python benchmarks/asshot_tradeoff.py --real DIR --fold-ids 0 --max-photos 100 --out /tmp/t.md   # a lighter check

Issue #12 asks for two things at once on the real release: predictions that do not move with the
camera's as-shot guess (bracket sd <= 3 mired, |corr| <= 0.1) and accuracy no worse than the model that
read the as-shot (<= 307 K, <= 4.52 tint: the figures of the model before #12, which predicted a shift
from the as-shot). The product's model reads only the canonical render; its as-shot-aware member
(finetune.trust: gradient boosting that also reads the as-shot and the camera's own render) may pull
the prediction only where validation trusts it, which it does not on the real release. This script
measures the whole curve between the two: each fold's model is fine-tuned with the product's defaults
except `asshot_trust_gain=0` (the member is fitted and kept in the model folder whatever its validation
gain), and every held-out photo, as shot and at the bracket of benchmarks/bracket.py, is predicted by
the image members and by the as-shot-aware member; the pull w mixes them, image + w * (aware - image),
exactly as a trusted member pulls (unbounded). w = 0 is the product as it ships.

Reads top to bottom:
  1. real release (--real DIR, restored with ../shared/data/restore_aftershoot.py): folds grouped by
     shoot date as benchmarks/run.py makes them (core.splits, seed 0); the SimCLR encoder pretrained
     once on every photo (no labels) unless --encoder is given;
  2. per fold: finetune on the other folds, then the held-out photos as shot and at every bracket step
     (benchmarks.bracket.bracket_version), both members' predictions (mired, tint) kept;
  3. per pull w in --pulls: MAE of the photos as shot (pooled over folds) next to the bracket figures
     (benchmarks.bracket.spread), which pulls meet which of the issue's targets, and a plot of the curve;
     a markdown section (with the command that made it) to --out, every figure also in OUT.json.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python benchmarks/asshot_tradeoff.py` puts benchmarks/, not the repo, on the path
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402

from benchmarks.bracket import (TARGET_CORR, TARGET_REAL_K, TARGET_REAL_TINT, TARGET_SD_MIRED,  # noqa: E402
                                TARGET_SD_TINT, TINY, bracket_grid, bracket_version, pretrained, spread)

console = Console(stderr=True)

PULLS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.6, 1.0)


# ---------------------------------------------------------------------------------------------------
# One fold: both members' predictions, as shot and across the bracket
# ---------------------------------------------------------------------------------------------------
def fold_model(data: Path, encoder: str, out: Path, args) -> Any:
    """finetune with the product's defaults, except that the as-shot-aware member is kept whatever its
    validation gain (asshot_trust_gain=0), then the loaded model."""
    from finetune.predict import WBModel
    from finetune.train import FinetuneConfig, run_finetune

    overrides = dict(TINY["finetune"]) if args.quick else {}
    run_finetune(FinetuneConfig(data=data, encoder=Path(encoder), out=out, baselines=False, seed=0,
                                progress=not args.quiet, threads=args.threads, asshot_trust_gain=0.0, **overrides))
    return WBModel.load(out)


def members(model, catalog) -> np.ndarray:
    """(2, P, 2): (mired, tint) of the image members and of the as-shot-aware member for every photo of
    `catalog` (images at the model's size): the heads' own inputs, read as `predict` reads them."""
    from core.colour import image_features
    from finetune.ensemble import anchor_units
    from finetune.trust import asshot_stats

    ens, t = model.ensemble, catalog.table
    if ens.aware is None:
        raise RuntimeError("the fold's model kept no as-shot-aware member: its validation found no pull that "
                           "lowers the MAE at all, or too few validation photos/shoots (finetune.trust.could_trust)")
    names = [s.name for s in ens.specs]
    cols = [names.index("Temperature"), names.index("Tint")]
    canon = ens.canonical(catalog.images, t)
    parts = ens.predict_parts(model.encoder.embed(canon, 128), image_features(canon), t, catalog.exif_units,
                              asshot_stats(catalog.images))
    anchors = anchor_units(t, ens.specs)
    return np.stack([(anchors + parts.image)[:, cols], (anchors + parts.aware)[:, cols]])


def predict_fold(model, catalog, temps: np.ndarray, tints: np.ndarray) -> dict[str, np.ndarray]:
    """{"as_shot": (2, P, 2), "bracket": (2, P, V, 2)} member predictions."""
    steps = [members(model, bracket_version(catalog, t, ti)) for t, ti in zip(temps, tints)]
    return {"as_shot": members(model, catalog), "bracket": np.stack(steps, 2)}


def pulled(m: np.ndarray, w: float) -> np.ndarray:
    """The image members' prediction m[0] pulled by w towards the as-shot-aware member's m[1]: a trusted
    member's own pull (finetune.trust.apply_trust) at weight w for both targets, unbounded."""
    from finetune.trust import TrustParams, apply_trust

    return apply_trust(m[0], m[1], TrustParams([w] * m.shape[-1], [np.inf] * m.shape[-1]))


def curve(as_shot: np.ndarray, bracket: np.ndarray, truth: np.ndarray, temps: np.ndarray,
          pulls: tuple[float, ...]) -> list[dict[str, float]]:
    """Per pull: MAE of the photos as shot (truth (P, 2): Temperature K, Tint) and the bracket figures."""
    from core.metrics import wb_metrics
    from core.wb import kelvin_to_mired, mired_to_kelvin

    rows = []
    for w in pulls:
        p = pulled(as_shot, w)
        m = wb_metrics(truth[:, 0], truth[:, 1], mired_to_kelvin(p[:, 0]), p[:, 1])
        rows.append({"pull": float(w), **{k: float(m[k]) for k in ("mae_temp_k", "mae_tint", "mae_mired")},
                     **spread(pulled(bracket, w), kelvin_to_mired(temps))})
    return rows


def meets(row: dict[str, float]) -> dict[str, bool]:
    return {"accuracy": row["mae_temp_k"] <= TARGET_REAL_K and row["mae_tint"] <= TARGET_REAL_TINT,
            "bracket": row["sd_mired"] <= TARGET_SD_MIRED and row["sd_tint"] <= TARGET_SD_TINT
            and abs(row["corr"]) <= TARGET_CORR}


# ---------------------------------------------------------------------------------------------------
# Section
# ---------------------------------------------------------------------------------------------------
def real_section(root: Path, work: Path, args) -> dict[str, Any]:
    from benchmarks.bracket import _cap, _subset
    from benchmarks.systems import fold_models, real_folds

    table, groups, folds, fold_ids = real_folds(root, args.folds, args.fold_ids)
    encoder = pretrained(root, args.encoder, work, args)
    temps, tints = bracket_grid()
    parts, truths, per_fold = [], [], []
    for k, va, model, cat, t0 in fold_models(root, folds, fold_ids, work,
                                                 lambda data, out, _prior: fold_model(data, encoder, out, args), console.log,
                                                 " (as-shot-aware member kept)", not args.quiet):
        rows = _cap(va, args.max_photos, k)
        parts.append(predict_fold(model, _subset(cat, rows), temps, tints))
        truths.append(cat.table[["Temperature", "Tint"]].to_numpy(np.float64)[rows])
        trust = model.ensemble.trust.to_dict()
        per_fold.append({"fold": k, "n": int(len(rows)), "seconds": time.time() - t0,
                         "chosen_pull": trust["weight"], "report": trust["report"]})
    as_shot = np.concatenate([p["as_shot"] for p in parts], 1)
    bracket = np.concatenate([p["bracket"] for p in parts], 1)
    rows = curve(as_shot, bracket, np.concatenate(truths), temps, tuple(args.pulls))
    return {"n_photos": int(len(table)), "n_shoots": int(len(set(groups))), "folds": len(folds),
            "fold_ids": fold_ids, "per_fold": per_fold, "curve": rows, "brackets_k": temps.tolist(),
            "brackets_tint": tints.tolist(), "encoder": encoder}


# ---------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------
def plot(rows: list[dict[str, float]], path: Path) -> None:
    """MAE K against bracket sd (mired), one point per pull, with the issue's target box."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4), dpi=110)
    sd, mae = [r["sd_mired"] for r in rows], [r["mae_temp_k"] for r in rows]
    ax.plot(sd, mae, "o-", color="tab:blue")
    for r in rows:
        ax.annotate(f"w={r['pull']:g}", (r["sd_mired"], r["mae_temp_k"]), textcoords="offset points", xytext=(5, 4),
                    fontsize=8)
    ax.axvline(TARGET_SD_MIRED, color="tab:red", ls="--", lw=1)
    ax.axhline(TARGET_REAL_K, color="tab:red", ls="--", lw=1)
    ax.fill_between([0, TARGET_SD_MIRED], 0, TARGET_REAL_K, color="tab:green", alpha=0.12, label="issue #12's targets")
    ax.set_xlim(0, max(sd) * 1.1 + 1)
    ax.set_ylim(min(min(mae), TARGET_REAL_K) * 0.97, max(mae) * 1.03)
    ax.set_xlabel("bracket sd per photo (mired): how far the as-shot moves it")
    ax.set_ylabel("MAE Temperature (K), photos as shot")
    ax.set_title("Pulling towards the as-shot-aware member (w)", fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def render_md(result: dict[str, Any], command: str, png: str | None) -> str:
    r = result["real"]
    lines = ["## What reading the as-shot buys and costs (issue #12)", "",
             f"Made by `{command}` on {result['created']} ({result['minutes']:.1f} min).", "",
             f"Real release ({r['n_photos']:,} labelled photos, {r['n_shoots']} shoots), folds grouped by shoot date "
             f"(`core.splits`, seed 0, as `benchmarks/run.py`), measured on fold(s) {[k + 1 for k in r['fold_ids']]} "
             f"({sum(f['n'] for f in r['per_fold']):,} photos x {len(r['brackets_k'])} bracket steps, the bracket of "
             "`benchmarks/bracket.py`). Each fold's model: `finetune` with the product's defaults on the other folds "
             "except `--asshot-trust-gain 0`, so its as-shot-aware member (reads the camera's as-shot and its render) "
             "is kept; the prediction is the image members' pulled by w towards it, unbounded. w = 0 is the product "
             "as it ships (the member not trusted).", "",
             "| pull w | MAE K | MAE tint | MAE mired | bracket sd mired (mean / p90) | bracket sd tint (mean / p90) "
             "| corr(pred, as-shot) | within-photo slope | accuracy targets | bracket targets |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|:---:|:---:|"]
    for row in r["curve"]:
        ok = meets(row)
        lines.append(f"| {row['pull']:g} | {row['mae_temp_k']:.1f} | {row['mae_tint']:.2f} | {row['mae_mired']:.2f} | "
                     f"{row['sd_mired']:.2f} / {row['p90_sd_mired']:.2f} | {row['sd_tint']:.2f} / {row['p90_sd_tint']:.2f} | "
                     f"{row['corr']:+.3f} | {row['slope']:+.3f} | {'pass' if ok['accuracy'] else 'fail'} | "
                     f"{'pass' if ok['bracket'] else 'fail'} |")
    both = [row["pull"] for row in r["curve"] if all(meets(row).values())]
    best = min(r["curve"], key=lambda row: row["mae_temp_k"])
    lines += ["", f"Targets: accuracy ≤ {TARGET_REAL_K:g} K and ≤ {TARGET_REAL_TINT:g} tint; bracket sd ≤ "
                  f"{TARGET_SD_MIRED:g} mired and ≤ {TARGET_SD_TINT:g} tint, |corr| ≤ {TARGET_CORR:g}. "
                  f"Pulls meeting both: {', '.join(f'{w:g}' for w in both) if both else '**none**'}. Lowest MAE K: "
                  f"{best['mae_temp_k']:.1f} at w = {best['pull']:g} (tint {best['mae_tint']:.2f}), with a bracket sd of "
                  f"{best['sd_mired']:.1f} mired / {best['sd_tint']:.1f} tint and corr {best['corr']:+.2f}.", ""]
    lines += ["Pull each fold's validation would choose with no significance test (Temperature, Tint): " + "; ".join(
        f"fold {f['fold'] + 1}: {f['chosen_pull'][0]:g}, {f['chosen_pull'][1]:g}" for f in r["per_fold"]) + ".", ""]
    if png:
        lines += [f"![accuracy against as-shot dependence]({png})", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from benchmarks.systems import fold_options

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    fold_options(ap, "artifacts/asshot_tradeoff")
    ap.add_argument("--out", required=True, help="Markdown section to write; the figures go to OUT.json, the plot to OUT.png.")
    ap.add_argument("--pretrain-epochs", type=int, default=0, help="SimCLR epochs when pretraining here (0 = default).")
    ap.add_argument("--max-photos", type=int, default=0, help="Seeded subsample of each validation set (0 = all).")
    ap.add_argument("--pulls", default=",".join(f"{w:g}" for w in PULLS), help="Pulls w to report (0 = the product).")
    args = ap.parse_args(argv)
    args.pulls = tuple(sorted({float(w) for w in args.pulls.split(",")}))
    if any(not 0 <= w <= 1 for w in args.pulls):
        ap.error(f"--pulls must lie in [0, 1], got {args.pulls}")
    import torch

    torch.set_num_threads(args.threads)
    t0 = time.time()
    result: dict[str, Any] = {"created": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    result["real"] = real_section(Path(args.real), Path(args.work), args)
    result["minutes"] = (time.time() - t0) / 60
    command = "python benchmarks/asshot_tradeoff.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    png = out.with_suffix(".png")
    plot(result["real"]["curve"], png)
    out.write_text(render_md(result, command, png.name) + "\n", encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps({"command": command, **result}, indent=1, default=str),
                                        encoding="utf-8")
    console.log(f"wrote {out}, {png.name} and {out.with_suffix('.json').name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
