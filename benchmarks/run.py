"""Regenerate BENCHMARKS.md: accuracy, consistency and cost of wbstyle, every number measured.

    python benchmarks/run.py                                  # every section, then BENCHMARKS.md
    python benchmarks/run.py --sections cost                  # re-measure one section; the others are kept
    python benchmarks/run.py --sections none                  # only re-render from the stored results
    python benchmarks/run.py --quick --out /tmp/BENCHMARKS.md # tiny demo catalog (about a minute)

Each section stores its result, with the command, date and machine that produced it, as
RESULTS/<section>.json (default artifacts/bench_cache/results/); the report is rendered from every
stored result, so sections can be re-run one at a time. Where things live: harness.py (budgets, the
measured launcher, machine facts, data, the results store), systems.py (the compared systems and
their command lines), accuracy.py (sections real, synthetic), cost.py (section cost), report.py
(markdown). Extra sections live in their own modules (EXTRAS below) and return their own markdown.
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
import os
import shlex
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any, Callable

import click

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python benchmarks/run.py` puts benchmarks/, not the repo, on the path
    sys.path.insert(0, str(ROOT))

from benchmarks import report  # noqa: E402
from benchmarks.accuracy import real_section, synthetic_section  # noqa: E402
from benchmarks.cost import cost_section  # noqa: E402
from benchmarks.harness import (CACHE, FULL, ISA_ENV, QUICK, SCRATCH, Context, NotRun, console, demo_data,  # noqa: E402
                                load_results, run_section, save_result)

SECTIONS: dict[str, Callable[[Context], dict[str, Any]]] = {
    "real": real_section, "synthetic": synthetic_section, "cost": cost_section}


# ---------------------------------------------------------------------------------------------------
# Extra sections: modules of their own that return {"markdown": ..., ...}; one adapter each
# ---------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Extra:
    title: str
    run: Callable[[Context], dict[str, Any]]
    markdown: Callable[[dict[str, Any]], str] | None = None  # when the result carries no "markdown"


def extra_module(name: str) -> ModuleType:
    """benchmarks/<name>.py, imported only when its section runs; absent: the section is not run."""
    if importlib.util.find_spec(f"benchmarks.{name}") is None:
        raise NotRun(f"benchmarks/{name}.py absent")
    return importlib.import_module(f"benchmarks.{name}")


def script_section(name: str, argv: list[str], out: Path) -> dict[str, Any]:
    """An extra module run through its own `main(argv)`, which writes its markdown to `out` (and, where
    it does, its figures to OUT.json): the same command a user can run alone."""
    rc = extra_module(name).main(argv)
    if rc not in (None, 0):
        raise RuntimeError(f"python benchmarks/{name}.py {shlex.join(argv)} exited with {rc}")
    figures = out.with_suffix(".json")
    return {**(json.loads(figures.read_text()) if figures.is_file() else {}), "markdown": out.read_text()}


def script_args(ctx: Context, name: str, data: tuple[str, ...], encoder_flag: str) -> list[str]:
    """The common command line of the extra scripts: --out/--work in the run's folder, threads,
    --quick, the data sets asked for (those not available are left out), and the real section's
    SimCLR encoder when it ran in the same work folder (saves pretraining again)."""
    argv = ["--out", str(ctx.work / name / f"{name}.md"), "--work", str(ctx.work / name),
            "--threads", str(ctx.budget.threads), "--quiet", *(["--quick"] if ctx.quick else [])]
    roots = {"real": ctx.real_root, "bench": ctx.bench_root}
    for which in data:
        try:
            argv += [f"--{which}", str(roots[which]())]
        except NotRun as e:
            console.log(f"{name}: {which} data not run: {e}")
    if not any(f"--{which}" in argv for which in data):
        raise NotRun(f"no data for it ({', '.join(data)} not available)")
    encoder = ctx.work / "real" / "pretrained"
    if "--real" in argv and (encoder / "pretrain_report.json").is_file():
        # and the real section's product fold models, where identical (benchmarks.systems.finetune_fold)
        argv += [encoder_flag, str(encoder), "--reuse-models", str(ctx.work / "real")]
    return argv


def bracket(ctx: Context) -> dict[str, Any]:
    return script_section("bracket", script_args(ctx, "bracket", ("real", "bench"), "--encoder-real"),
                          ctx.work / "bracket" / "bracket.md")


def few_edits(ctx: Context) -> dict[str, Any]:
    return script_section("few_edits", script_args(ctx, "few_edits", ("real",), "--encoder"),
                          ctx.work / "few_edits" / "few_edits.md")


def workflow(ctx: Context) -> dict[str, Any]:
    return extra_module("workflow").section(ctx)


def reliability(ctx: Context) -> dict[str, Any]:
    out = ctx.work / "reliability" / "RELIABILITY.md"
    photos = ["200", "400"] if ctx.quick else ["5000", "20000"]
    return script_section("reliability", ["--work", str(out.parent / "work"), "--out", str(out), "--photos", *photos],
                          out)


EXTRAS: dict[str, Extra] = {
    "bracket": Extra("As-shot brackets", bracket),
    "few_edits": Extra("Learning from a few edits", few_edits),
    "workflow": Extra("Workflow", workflow),
    "reliability": Extra("Reliability", reliability),
}


# ---------------------------------------------------------------------------------------------------
# Orchestration
# ---------------------------------------------------------------------------------------------------
def _chosen(text: str, known: list[str], what: str) -> list[str]:
    """'all' | 'none' | comma-separated names -> the names, in `known`'s order; an unknown name is a usage error."""
    if text in ("all", "none"):
        return known if text == "all" else []
    wanted = [x.strip() for x in text.split(",") if x.strip()]
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise click.BadParameter(f"unknown {unknown}; choose from {', '.join(known)}", param_hint=what)
    return [k for k in known if k in wanted]


@click.command(help="Regenerate BENCHMARKS.md (accuracy, consistency, cost), every number measured; one stored "
                    "result per section.")
@click.option("--quick", is_flag=True, help="Tiny demo catalog and budgets (about a minute).")
@click.option("--real", help="Restored real release (ROOT with Train/); default: restore ../shared/data into "
                             f"{CACHE.relative_to(ROOT)}/aftershoot.")
@click.option("--bench", help="Synthetic benchmark folder (with answers.csv); default: generate with "
                              f"../shared/bench into {CACHE.relative_to(ROOT)}/wb_bench.")
@click.option("--out", default=str(ROOT / "BENCHMARKS.md"), show_default=True, help="Markdown file to write.")
@click.option("--sections", default="all", show_default=True,
              help=f"Comma-separated sections to measure: {', '.join([*SECTIONS, *EXTRAS])}; 'all' or 'none' (only "
                   "re-render). The stored results of the others are kept.")
@click.option("--results", help=f"Folder of the stored results (default {CACHE.relative_to(ROOT)}/results; "
                                "WORK/results with --quick).")
@click.option("--isa", default=",".join(ISA_ENV), show_default=True,
              help=f"Instruction-set columns of the cost section: {', '.join(ISA_ENV)}.")
@click.option("--with-scratch", is_flag=True, help="Also the pretraining ablation in the real section: a head whose "
                                                   "encoder trains from scratch (+30 min).")
@click.option("--threads", type=int, help="Torch/OpenMP threads for every stage (default 2, for an idle machine; 1 "
                                          "is far faster when other jobs share the 2 cores).")
@click.option("--jobs", type=int, default=1, show_default=True,
              help="2: run the real-release section in a second process beside the others (cost still runs "
                   "alone, after both).")
@click.option("--work", help=f"Folder for models and logs (default {CACHE.relative_to(ROOT)}/run; a temporary "
                             "folder with --quick).")
def command_line(**options: Any) -> SimpleNamespace:
    """The options, sections and ISA columns checked and listed."""
    return SimpleNamespace(**{**options, "sections": _chosen(options["sections"], [*SECTIONS, *EXTRAS], "--sections"),
                              "isa": tuple(_chosen(options["isa"], list(ISA_ENV), "--isa"))})


def parse_args(argv: list[str] | None) -> SimpleNamespace:
    """`argv` (default: the process's) -> the options; a usage error or --help exits as a command line does."""
    try:
        args = command_line.main(args=argv, prog_name="benchmarks/run.py", standalone_mode=False)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    if not isinstance(args, SimpleNamespace):  # --help was printed
        sys.exit(args or 0)
    return args


def make_context(args: SimpleNamespace, work: Path) -> Context:
    """The budget (threads set for this process and, through OMP_NUM_THREADS, every subprocess)."""
    from core.runtime import set_threads

    budget = dataclasses.replace(QUICK if args.quick else FULL)
    if args.with_scratch and budget.scratch is None:
        budget.scratch = dict(SCRATCH)
    if args.threads:
        budget.threads = args.threads
    os.environ["OMP_NUM_THREADS"] = str(budget.threads)  # inherited by the cli.py subprocesses (sklearn too)
    set_threads(budget.threads)
    if args.quick:
        demo_data(work)  # before any section runs, so a parallel job never makes it at the same time
    return Context(budget=budget, work=work, quick=args.quick, real=args.real, bench=args.bench, isas=args.isa)


def measure(ctx: Context, names: list[str], jobs: int, command: str, results: Path) -> dict[str, dict[str, Any]]:
    """Each chosen section's envelope, stored as soon as the section ends (a run stopped later keeps
    it). With jobs > 1 the real release runs in a second process beside the accuracy sections
    (independent single-threaded jobs on two cores); cost is timed only after both, once the other
    core is free again."""
    fns = {**SECTIONS, **{n: e.run for n, e in EXTRAS.items()}}
    done: dict[str, dict[str, Any]] = {}

    def keep(env: dict[str, Any]) -> None:
        done[env["section"]] = env
        console.log(f"{env['section']}: {env['status']} → {save_result(results, env)}")

    pool = job = None
    if jobs > 1 and "real" in names and len(names) > 1:
        import concurrent.futures
        import multiprocessing
        pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        job = pool.submit(run_section, "real", real_section, ctx, command)
    for name in names:
        if name == "real" and job is not None:
            continue
        if name == "cost" and job is not None:
            keep(job.result())
            job = None
        keep(run_section(name, fns[name], ctx, command))
    if job is not None:
        keep(job.result())
    if pool is not None:
        pool.shutdown()
    return done


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join(["python", "benchmarks/run.py", *(sys.argv[1:] if argv is None else argv)])
    tmp = tempfile.TemporaryDirectory(prefix="wbstyle-bench-") if args.quick and not args.work else None
    work = Path(args.work) if args.work else Path(tmp.name) if tmp else CACHE / "run"
    work.mkdir(parents=True, exist_ok=True)
    results = Path(args.results) if args.results else (work / "results" if args.quick else CACHE / "results")
    try:
        done = measure(make_context(args, work), args.sections, args.jobs, command, results)
        stored = write_report(results, Path(args.out), command)
    finally:
        if tmp is not None:
            tmp.cleanup()
    errors = [n for n, env in done.items() if env["status"] == "error"]
    console.log(f"wrote {args.out} from {len(stored)} stored sections in {results}"
                + (f"; sections with errors: {errors}" if errors else ""))
    return 1 if errors else 0


def write_report(results: Path, out: Path, command: str) -> dict[str, dict[str, Any]]:
    """BENCHMARKS.md from every stored section result; returns what it read."""
    stored = load_results(results, [*SECTIONS, *EXTRAS])
    text = report.render(stored, command, datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                         {n: (e.title, e.markdown) for n, e in EXTRAS.items()})
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    return stored

if __name__ == "__main__":
    sys.exit(main())
