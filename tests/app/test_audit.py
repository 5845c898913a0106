"""Audit grids and pages: the small drawing functions, and run_audit end to end on a tiny model."""
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from core.errors import CatalogError
from app.audit.grids import at_wb, make_grid, safe_name
from app.audit.page import html_table

torch.set_num_threads(1)


def test_make_grid_size_blanks_and_captions():
    rng = np.random.default_rng(0)
    tiles = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(5)] + [None]
    caps = ["a\nb", ["one"], "", "x", "y", "blank"]
    g = make_grid(tiles, caps, cols=4)
    assert g.size[0] == 4 * 32
    rows = 2
    cap_h = g.size[1] // rows - 32
    assert g.size[1] == rows * (32 + cap_h) and cap_h > 2 * 10   # room for the 2-line caption
    a = np.asarray(g)
    np.testing.assert_array_equal(a[:32, 32:64], tiles[1])        # tile 2 sits at column 2, row 1
    np.testing.assert_array_equal(a[32 + cap_h:64 + cap_h, :32], tiles[4])
    assert (a[32 + cap_h:64 + cap_h, 32:64] == a[32 + cap_h, 33]).all()  # the blank slot is one flat colour
    assert (a[32:32 + cap_h, :32] < 128).any()                   # caption text was drawn under tile 1
    big = make_grid([tiles[0]], ["r"], cols=3, tile=64)          # other tile sizes are resized
    assert big.size[0] == 3 * 64 and np.asarray(big)[:64, :64].std() > 0
    with pytest.raises(ValueError, match="captions"):
        make_grid(tiles, caps[:2], cols=2)


def test_at_wb_rerenders_and_keeps_unknowns():
    img = np.full((8, 8, 3), 128, np.uint8)
    warmer = at_wb(img, (5000, 0), (7000, 0))   # higher target Temperature -> warmer (redder) rendering
    assert warmer[..., 0].mean() > warmer[..., 2].mean()
    np.testing.assert_array_equal(at_wb(img, (5000, 0), (5000, 0)), img)
    assert at_wb(img, (float("nan"), 0), (6000, 0)) is img
    assert at_wb(None, (5000, 0), (6000, 0)) is None


def test_safe_name_and_table_escape():
    name = safe_name(3, "a b:c.d")
    assert name == "003_a_b_c.d.png" and " " not in name
    with pytest.raises(CatalogError, match="is not a file name"):  # the one id check (core.ids) refuses paths
        safe_name(3, "../a b/c")
    t = html_table(["id", "x<"], [[("<i>a</i>", 'a"<'), ("1", "1")]])  # cells are html, sort keys are text
    assert "<i>a</i>" in t and 'data-v="a&quot;&lt;"' in t and "x&lt;" in t and t.count("<tr>") == 2


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs += [v for k, v in attrs if k == "href"]


def _tiny_model(root: Path, out: Path) -> Path:
    """A real model folder through the real stages, on tiny budgets."""
    from finetune.train import FinetuneConfig, run_finetune
    from pretrain.train import PretrainConfig, run_pretrain

    run_pretrain(PretrainConfig(data=root, out=out, epochs=1, batch_size=8, image_size=32, load_size=32, width=8,
                                proj_dim=16, eval_every=0, progress=False, workers=1, device="cpu"))
    run_finetune(FinetuneConfig(data=str(root), encoder=str(out), out=str(out), epochs=2, batch_size=16, hidden=16,
                                ensemble=1, rerender_aug=0, baselines=False, refit=False, threads=1, workers=1,
                                device="cpu", progress=False))
    return out


def test_run_audit_end_to_end(make_catalog, tmp_path):
    from core.errors import CatalogError
    from catalog.images import read_image, square_resize
    from catalog.reader import read_catalog
    from app.audit.run import AuditConfig, run_audit

    root = make_catalog(n_train=24, n_val=6, size=32, with_labels=False)
    model = _tiny_model(root, tmp_path / "model")
    base = dict(data=root, model=model, k=4, tile=64, device="cpu", progress=False, workers=1)

    # 1) default: the (unlabelled) Validation split, worst by head-vs-neighbour disagreement, + anomalies
    page = run_audit(AuditConfig(**base, worst=3, anomaly_grids=2, anomaly_min_sim=-1.0, anomaly_z=0.0))
    out = model / "audit"
    assert page == out / "index.html"
    links = _Links()
    links.feed(page.read_text())
    pngs = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert len([p for p in pngs if p.startswith("grids/")]) == 3
    assert len([p for p in pngs if p.startswith("anomalies/")]) == 2
    assert set(pngs) <= set(links.hrefs)                          # every grid is reachable from the page
    for p in pngs:
        w, h = Image.open(out / p).size
        assert w == 4 * 64 and h % 2 == 0 and h > 2 * 64         # 2 rows: (as shot, predicted) + 4 neighbours
    anomalies = pd.read_csv(out / "anomalies.csv")
    assert {"id_global", "mired", "tint", "neighbour_mired", "neighbour_tint", "z_mired", "z_tint", "n_neighbors",
            "shoot"} <= set(anomalies.columns) and len(anomalies) >= 2
    assert (anomalies["severity"].diff().dropna() <= 0).all()

    # 2) chosen training photos (labelled): tiles are the photo as shot and re-rendered at the prediction
    train = read_catalog(root, "Train")
    ids = train.table["id_global"].tolist()[:2]
    page = run_audit(AuditConfig(**base, split="Train", ids=",".join(ids), anomalies=False, out=tmp_path / "a2"))
    info = pd.read_json(tmp_path / "a2" / "audit.json", typ="series")
    photos = pd.DataFrame(info["photos"])
    assert info["labelled"] and photos["id_global"].tolist() == ids and photos["edit_T"].notna().all()
    assert not (tmp_path / "a2" / "anomalies.csv").exists()
    grid = np.asarray(Image.open(tmp_path / "a2" / photos["grid"][0]))
    shot = square_resize(read_image(train.image_paths[0]), 64)
    np.testing.assert_array_equal(grid[:64, :64], shot)
    row = train.table.iloc[0]
    expect = at_wb(shot, (row["currTemp"], row["currTint"]), (photos["pred_T"][0], photos["pred_tint"][0]))
    np.testing.assert_array_equal(grid[:64, 64:128], expect)
    edit = at_wb(shot, (row["currTemp"], row["currTint"]), (row["Temperature"], row["Tint"]))
    np.testing.assert_array_equal(grid[:64, 128:192], edit)
    assert all(f'href="{g}"' in page.read_text() for g in photos["grid"])

    # 3) --worst on a labelled split: ranked by ΔE00 of the renders at the prediction vs the edit, as evaluate has it
    from core.canonical import to_reference
    from catalog.delta_e import render_delta_e
    from catalog.reader import load_catalog
    from finetune.predict import WBModel

    run_audit(AuditConfig(**base, split="Train", worst=3, anomalies=False, out=tmp_path / "a4"))
    photos = pd.DataFrame(pd.read_json(tmp_path / "a4" / "audit.json", typ="series")["photos"])
    de = photos["delta_e"].to_numpy()
    assert len(de) == 3 and np.all(de > 0) and np.all(np.diff(de) <= 0)
    cat = load_catalog(root, "Train", image_size=WBModel.load(model).image_size, progress=False)
    rows = pd.Index(cat.table["id_global"]).get_indexer(photos["id_global"])
    t = cat.table.iloc[rows]
    canonical = to_reference(cat.images[rows], t["currTemp"], t["currTint"])
    np.testing.assert_allclose(render_delta_e(canonical, photos["pred_T"], photos["pred_tint"], t["Temperature"],
                                              t["Tint"]), de, rtol=1e-6)

    with pytest.raises(CatalogError, match="not in the audited split"):
        run_audit(AuditConfig(**base, split="Train", ids="no-such-photo", anomalies=False, out=tmp_path / "a3"))
