"""Smoke tests of the real command line on tiny budgets: every stage through click, as a user runs it."""
from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

import cli


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _ok(result):
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.output}\n{result.exception!r}"
    return result


def test_help_lists_every_command():
    out = _ok(CliRunner().invoke(cli.main, ["--help"])).output
    for cmd in ("validate", "pretrain", "finetune", "predict", "audit", "evaluate", "demo"):
        assert cmd in out


def test_options_come_from_the_dataclass():
    out = _ok(CliRunner().invoke(cli.main, ["pretrain", "--help"])).output
    # a documented field of PretrainConfig appears as an option with its help text
    assert "--batch-size" in out and "--resume / --no-resume" in out
    missing = CliRunner().invoke(cli.main, ["pretrain"])
    assert missing.exit_code != 0 and "--data" in missing.output


def test_validate_exit_codes(make_catalog, tmp_path):
    root = make_catalog(tmp_path, n_train=6, n_val=2, layout="B")
    res = _ok(CliRunner().invoke(cli.main, ["validate", str(root)]))
    assert "Train" in res.output
    # break the catalog: a missing image must give a non-zero exit and name the id
    img = next((root / "Train" / "images").iterdir())
    img.unlink()
    res = CliRunner().invoke(cli.main, ["validate", str(root)])
    assert res.exit_code != 0
    assert img.stem in res.output


def test_every_stage_through_the_cli(make_catalog, tmp_path):
    root = make_catalog(tmp_path, n_train=24, n_val=6, layout="A", size=32)
    model = tmp_path / "run1"
    r = CliRunner()
    _ok(r.invoke(cli.main, ["pretrain", "--data", str(root), "--out", str(model), "--epochs", "2",
                            "--batch-size", "8", "--image-size", "32", "--load-size", "32", "--width", "8",
                            "--no-progress", "--device", "cpu", "--eval-every", "0"]))
    assert (model / "encoder.safetensors").exists()
    _ok(r.invoke(cli.main, ["finetune", "--data", str(root), "--encoder", str(model), "--out", str(model),
                            "--epochs", "3", "--ensemble", "1", "--rerender-aug", "1", "--no-progress",
                            "--device", "cpu", "--threads", "1"]))
    assert (model / "head.safetensors").exists() and (model / "manifest.json").exists()
    pred = tmp_path / "pred.csv"
    _ok(r.invoke(cli.main, ["predict", "--data", str(root), "--model", str(model), "--out", str(pred),
                            "--blend-neighbors", "--k", "4", "--no-progress", "--device", "cpu"]))
    df = pd.read_csv(pred)
    inputs = pd.read_csv(root / "Validation" / "sliders_inputs.csv")
    assert list(df.columns) == ["id_global", "Temperature", "Tint"]
    assert df["id_global"].tolist() == inputs["id_global"].tolist()
    assert df["Temperature"].between(2000, 50000).all() and df["Tint"].between(-150, 150).all()
    audit = tmp_path / "audit"
    _ok(r.invoke(cli.main, ["audit", "--data", str(root), "--model", str(model), "--out", str(audit),
                            "--worst", "2", "--k", "3", "--tile", "64", "--no-progress", "--device", "cpu"]))
    grids = list((audit / "grids").glob("*.png"))
    assert len(grids) == 2  # --worst 2
    page = (audit / "index.html").read_text()
    assert all(g.name in page for g in grids)
    ev = tmp_path / "eval"
    _ok(r.invoke(cli.main, ["evaluate", "--data", str(root), "--model", str(model), "--split", "Train",
                            "--out", str(ev), "--max-photos", "8", "--n-variants", "2", "--n-brackets", "3",
                            "--no-progress", "--device", "cpu"]))
    result = json.loads((ev / "evaluation.json").read_text())
    assert result  # parsed JSON with content
    assert list(ev.glob("*.png"))


def test_demo_runs_every_stage(tmp_path):
    out = tmp_path / "demo"
    res = _ok(CliRunner().invoke(cli.main, [
        "demo", "--out", str(out), "--n-train", "24", "--n-val", "6", "--size", "48", "--pretrain-epochs", "1",
        "--finetune-epochs", "2", "--ensemble", "1", "--image-size", "32", "--width", "8", "--device", "cpu",
        "--no-progress"]))
    pred = pd.read_csv(out / "model" / "predictions.csv")
    answers = pd.read_csv(out / "catalog" / "answers.csv")
    assert sorted(pred["id_global"]) == sorted(answers["id_global"])
    assert (out / "model" / "audit" / "index.html").exists()
    assert (out / "model" / "eval" / "evaluation.json").exists()
    assert "predictions" in res.output


def test_demo_lightroom_runs_the_whole_loop(tmp_path):
    """`demo --lightroom`: .lrcat + DNG/JPEG folders -> import -> train -> ingest -> predict -> apply;
    every photo of the new shoot gets a prediction and its white balance written back where
    Lightroom reads it (a sidecar or the file's own XMP)."""
    out = tmp_path / "demo"
    _ok(CliRunner().invoke(cli.main, [
        "demo", "--lightroom", "--out", str(out), "--n-train", "16", "--n-val", "4", "--size", "48",
        "--pretrain-epochs", "1", "--finetune-epochs", "2", "--ensemble", "1", "--image-size", "32", "--width", "8",
        "--device", "cpu", "--no-progress"]))
    lr = out / "lightroom"
    pred = pd.read_csv(lr / "model" / "predictions.csv")
    shoot = [p for p in (lr / "setup").rglob("*") if p.suffix.lower() in (".dng", ".jpg", ".jpeg")
             and p.parent.name != "images" and "new" in str(p.parent).lower()]
    assert len(pred) == 4 and set(pred["id_global"]) == {p.stem for p in shoot}
    assert (lr / "model" / "eval" / "evaluation.json").exists()
    written = [p for p in shoot if p.with_suffix(".xmp").exists() or p.with_name(p.name + "_original").exists()]
    assert len(written) == len(shoot)  # each photo changed (sidecar, or embedded XMP with its backup kept)
