"""Consistency audits as pictures: each photo next to its nearest training photos at the edits the
photographer gave them, and a list of training edits that disagree with their own near-duplicates.

Why pictures: a white-balance error is a colour, and a table of Kelvin numbers hides whether the
model was wrong or the photographer was inconsistent. A grid answers that at a glance:

    row 1   the photo as shot | re-rendered at the predicted WB | at the photographer's edit (if labelled)
    rows 2+ its k nearest training photos, each re-rendered from its as-shot WB to its edit

All tiles are re-read from disk at full tile size (the model's 96-128 px inputs are too small to
judge colour) and re-rendered with core.wb.rerender, the same von Kries transform the rest of the
system uses. `OUT/index.html` lists every grid in a sortable table; `OUT/anomalies.csv` (+ grids)
lists training photos whose edit is far from their near-duplicates' (retrieval.blend.find_anomalies)
— label noise that the model can only learn to average over.

Which photos: --ids, else the --worst N by rendered colour difference (ΔE00 between the photo at the
predicted and at the photographer's white balance, as `evaluate` computes it) when the audited split has
labels, else the N whose head prediction disagrees most with what their neighbours' edits suggest.
"""
from __future__ import annotations

import dataclasses
import html
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from app.options import AuditConfig
from core.errors import CatalogError
from core.ids import check_id
from catalog.images import read_image, square_resize
from catalog.reader import load_catalog, read_catalog, resolve_split
from core.runtime import provenance, seed_everything, write_json
from core.wb import kelvin_to_mired, mired_to_kelvin, rerender
from retrieval.blend import BlendParams, find_anomalies, neighbour_mean
from retrieval.index import NeighborIndex
from app.evaluate.run import photo_delta_e
from catalog.answers import read_wb_csv
from finetune.predict import WBModel

TARGETS = ("Temperature", "Tint")
GRID_COLS = 4          # 4 x 256 px = 1024 px wide: fits a laptop screen without scaling
FONT_SIZE = 12         # PIL's default font; ~40 characters fit under a 256 px tile
LINE_H = 15            # caption line height (px)
BLANK = (232, 232, 232)
MAX_TABLE_ROWS = 500   # anomalies listed on the page (all of them go to anomalies.csv)




# ---------------------------------------------------------------------------------------------------
# Tiles and grids (small pure functions: the tests call them directly)
# ---------------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _font() -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=FONT_SIZE)  # Pillow >= 10.1 with FreeType: a scalable font
    except (TypeError, ImportError, OSError):
        return ImageFont.load_default()                # older Pillow: the small bitmap font


def make_grid(tiles: Sequence[np.ndarray | None], captions: Sequence[str | Sequence[str]], cols: int = GRID_COLS,
              tile: int | None = None) -> Image.Image:
    """Tiles (uint8 HxWx3, or None for an empty slot) in rows of `cols`, each with its caption below.

    Size: width = cols * tile, height = rows * (tile + caption strip); the strip fits the longest
    caption (lines split on newlines; LINE_H px per line). Tiles of another size are resized.
    """
    if len(captions) != len(tiles):
        raise ValueError(f"make_grid: {len(tiles)} tiles but {len(captions)} captions")
    if tile is None:
        tile = next((t.shape[0] for t in tiles if t is not None), 256)
    lines = [c.split("\n") if isinstance(c, str) else list(c) for c in captions]
    cap_h = max((len(x) for x in lines), default=0) * LINE_H + 6
    rows = max(1, -(-len(tiles) // cols))
    canvas = Image.new("RGB", (cols * tile, rows * (tile + cap_h)), "white")
    font = _font()
    for n, (t, text) in enumerate(zip(tiles, lines)):
        x, y = (n % cols) * tile, (n // cols) * (tile + cap_h)
        if t is None:
            canvas.paste(Image.new("RGB", (tile, tile), BLANK), (x, y))
        else:
            im = Image.fromarray(np.asarray(t, np.uint8))
            canvas.paste(im if im.size == (tile, tile) else im.resize((tile, tile), Image.LANCZOS), (x, y))
        if text:  # drawn on its own strip, so a long caption is clipped at the tile edge, not over the next one
            strip = Image.new("RGB", (tile, cap_h), "white")
            draw = ImageDraw.Draw(strip)
            for j, line in enumerate(text):
                draw.text((4, 3 + j * LINE_H), line, fill="black", font=font)
            canvas.paste(strip, (x, y + tile))
    return canvas


def wb_caption(temp: float, tint: float) -> str:
    if not (np.isfinite(temp) and np.isfinite(tint)):
        return "WB unknown"
    return f"{temp:,.0f} K / {tint:+.0f}"


@lru_cache(maxsize=128)  # neighbours recur across grids of one shoot; 128 tiles of 256 px = 25 MB
def load_tile(path: str, size: int) -> np.ndarray | None:
    """The photo as stored (its as-shot rendering), square, `size` px; None when it cannot be read."""
    try:
        return square_resize(read_image(path), size)
    except CatalogError:
        return None


def at_wb(img: np.ndarray | None, from_wb: tuple[float, float], to_wb: tuple[float, float]) -> np.ndarray | None:
    """The same capture re-rendered at another white balance (unchanged when a value is unknown)."""
    if img is None or not np.isfinite([*from_wb, *to_wb]).all():
        return img
    return rerender(img, from_wb=tuple(map(float, from_wb)), to_wb=tuple(map(float, to_wb)))


def safe_name(n: int, photo_id: str) -> str:
    """Grid file name: ordered and unique; the id passes the one file-name check (core.ids) and is
    then reduced to portable characters (HTML links and other file systems)."""
    return f"{n:03d}_{re.sub(r'[^A-Za-z0-9._-]+', '_', check_id(str(photo_id)))[:80]}.png"


# ---------------------------------------------------------------------------------------------------
# Data: which split, labels, the training photos behind the index
# ---------------------------------------------------------------------------------------------------
def query_labels(catalog: Any, answers: Path | None) -> np.ndarray | None:
    """(N, 2) Temperature (K) / Tint edits of the audited photos (NaN where unknown), or None when none is known.

    From the split's own Temperature/Tint columns, else from an answers CSV (id_global,Temperature,
    Tint; read and checked by catalog.answers.read_wb_csv) — Validation CSVs carry no labels."""
    table = catalog.table
    if catalog.has_labels(TARGETS):
        t = table[list(TARGETS)].to_numpy(np.float64)
    elif answers is not None:
        a = read_wb_csv(answers, "answers")
        t = a.set_index("id_global").reindex(table["id_global"].astype(str))[list(TARGETS)].to_numpy(np.float64)
        if not np.isfinite(t).any():
            return None
    else:
        return None
    return t


def train_photos(root: Path, index: NeighborIndex) -> pd.DataFrame:
    """One row per indexed training photo (index order): path, as-shot and edit in K/tint, shoot.

    Images come from the Train split at `root`; ids the catalog no longer has keep path None (their
    tiles are drawn blank) and fall back to the values stored in the index.
    """
    df = pd.DataFrame({"id_global": index.ids, "shoot": index.shoots,
                       "currTemp": mired_to_kelvin(index.asshot[:, 0]), "currTint": index.asshot[:, 1],
                       "Temperature": mired_to_kelvin(index.edits[:, 0]), "Tint": index.edits[:, 1]})
    df["path"] = None
    try:
        train = read_catalog(root, "Train")
    except CatalogError:
        return df
    t = train.table.assign(path=[str(p) for p in train.image_paths]).set_index("id_global")
    t = t.reindex(df["id_global"])
    df["path"] = [p if isinstance(p, str) else None for p in t["path"].to_numpy(object)]
    for col in ("currTemp", "currTint", "Temperature", "Tint"):
        if col in t.columns:
            vals = t[col].to_numpy(np.float64)
            ok = np.isfinite(vals)
            df.loc[ok, col] = vals[ok]
    return df


def neighbours_excluding(index: NeighborIndex, vectors: np.ndarray, own_ids: Sequence[str], k: int,
                         normalized: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """k nearest training photos other than the query itself (an in-sample query finds itself at
    sim 1, which says nothing). Returns (sims, idx) with -1/-1 padding where fewer exist."""
    search = index.search_normalized if normalized else index.search
    sims, idx = search(vectors, k + 1)
    out_s = np.full((len(vectors), k), -1.0, np.float32)
    out_i = np.full((len(vectors), k), -1, np.int64)
    ids = np.asarray(index.ids, dtype=object)
    for r in range(len(vectors)):
        keep = (idx[r] >= 0) & (ids[np.maximum(idx[r], 0)] != str(own_ids[r]))
        s, i = sims[r][keep][:k], idx[r][keep][:k]
        out_s[r, :len(s)], out_i[r, :len(i)] = s, i
    return out_s, out_i


# ---------------------------------------------------------------------------------------------------
# One grid
# ---------------------------------------------------------------------------------------------------
def neighbour_tiles(train: pd.DataFrame, sims: np.ndarray, idx: np.ndarray, size: int) -> tuple[list, list]:
    """Each neighbour re-rendered from its as-shot WB to the photographer's edit, with its caption."""
    tiles, caps = [], []
    for rank, (s, j) in enumerate(zip(sims, idx), 1):
        if j < 0:
            continue
        r = train.iloc[int(j)]
        img = load_tile(r["path"], size) if r["path"] else None
        tiles.append(at_wb(img, (r["currTemp"], r["currTint"]), (r["Temperature"], r["Tint"])))
        caps.append([f"#{rank} {r['id_global']}  sim {s:.3f}", f"edit {wb_caption(r['Temperature'], r['Tint'])}",
                     f"shoot {r['shoot'] or '?'}" + ("" if img is not None else "  (image not found)")])
    return tiles, caps


def query_grid(path: str | None, asshot_wb: tuple[float, float], pred_wb: tuple[float, float],
               edit_wb: tuple[float, float] | None, photo_id: str, shoot: str | None, train: pd.DataFrame,
               sims: np.ndarray, idx: np.ndarray, size: int, cols: int = GRID_COLS,
               delta_e: float | None = None) -> Image.Image:
    """Row 1: as shot | predicted | edit (if labelled, with the error and the ΔE00 between the two renders);
    then the neighbours at their edits."""
    img = load_tile(path, size) if path else None
    head_tiles = [img, at_wb(img, asshot_wb, pred_wb)]
    head_caps = [[f"{photo_id}  as shot", wb_caption(*asshot_wb), f"shoot {shoot or '?'}"],
                 ["predicted", wb_caption(*pred_wb), ""]]
    if edit_wb is not None and np.isfinite(edit_wb).all():
        err_k = pred_wb[0] - edit_wb[0]
        head_tiles.append(at_wb(img, asshot_wb, edit_wb))
        head_caps.append(["photographer's edit", wb_caption(*edit_wb),
                          f"error {err_k:+,.0f} K / {pred_wb[1] - edit_wb[1]:+.0f}"
                          # "dE00": PIL's default font has no Δ
                          + (f", dE00 {delta_e:.2f}" if delta_e is not None and np.isfinite(delta_e) else "")])
    pad = (-len(head_tiles)) % cols
    tiles, caps = neighbour_tiles(train, sims, idx, size)
    return make_grid(head_tiles + [None] * pad + tiles, head_caps + [[]] * pad + caps, cols, size)


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


# ---------------------------------------------------------------------------------------------------
# The stage
# ---------------------------------------------------------------------------------------------------
def _blend_params(model: Any) -> BlendParams:
    """The model's fitted blend mode/tau (for the disagreement ranking), defaults if it has none."""
    bp = getattr(model, "blend_params", None)
    if isinstance(bp, BlendParams):
        return bp
    if isinstance(bp, dict):
        names = {f.name for f in dataclasses.fields(BlendParams)}
        return BlendParams(**{k: v for k, v in bp.items() if k in names})
    return BlendParams()


def _select(cfg: AuditConfig, ids: list[str], delta_e: np.ndarray | None, disagreement: np.ndarray) -> list[int]:
    if cfg.ids:
        wanted = [s.strip() for s in cfg.ids.split(",") if s.strip()]
        pos = {v: i for i, v in enumerate(ids)}
        missing = [w for w in wanted if w not in pos]
        if missing:
            raise CatalogError(f"--ids: {len(missing)} id(s) not in the audited split: {', '.join(missing[:8])}")
        return [pos[w] for w in wanted]
    score = delta_e if delta_e is not None else disagreement
    score = np.where(np.isfinite(score), score, -np.inf)
    return [int(i) for i in np.argsort(-score, kind="stable")[:max(cfg.worst, 0)]]


@dataclass
class Audited:
    """The audited photos as `predict` sees them, and their training neighbours (one row per photo)."""

    model: WBModel
    index: NeighborIndex
    catalog: Any                 # catalog.reader.Catalog of the audited split, images at the model's size
    split: str
    pred: pd.DataFrame           # WBModel.predict_full(...).table: exactly what `predict` writes
    train: pd.DataFrame          # train_photos(): one row per indexed training photo
    sims: np.ndarray             # (N, k) float32 cosine similarity of each photo's neighbours
    idx: np.ndarray              # (N, k) int64 index rows of those neighbours, -1 where none

    @property
    def ids(self) -> list[str]:
        return self.catalog.table["id_global"].astype(str).tolist()


def _fresh_output(out: Path) -> None:
    """OUT/grids and OUT/anomalies, emptied of an earlier audit's pictures (no page would list them)."""
    for sub in ("grids", "anomalies"):
        (out / sub).mkdir(parents=True, exist_ok=True)
        for old in (out / sub).glob("*.png"):
            old.unlink()
    load_tile.cache_clear()


def load_audited(cfg: AuditConfig) -> Audited:
    """Model, index, the audited split predicted exactly as `predict` would (the model's own k,
    blending and batch smoothing; cfg.k only sets how many neighbours the grids show)."""
    data = Path(cfg.data)
    model = WBModel.load(cfg.model, threads=cfg.workers, device=cfg.device)
    index = model.index if model.index is not None else NeighborIndex.load(cfg.model)
    split = resolve_split(data, cfg.split)
    catalog = load_catalog(data, split, image_size=model.image_size, workers=cfg.workers, progress=cfg.progress)
    full = model.predict_full(catalog, blend=True, smooth=True, progress=cfg.progress)
    ids = catalog.table["id_global"].astype(str).tolist()
    sims, idx = neighbours_excluding(index, full.embeddings, ids, cfg.k)
    return Audited(model, index, catalog, split, full.table, train_photos(data, index), sims, idx)


def delta_e_scores(a: Audited, labels: np.ndarray) -> np.ndarray:
    """(N,) ΔE00 of each photo between its renders at the prediction and at the edit, exactly as
    `evaluate` computes it (app.evaluate.run.photo_delta_e); NaN where the edit is unknown."""
    rows = np.flatnonzero(np.isfinite(labels).all(1))
    out = np.full(len(labels), np.nan)
    if len(rows):
        joined = a.catalog.table.iloc[rows].reset_index(drop=True).assign(
            Temperature=labels[rows, 0], Tint=labels[rows, 1],
            pred_Temperature=a.pred["Temperature"].to_numpy(np.float64)[rows],
            pred_Tint=a.pred["Tint"].to_numpy(np.float64)[rows])
        out[rows] = photo_delta_e(a.catalog, {"predicted": joined})[0]["predicted"]
    return out


def audit_scores(cfg: AuditConfig, a: Audited) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray]:
    """(labels (N, 2) K/tint or None, ΔE00 per photo or None, head-vs-neighbours disagreement): the
    largest colour differences are audited when labels are known, else the largest disagreements."""
    data, table = Path(cfg.data), a.catalog.table
    answers = cfg.answers if cfg.answers is not None else (data / "answers.csv" if (data / "answers.csv").is_file()
                                                           else None)
    labels = query_labels(a.catalog, answers if a.split != "Train" else None)
    delta_e = None if labels is None else delta_e_scores(a, labels)
    bp = _blend_params(a.model)
    asshot = np.c_[kelvin_to_mired(table["currTemp"].to_numpy(np.float64)), table["currTint"].to_numpy(np.float64)]
    nb_mean, _ = neighbour_mean(asshot, a.sims, a.idx, a.index.edits, a.index.asshot, bp.mode, bp.tau, min_sim=-1.0)
    head = a.pred[["head_mired", "head_tint"]].to_numpy(np.float64)
    disagreement = np.nan_to_num(np.abs(head - nb_mean).sum(1), nan=0.0)
    return labels, delta_e, disagreement


def photo_grids(cfg: AuditConfig, a: Audited, out: Path, chosen: list[int], labels: np.ndarray | None,
                delta_e: np.ndarray | None, disagreement: np.ndarray) -> list[dict[str, Any]]:
    """One grid PNG per chosen photo (OUT/grids); one summary row per grid."""
    from rich.progress import track

    table, pred, ids = a.catalog.table, a.pred, a.ids
    shoot = table["shoot"] if "shoot" in table.columns else pd.Series([None] * len(table))
    rows = []
    for n, i in enumerate(track(chosen, description="audit grids", disable=not cfg.progress)):
        edit_wb = (float(labels[i, 0]), float(labels[i, 1])) if labels is not None else None
        asshot_wb = (float(table["currTemp"].iloc[i]), float(table["currTint"].iloc[i]))
        pred_wb = (float(pred["Temperature"].iloc[i]), float(pred["Tint"].iloc[i]))
        grid = query_grid(str(a.catalog.image_paths[i]), asshot_wb, pred_wb, edit_wb, ids[i], shoot.iloc[i], a.train,
                          a.sims[i], a.idx[i], cfg.tile, delta_e=None if delta_e is None else float(delta_e[i]))
        name = safe_name(n, ids[i])
        grid.save(out / "grids" / name, compress_level=1)
        valid = a.idx[i] >= 0
        rows.append({"id_global": ids[i], "grid": f"grids/{name}", "pred_T": pred_wb[0], "pred_tint": pred_wb[1],
                     "edit_T": edit_wb[0] if edit_wb else None, "edit_tint": edit_wb[1] if edit_wb else None,
                     "delta_e": None if delta_e is None else float(delta_e[i]),
                     "disagreement": float(disagreement[i]),
                     "mean_sim": float(a.sims[i][valid].mean()) if valid.any() else None, "shoot": shoot.iloc[i]})
    return rows


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


def anomaly_grids(cfg: AuditConfig, a: Audited, anomalies: pd.DataFrame, out: Path) -> list[dict[str, Any]]:
    """Grids (OUT/anomalies) of the top anomalies: the edit at the photographer's WB beside its
    near-duplicates at theirs; one row per grid."""
    top = anomalies.head(max(cfg.anomaly_grids, 0))
    index, train = a.index, a.train
    pos = {v: i for i, v in enumerate(index.ids)}
    rows_idx = [pos[v] for v in top["id_global"]]
    a_sims, a_idx = neighbours_excluding(index, index.vectors()[rows_idx] if rows_idx else
                                         np.zeros((0, index.dim), np.float32),
                                         top["id_global"].tolist(), cfg.k, normalized=True)
    rows = []
    for n, (j, (_, an)) in enumerate(zip(rows_idx, top.iterrows())):
        r = train.iloc[j]
        img = load_tile(r["path"], cfg.tile) if r["path"] else None
        tiles, caps = neighbour_tiles(train, a_sims[n], a_idx[n], cfg.tile)
        own = [f"ANOMALY {an['id_global']}", f"edit {wb_caption(r['Temperature'], r['Tint'])}",
               f"z {an['z_mired']:+.1f} mired / {an['z_tint']:+.1f} tint", f"shoot {r['shoot'] or '?'}"]
        grid = make_grid([at_wb(img, (r["currTemp"], r["currTint"]), (r["Temperature"], r["Tint"]))] + tiles,
                         [own] + caps, GRID_COLS, cfg.tile)
        name = safe_name(n, an["id_global"])
        grid.save(out / "anomalies" / name, compress_level=1)
        rows.append({**an.to_dict(), "grid": f"anomalies/{name}"})
    return rows


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


def run_audit(cfg: AuditConfig) -> Path:
    """Grids of the worst (or chosen) photos and of the label anomalies, one sortable page, audit.json."""
    seed_everything(cfg.seed)
    out = Path(cfg.out) if cfg.out else Path(cfg.model) / "audit"
    _fresh_output(out)
    a = load_audited(cfg)
    labels, delta_e, disagreement = audit_scores(cfg, a)
    chosen = _select(cfg, a.ids, delta_e, disagreement)
    rows = photo_grids(cfg, a, out, chosen, labels, delta_e, disagreement)
    sections = [photos_section(rows, a.split, len(a.ids))]

    anomaly_rows: list[dict[str, Any]] = []
    n_anomalies = 0
    bp = _blend_params(a.model)
    if cfg.anomalies:
        anomalies = find_anomalies(a.index, None, k=cfg.k, min_sim=cfg.anomaly_min_sim, z=cfg.anomaly_z, mode=bp.mode)
        anomalies.to_csv(out / "anomalies.csv", index=False)
        n_anomalies = len(anomalies)
        anomaly_rows = anomaly_grids(cfg, a, anomalies, out)
        sections.append(anomalies_section(anomalies, anomaly_rows))

    in_sample = " These are training photos: their neighbours exclude themselves, but the model has seen them." \
        if a.split == "Train" else ""
    intro = (f"Model <code>{html.escape(str(cfg.model))}</code>, catalog <code>{html.escape(str(cfg.data))}</code> "
             f"({a.split}). Each grid: the photo as shot, at the predicted white balance, at the photographer's edit "
             f"(when known), then its {cfg.k} nearest training photos at their edits. Click a column to sort."
             + in_sample)
    page = write_page(out, "wbstyle consistency audit", intro, sections)
    write_json(out / "audit.json", {**provenance(cfg), "split": a.split, "n_photos": len(a.ids), "n_grids": len(rows),
                                    "labelled": labels is not None, "blend_params": dataclasses.asdict(bp),
                                    "photos": rows, "n_anomalies": n_anomalies,
                                    "anomaly_grids": [r["grid"] for r in anomaly_rows]})
    return page
