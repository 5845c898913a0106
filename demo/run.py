"""`cli.py demo`: build the embedded demo catalog, then run every stage on it exactly as a user would.

validate -> pretrain -> finetune -> predict (with neighbour blending) -> audit -> evaluate, each
through the same run function and options dataclass as its own command.
"""
from __future__ import annotations

from pathlib import Path

from rich.console import Console

from app.audit.run import run_audit
from app.evaluate.run import run_evaluate
from app.options import AuditConfig, EvaluateConfig, PredictConfig
from app.predict import run_predict
from catalog.options import ValidateConfig
from catalog.validate import run_validate
from core.locks import write_lock
from demo.generate import make_demo_catalog
from demo.options import DemoConfig
from finetune.options import FinetuneConfig
from finetune.train import run_finetune
from pretrain.options import PretrainConfig
from pretrain.train import run_pretrain


def train_demo_model(cfg: DemoConfig, data: Path, model: Path, console: Console) -> None:
    """pretrain then finetune on `data` into `model`, with the demo's budgets (both demos use it),
    holding the model folder's write lock across both (no other run writes between them)."""
    with write_lock(model, "demo", cfg.lock_timeout):
        console.rule("pretrain")
        run_pretrain(PretrainConfig(data=data, out=model, epochs=cfg.pretrain_epochs, image_size=cfg.image_size,
                                    width=cfg.width, device=cfg.device, seed=cfg.seed, progress=cfg.progress))
        console.rule("finetune")
        run_finetune(FinetuneConfig(data=data, encoder=model, out=model, epochs=cfg.finetune_epochs,
                                    ensemble=cfg.ensemble, device=cfg.device, seed=cfg.seed, progress=cfg.progress))


def run_demo(cfg: DemoConfig) -> dict[str, Path]:
    """Build the demo catalog, then run every stage on it exactly as a user would from the shell."""
    if cfg.lightroom:
        return run_demo_lightroom(cfg)
    console = Console()
    root = cfg.out / "catalog"
    model = cfg.out / "model"
    if (root / "Train" / "sliders.csv").exists():  # the generator wants a fresh folder; the seed makes it identical
        console.print(f"[bold]demo catalog[/] reusing {root}")
    else:
        console.rule("demo catalog")
        make_demo_catalog(root, n_train=cfg.n_train, n_val=cfg.n_val, size=cfg.size, seed=cfg.seed,
                          progress=cfg.progress)
    console.rule("validate")
    if run_validate(ValidateConfig(data=root), console=console) != 0:
        raise SystemExit("the demo catalog failed validation")
    train_demo_model(cfg, root, model, console)
    console.rule("predict")
    pred = run_predict(PredictConfig(data=root, model=model, out=model / "predictions.csv",
                                     blend_neighbors=True, device=cfg.device, progress=cfg.progress))
    console.rule("audit")
    audit = run_audit(AuditConfig(data=root, model=model, answers=root / "answers.csv", worst=12,
                                  device=cfg.device, progress=cfg.progress))
    console.rule("evaluate")
    ev_out = model / "eval"
    run_evaluate(EvaluateConfig(data=root, model=model, answers=root / "answers.csv", out=ev_out,
                                device=cfg.device, seed=cfg.seed, progress=cfg.progress))
    paths = {"predictions": Path(pred), "audit": Path(audit), "evaluation": ev_out}
    console.rule("done")
    for what, p in paths.items():
        console.print(f"[bold]{what}[/]: {p}")
    return paths


def run_demo_lightroom(cfg: DemoConfig, console: Console | None = None) -> dict[str, Path]:
    """`demo --lightroom`: the Lightroom loop on the demo photos, each step the command's own run
    function: build (DNG/JPEG folders + .lrcat) -> import-lightroom -> pretrain -> finetune ->
    ingest -> predict -> apply --dry-run -> apply -> evaluate against the hidden edits.

    cfg: DemoConfig (out, n_train, n_val, size, pretrain/finetune epochs, ensemble,
    image_size, width, device, seed, progress)."""
    # imported here: the raw/XMP libraries load only for this loop
    from lightroom.options import ApplyConfig, ImportConfig, IngestConfig
    from demo.generate_lightroom import make_demo_lightroom
    from lightroom.apply import run_apply
    from lightroom.import_catalog import run_import_lightroom
    from lightroom.ingest import run_ingest

    console = console or Console(quiet=not cfg.progress)
    out = Path(cfg.out) / "lightroom"
    data, model = out / "data", out / "model"
    console.rule("demo Lightroom setup (DNG + JPEG folders, .lrcat)")
    setup = make_demo_lightroom(out / "setup", n_train=cfg.n_train, n_val=cfg.n_val, size=cfg.size, seed=cfg.seed,
                                progress=cfg.progress)
    console.rule("import-lightroom")
    run_import_lightroom(ImportConfig(catalog=setup["catalog"], out=data, progress=cfg.progress), console)
    train_demo_model(cfg, data, model, console)
    console.rule("ingest (the new shoot)")
    run_ingest(IngestConfig(photos=setup["new_shoot"], out=data, progress=cfg.progress), console)
    console.rule("predict")
    pred = Path(run_predict(PredictConfig(data=data, model=model, out=model / "predictions.csv", split="Validation",
                                          device=cfg.device, progress=cfg.progress)))
    console.rule("apply")
    # The new shoot is in no catalog yet and holds no other edit: the white balance alone is all there is.
    run_apply(ApplyConfig(predictions=pred, photos=setup["new_shoot"], dry_run=True, progress=cfg.progress), console)
    run_apply(ApplyConfig(predictions=pred, photos=setup["new_shoot"], wb_only=True, progress=False), console)
    console.rule("evaluate (against the new shoot's hidden edits)")
    run_evaluate(EvaluateConfig(data=data, model=model, pred=pred, answers=setup["answers"], split="Validation",
                                out=model / "eval", device=cfg.device, seed=cfg.seed, progress=cfg.progress))
    return {"catalog": setup["catalog"], "photos": setup["new_shoot"], "predictions": pred,
            "evaluation": model / "eval"}
