"""wbstyle command line: learn a photographer's white-balance style and predict Temperature/Tint.

    python cli.py demo                       # builds a small demo catalog and runs every stage
    python cli.py validate ROOT              # what is in a catalog, and what is wrong with it
    python cli.py pretrain --data ROOT --out artifacts/model
    python cli.py finetune --data ROOT --encoder artifacts/model --out artifacts/model
    python cli.py predict  --data ROOT --model artifacts/model --out predictions.csv --blend-neighbors
    python cli.py audit    --data ROOT --model artifacts/model
    python cli.py evaluate --data ROOT --model artifacts/model

Every command's options come from its options dataclass (field by field, with the help text written
next to the field), so a command and the code it runs never disagree; the code that runs a command
is imported only when that command runs (ARCHITECTURE.md).
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
    field's docstring (core.options.field_docs). The decorated function receives a ready `cls` instance.
    """
    from core.options import field_docs

    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)

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
            help_ = docs.get(f.name, "")
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
                        # an empty value of an optional path means "none" (e.g. finetune --encoder "")
                        v = None if v == "" and _unwrap_optional(hints[f.name]) is not hints[f.name] else Path(v)
                    vals[f.name] = v
            return fn(cls(**vals))

        wrapper.__name__ = fn.__name__
        wrapper.__doc__ = fn.__doc__
        wrapper.__click_params__ = list(reversed(params))  # type: ignore[attr-defined]
        return wrapper

    return decorate


def argv_for(cfg_cls: type, overrides: dict[str, Any], positional: tuple[str, ...] = ()) -> list[str]:
    """The inverse of `options_from`: field values -> the command-line arguments that set them.

    bool fields become --x / --no-x, other values --x VALUE; fields named in `positional` become bare
    arguments (in the order given). A name that is not an option of `cfg_cls` is an error, so a
    caller (the benchmarks) cannot silently drop a setting it meant to pass.

        argv_for(PretrainConfig, {"epochs": 2, "progress": False})  # ['--epochs', '2', '--no-progress']
    """
    fields = {f.name for f in dataclasses.fields(cfg_cls) if f.init}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"{cfg_cls.__name__} has no option {unknown}; its options: {sorted(fields)}")
    args = [str(overrides[name]) for name in positional if name in overrides]
    for name, value in overrides.items():
        if name in positional or value is None:
            continue
        flag = name.replace("_", "-")
        args += [f"--{flag}" if value else f"--no-{flag}"] if isinstance(value, bool) else [f"--{flag}", str(value)]
    return args


def _fail_on_catalog_errors(fn: Callable[[], Any]) -> Any:
    """Users get the specific CatalogError message and exit code 2, not a traceback."""
    from core.errors import CatalogError

    try:
        return fn()
    except CatalogError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
def main() -> None:
    """wbstyle: learns a photographer's white-balance style from their edited catalog."""


def command(name: str, cfg_cls: type, run: str, help: str, positional: tuple[str, ...] = (),
            says: str | None = None, exit_code: bool = False) -> None:
    """Register `cli.py NAME`: options from `cfg_cls`, then `run(cfg)` with CatalogErrors as messages.

    run: "module:function", imported only when the command runs, so that `cli.py --help` and the
    commands of the lean (torch-free) install never import the training stages.
    says: echo "SAYS: <what run returned>" afterwards; exit_code: run's return value is the exit code.
    """
    module, function = run.split(":")

    def cmd(cfg: Any) -> None:
        import importlib

        value = _fail_on_catalog_errors(lambda: getattr(importlib.import_module(module), function)(cfg))
        if exit_code:
            sys.exit(value)
        if says:
            click.echo(f"{says}: {value}")

    cmd.__name__, cmd.__doc__ = f"{name.replace('-', '_')}_cmd", help
    main.command(name)(options_from(cfg_cls, positional=positional)(cmd))


# --------------------------------------------------------------------------- commands
from app.options import AddEditsConfig, AuditConfig, EvaluateConfig, PredictConfig  # noqa: E402
from catalog.options import ValidateConfig  # noqa: E402
from demo.options import DemoConfig  # noqa: E402
from finetune.options import FinetuneConfig  # noqa: E402
from lightroom.options import ApplyConfig, ImportConfig, IngestConfig  # noqa: E402
from pretrain.options import PretrainConfig  # noqa: E402

command("validate", ValidateConfig, "catalog.validate:run_validate", positional=("data",), exit_code=True,
        help="Report what a catalog holds (rows, images, columns, labels, cameras, shoots) and its problems.")
command("pretrain", PretrainConfig, "pretrain.train:run_pretrain", says="encoder",
        help="Stage 1: SimCLR pretraining of the compact encoder on the catalog's own images.")
command("finetune", FinetuneConfig, "finetune.train:run_finetune",
        help="Stage 2: train the metadata-fused regression head (grouped validation, then refit).")
command("predict", PredictConfig, "app.predict:run_predict", says="predictions",
        help="Predict Temperature/Tint: one CSV row per input row (id_global,Temperature,Tint).")
command("audit", AuditConfig, "app.audit.run:run_audit", says="audit page",
        help="Neighbour grids (PNG + index.html) for consistency audits, and label-anomaly reports.")
command("evaluate", EvaluateConfig, "app.evaluate.run:run_evaluate",
        help="Accuracy (MAE K/tint/mired, per camera and temperature band), consistency and plots.")
command("demo", DemoConfig, "demo.run:run_demo",
        help="Run the whole system on an embedded demo catalog (no data needed).")
command("add-edits", AddEditsConfig, "app.add_edits:run_add_edits",
        help="Add a new shoot's edited photos (DATA/Train) to a model's neighbour index without retraining.")
command("import-lightroom", ImportConfig, "lightroom.import_catalog:run_import_lightroom", positional=("catalog",),
        says="train split",
        help="Turn a Lightroom Classic catalog (.lrcat, read-only) and its photos into Train/sliders.csv + images.")
command("ingest", IngestConfig, "lightroom.ingest:run_ingest", positional=("photos",), says="validation split",
        help="Turn a folder of new raws/DNGs/JPEGs into a Validation layout that `predict` reads.")
command("apply", ApplyConfig, "lightroom.apply:run_apply", positional=("predictions",),
        help="Write predictions as XMP Lightroom reads (sidecars for raws, embedded for DNG/JPEG/TIFF).")
# new commands: one `command(...)` line each, above this comment


if __name__ == "__main__":
    main()
