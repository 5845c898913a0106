"""What evaluate shows and writes besides evaluation.json: the printed tables and the plots (predicted
against edited temperature; error by as-shot temperature).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.wb import kelvin_to_mired


WORST_SHOOTS = 5  # shoots listed in the printed ΔE00 table (evaluation.json holds every shoot)


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
def print_tables(result: dict[str, Any]) -> None:
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


def write_plots(result: dict[str, Any], joined: dict[str, pd.DataFrame], out: Path) -> list[str]:
    """Predicted vs edited for the primary system; error by as-shot band for every system. Returns the
    paths written (the caller files them under result["plots"])."""
    primary, split = result["primary"], result["split"]
    plot_pred_vs_edit(joined[primary], f"{primary}: predicted vs edited ({split}, n={result['n']})",
                      out / "pred_vs_edit.png")
    plots = [str(out / "pred_vs_edit.png")]
    by_asshot = {n: r["by_asshot"] for n, r in result["systems"].items() if "by_asshot" in r}
    if by_asshot:
        plot_error_by_asshot(by_asshot, out / "error_by_asshot.png")
        plots.append(str(out / "error_by_asshot.png"))
    return plots
