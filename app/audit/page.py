"""The audit's page: index.html with a sortable table of the audited photos and of the flagged training
edits, each row linking its grid.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd


MAX_TABLE_ROWS = 500   # anomalies listed on the page (all of them go to anomalies.csv)


# ---------------------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------------------
SORT_JS = """<script>
// click a header: sort its table by that column (numbers as numbers, the rest as text); again: reverse
function sortBy(th) {
  const body = th.closest('table').tBodies[0], col = [...th.parentNode.children].indexOf(th);
  const asc = th.dataset.asc !== '1';
  th.dataset.asc = asc ? '1' : '0';
  const key = r => { const v = r.cells[col].dataset.v ?? r.cells[col].textContent;
                     const n = v.trim() === '' ? NaN : Number(v); return isNaN(n) ? v : n; };
  const cmp = (a, b) => (typeof a === 'number' && typeof b === 'number') ? a - b : String(a).localeCompare(String(b));
  [...body.rows].sort((x, y) => (asc ? 1 : -1) * cmp(key(x), key(y))).forEach(r => body.appendChild(r));
}
</script>"""


def _fmt(v: Any, spec: str = "") -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return ""
    return format(v, spec) if spec else str(v)


def html_table(columns: Sequence[str], rows: Sequence[Sequence[tuple[str, str]]]) -> str:
    """rows: cells as (html content, sort value). Headers sort on click."""
    head = "".join(f'<th onclick="sortBy(this)">{html.escape(c)}</th>' for c in columns)
    body = "\n".join("<tr>" + "".join(f'<td data-v="{html.escape(v)}">{c}</td>' for c, v in r) + "</tr>"
                     for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>"


def write_page(out: Path, title: str, intro: str, sections: Sequence[tuple[str, str]]) -> Path:
    style = ("body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;margin-bottom:2em}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{cursor:pointer;background:#eee}"
             "td:first-child{text-align:left}")
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{style}</style>{SORT_JS}</head><body><h1>{html.escape(title)}</h1><p>{intro}</p>"]
    for heading, body in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>{body}")
    parts.append("</body></html>")
    path = out / "index.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def photos_section(rows: list[dict[str, Any]], split: str, n_photos: int) -> tuple[str, str]:
    """(heading, sortable HTML table) of the audited photos, each linked to its grid."""
    return (f"{split} photos ({len(rows)} of {n_photos})", html_table(
        ["id", "predicted T (K)", "predicted tint", "edit T (K)", "edit tint", "ΔE00 (predicted vs edit)",
         "head vs neighbours", "mean neighbour sim", "shoot"],
        [[(f'<a href="{r["grid"]}">{html.escape(r["id_global"])}</a>', r["id_global"]),
          (_fmt(r["pred_T"], ",.0f"), _fmt(r["pred_T"])), (_fmt(r["pred_tint"], "+.1f"), _fmt(r["pred_tint"])),
          (_fmt(r["edit_T"], ",.0f"), _fmt(r["edit_T"])), (_fmt(r["edit_tint"], "+.1f"), _fmt(r["edit_tint"])),
          (_fmt(r["delta_e"], ".2f"), _fmt(r["delta_e"])), (_fmt(r["disagreement"], ".1f"), _fmt(r["disagreement"])),
          (_fmt(r["mean_sim"], ".3f"), _fmt(r["mean_sim"])), (html.escape(_fmt(r["shoot"])), _fmt(r["shoot"]))]
         for r in rows]))


def anomalies_section(anomalies: pd.DataFrame, grid_rows: list[dict[str, Any]]) -> tuple[str, str]:
    """(heading, sortable HTML table) of the training edits that disagree with their near-duplicates."""
    links = {r["id_global"]: r["grid"] for r in grid_rows}
    body = html_table(
        ["id", "edit T (K)", "edit tint", "neighbours T (K)", "neighbours tint", "z mired", "z tint",
         "neighbours", "shoot"],
        [[((f'<a href="{links[a["id_global"]]}">{html.escape(a["id_global"])}</a>' if a["id_global"] in links
            else html.escape(a["id_global"])), a["id_global"]),
          (_fmt(a["Temperature"], ",.0f"), _fmt(a["Temperature"])), (_fmt(a["tint"], "+.1f"), _fmt(a["tint"])),
          (_fmt(a["neighbour_Temperature"], ",.0f"), _fmt(a["neighbour_Temperature"])),
          (_fmt(a["neighbour_tint"], "+.1f"), _fmt(a["neighbour_tint"])),
          (_fmt(a["z_mired"], "+.1f"), _fmt(a["z_mired"])), (_fmt(a["z_tint"], "+.1f"), _fmt(a["z_tint"])),
          (str(a["n_neighbors"]), str(a["n_neighbors"])),
          (html.escape(_fmt(a["shoot"])), _fmt(a["shoot"]))] for _, a in anomalies.head(MAX_TABLE_ROWS).iterrows()])
    n = len(anomalies)
    shown = "" if n <= MAX_TABLE_ROWS else f", the first {MAX_TABLE_ROWS} listed here"
    return (f"Training edits that disagree with their near-duplicates ({n}{shown}; "
            f"grids for the top {len(grid_rows)}; all in anomalies.csv)", body)
