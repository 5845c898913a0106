"""wbstyle command line: learn a photographer's white-balance style and predict Temperature/Tint.

    python cli.py demo                       # builds a small demo catalog and runs every stage
    python cli.py validate ROOT              # what is in a catalog, and what is wrong with it
    python cli.py pretrain --data ROOT --out artifacts/run1
    python cli.py finetune --data ROOT --encoder artifacts/run1 --out artifacts/run1
    python cli.py predict  --data ROOT --model artifacts/run1 --out predictions.csv --blend-neighbors
    python cli.py audit    --data ROOT --model artifacts/run1
    python cli.py evaluate --data ROOT --model artifacts/run1

Every command's options come from the dataclass of options that its stage defines (field by field,
with the help text written next to the field), so a stage and its command never disagree.
"""
from __future__ import annotations

import dataclasses
import sys
import typing
from pathlib import Path
from typing import Any, Callable

import click


def _unwrap_optional(tp: Any) -> Any:
    """Optional[X] / X | None -> X (click wants the concrete type)."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, getattr(__import__("types"), "UnionType", None)) and len(args) == 1:
        return args[0]
    return tp


def options_from(cls: type, positional: tuple[str, ...] = ()) -> Callable[[Callable], Callable]:
    """Turn each field of the options dataclass `cls` into a click option (or argument).

    bool fields become --x/--no-x flags; Path/str/int/float keep their type; the help text is the
    field's metadata["help"]. The decorated function receives a ready `cls` instance.
    """
    hints = typing.get_type_hints(cls)

    def decorate(fn: Callable) -> Callable:
        params = []
        for f in dataclasses.fields(cls):
            if not f.init:
                continue
            tp = _unwrap_optional(hints[f.name])
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                default = f.default_factory()  # type: ignore[misc]
            else:
                default = None
            required = f.metadata.get("required", f.default is dataclasses.MISSING
                                      and f.default_factory is dataclasses.MISSING)  # type: ignore[misc]
            help_ = f.metadata.get("help", "")
            flag = f.name.replace("_", "-")
            if f.name in positional:
                params.append(click.Argument([f.name], type=click.Path(), required=default is None,
                                             **({} if default is None else {"default": str(default)})))
                continue
            if tp is bool:
                params.append(click.Option([f"--{flag}/--no-{flag}", f.name], default=bool(default),
                                           show_default=True, help=help_))
            else:
                ctype = {int: int, float: float}.get(tp, str)
                # click >= 8.3 treats an explicit default=None as a value: pass a default only if there is one
                extra = {} if default is None else {"default": default, "show_default": True}
                params.append(click.Option([f"--{flag}", f.name], type=ctype, required=required, help=help_,
                                           **extra))

        def wrapper(**kwargs: Any) -> Any:
            vals = {}
            for f in dataclasses.fields(cls):
                if f.name in kwargs:
                    v = kwargs[f.name]
                    if v is not None and _unwrap_optional(hints[f.name]) is Path:
                        v = Path(v)
                    vals[f.name] = v
            return fn(cls(**vals))

        wrapper.__name__ = fn.__name__
        wrapper.__doc__ = fn.__doc__
        wrapper.__click_params__ = list(reversed(params))  # type: ignore[attr-defined]
        return wrapper

    return decorate


def _fail_on_catalog_errors(fn: Callable[[], Any]) -> Any:
    """Users get the specific CatalogError message and exit code 2, not a traceback."""
    from catalog.errors import CatalogError

    try:
        return fn()
    except CatalogError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
def main() -> None:
    """wbstyle: learns a photographer's white-balance style from their edited catalog."""


# --------------------------------------------------------------------------- catalog
from catalog.validate import ValidateConfig, run_validate  # noqa: E402


@main.command("validate")
@options_from(ValidateConfig, positional=("data",))
def validate_cmd(cfg: ValidateConfig) -> None:
    """Report what a catalog holds (rows, images, columns, labels, cameras, shoots) and its problems."""
    code = _fail_on_catalog_errors(lambda: run_validate(cfg))
    sys.exit(code)


# --------------------------------------------------------------------------- stages
from pretrain.train import PretrainConfig, run_pretrain  # noqa: E402


@main.command("pretrain")
@options_from(PretrainConfig)
def pretrain_cmd(cfg: PretrainConfig) -> None:
    """Stage 1: SimCLR pretraining of the compact encoder on the catalog's own images."""
    path = _fail_on_catalog_errors(lambda: run_pretrain(cfg))
    click.echo(f"encoder: {path}")


from finetune.train import FinetuneConfig, run_finetune  # noqa: E402


@main.command("finetune")
@options_from(FinetuneConfig)
def finetune_cmd(cfg: FinetuneConfig) -> None:
    """Stage 2: train the metadata-fused regression head (grouped validation, then refit)."""
    _fail_on_catalog_errors(lambda: run_finetune(cfg))


from finetune.predict import PredictConfig, run_predict  # noqa: E402


@main.command("predict")
@options_from(PredictConfig)
def predict_cmd(cfg: PredictConfig) -> None:
    """Predict Temperature/Tint: one CSV row per input row (id_global,Temperature,Tint)."""
    path = _fail_on_catalog_errors(lambda: run_predict(cfg))
    click.echo(f"predictions: {path}")


from retrieval.audit import AuditConfig, run_audit  # noqa: E402


@main.command("audit")
@options_from(AuditConfig)
def audit_cmd(cfg: AuditConfig) -> None:
    """Neighbour grids (PNG + index.html) for consistency audits, and label-anomaly reports."""
    path = _fail_on_catalog_errors(lambda: run_audit(cfg))
    click.echo(f"audit page: {path}")


from finetune.evaluate import EvaluateConfig, run_evaluate  # noqa: E402


@main.command("evaluate")
@options_from(EvaluateConfig)
def evaluate_cmd(cfg: EvaluateConfig) -> None:
    """Accuracy (MAE K/tint/mired, per camera and temperature band), consistency and plots."""
    _fail_on_catalog_errors(lambda: run_evaluate(cfg))


# --------------------------------------------------------------------------- demo
@dataclasses.dataclass
class DemoConfig:
    out: Path = dataclasses.field(default=Path("artifacts/demo"), metadata={
        "help": "Folder for the demo catalog (OUT/catalog) and the model, predictions, audit and plots (OUT/model)."})
    n_train: int = dataclasses.field(default=240, metadata={"help": "Edited (labelled) demo photos."})
    n_val: int = dataclasses.field(default=60, metadata={"help": "Unseen demo photos to predict."})
    size: int = dataclasses.field(default=256, metadata={"help": "Side of the demo renders (pixels)."})
    pretrain_epochs: int = dataclasses.field(default=30, metadata={"help": "SimCLR epochs of stage 1."})
    finetune_epochs: int = dataclasses.field(default=40, metadata={"help": "Head epochs of stage 2."})
    ensemble: int = dataclasses.field(default=5, metadata={"help": "Heads averaged in stage 2."})
    image_size: int = dataclasses.field(default=96, metadata={"help": "Side of the encoder's input (pixels)."})
    width: int = dataclasses.field(default=24, metadata={"help": "Encoder width (channels of its first stage)."})
    device: str = dataclasses.field(default="auto", metadata={"help": "auto | cpu | cuda | mps."})
    seed: int = dataclasses.field(default=0, metadata={"help": "Seed of the demo data and of every stage."})
    progress: bool = dataclasses.field(default=True, metadata={"help": "Show progress bars and tables."})


def run_demo(cfg: DemoConfig) -> dict[str, Path]:
    """Build the demo catalog, then run every stage on it exactly as a user would from the shell."""
    from rich.console import Console

    from catalog.demo import make_demo_catalog

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
    console.rule("pretrain")
    run_pretrain(PretrainConfig(data=root, out=model, epochs=cfg.pretrain_epochs, image_size=cfg.image_size,
                                width=cfg.width, device=cfg.device, seed=cfg.seed, progress=cfg.progress))
    console.rule("finetune")
    run_finetune(FinetuneConfig(data=str(root), encoder=str(model), out=str(model), epochs=cfg.finetune_epochs,
                                ensemble=cfg.ensemble, device=cfg.device, seed=cfg.seed, progress=cfg.progress))
    console.rule("predict")
    pred = run_predict(PredictConfig(data=str(root), model=str(model), out=str(model / "predictions.csv"),
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


@main.command("demo")
@options_from(DemoConfig)
def demo_cmd(cfg: DemoConfig) -> None:
    """Run the whole system on an embedded demo catalog (no data needed)."""
    _fail_on_catalog_errors(lambda: run_demo(cfg))


if __name__ == "__main__":
    main()
