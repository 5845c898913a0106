"""The audit's pictures: a photo next to its nearest training photos, each rendered at a white balance and
captioned with it, as one PNG grid per audited photo or flagged edit.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from app.audit.audited import Audited, neighbours_excluding
from app.options import AuditConfig
from catalog.images import read_image, square_resize
from core.progress import track
from core.errors import CatalogError
from core.ids import check_id
from core.wb import rerender


GRID_COLS = 4          # 4 x 256 px = 1024 px wide: fits a laptop screen without scaling
FONT_SIZE = 12         # PIL's default font; ~40 characters fit under a 256 px tile
LINE_H = 15            # caption line height (px)
BLANK = (232, 232, 232)


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


def photo_grids(cfg: AuditConfig, a: Audited, out: Path, chosen: list[int], labels: np.ndarray | None,
                delta_e: np.ndarray | None, disagreement: np.ndarray) -> list[dict[str, Any]]:
    """One grid PNG per chosen photo (OUT/grids); one summary row per grid."""
    table, pred, ids = a.catalog.table, a.pred, a.ids
    shoot = table["shoot"] if "shoot" in table.columns else pd.Series([None] * len(table))
    rows = []
    for n, i in enumerate(track(chosen, "audit grids", cfg.progress)):
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
