"""Reliability and security figures (issue #16) -> RELIABILITY.md.

    python benchmarks/reliability.py                      # the full table (about 6 min on 2 cores)
    python benchmarks/reliability.py --photos 2000 500    # a quick look
    python benchmarks/reliability.py --only concurrency   # row 5 alone, updated in place in --out

Five rows, each measured here, not asserted:
  1. bad inputs      the cases of tests/test_bad_inputs.py (TIFF, CSV, model folder): tried / handled
                     (a named error naming file, row and column; a counted skip; or read right);
  2. kills survived  tests/test_crash_safety.py: `finetune` and `add-edits` SIGKILLed mid-run, the
                     previous model loads and predicts identically;
  3. malicious files tests/test_loaders_safe.py + tests/core/test_artifacts.py: planted pickles
                     refused without running, loading + predicting with every unpickler disabled,
                     no unpickling call in the source;
  4. load            `cli.py predict` on catalogs of small (64 px) photos, e.g. 5,000 and 20,000,
                     in one run each: peak memory of the command and its worker processes, and how much of it grows with
                     the number of photos (per photo), against the size of the photos themselves;
  5. concurrency     several `add-edits` started at once on one model folder, one more SIGKILLed while it
                     holds the folder's lock, and `predict` in loops reading the folder meanwhile: every
                     edit of the surviving writers in the index exactly once, the killed one's nowhere,
                     the manifest verifying, and every read succeeding (core.locks).
"""
from __future__ import annotations

import argparse
import json
import shlex
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the project's packages sit beside benchmarks/
    sys.path.insert(0, str(ROOT))

from benchmarks.harness import cli, cpu_model, machine, measured  # noqa: E402

SUITES = {  # row of the table -> (test files, how a test id is counted)
    "bad inputs (TIFF, CSV, model folder)": ["tests/test_bad_inputs.py"],
    "kills survived (SIGKILL mid-run, previous model predicts identically)": ["tests/test_crash_safety.py"],
    "malicious model files refused (nothing runs)": ["tests/test_loaders_safe.py", "tests/core/test_artifacts.py"],
}


def run_suites(work: Path) -> list[dict]:
    """Each row's tests through pytest (junit XML): tried, passed, and what failed."""
    rows = []
    for i, (row, files) in enumerate(SUITES.items()):
        xml = work / f"suite_{i}.xml"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}", *files]
        t0 = time.time()
        subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cases = ET.parse(xml).getroot().iter("testcase")
        tried, failed = 0, []
        for c in cases:
            if c.find("skipped") is not None:
                continue
            tried += 1
            if c.find("failure") is not None or c.find("error") is not None:
                failed.append(c.get("name"))
        rows.append({"row": row, "tried": tried, "handled": tried - len(failed), "failed": failed,
                     "seconds": time.time() - t0, "command": shlex.join(["pytest", "-q", *files])})
    return rows


def write_photos(folder: Path, n: int, size: int, timed: bool = True, seed: int = 0) -> Path:
    """A folder catalog (images/ + sliders.csv) of n small photos: shoots of 50 under one light each,
    two cameras, capture times 20 s apart (timed) or no captureTime column at all (untimed)."""
    import numpy as np
    import pandas as pd
    import tifffile

    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True)
    start = np.datetime64("2023-01-01T08:00:00")
    rows = []
    for i in range(n):
        shoot = i // 50
        kelvin = 3000 + 900 * (shoot % 5)
        gains = np.exp(np.array([-0.5, 0.0, 0.5]) * np.log(kelvin / 5500))
        img = np.clip(rng.uniform(0.2, 0.8, (size, size, 1)) * gains * 255, 0, 255).astype(np.uint8)
        ident = f"P{i:06d}"
        tifffile.imwrite(folder / "images" / f"{ident}.tif", img, photometric="rgb")
        row = {"id_global": ident, "currTemp": kelvin + int(rng.integers(-300, 300)), "currTint": int(rng.integers(-10, 20)),
               "aperture": 4.0, "shutterSpeed": 1 / 125, "isoSpeedRating": 400, "focalLength": 50, "flashFired": 0,
               "camera_model": f"CAM-{shoot % 2}"}
        if timed:
            row["captureTime"] = str(start + np.timedelta64(shoot, "D") + np.timedelta64(20 * (i % 50), "s"))
        rows.append(row)
    pd.DataFrame(rows).to_csv(folder / "sliders.csv", index=False)
    return folder


FAST = ["--threads", "1", "--workers", "1", "--no-progress", "--device", "cpu"]


def tiny_model(work: Path) -> Path:
    """WORK/model: a seconds-long finetune on a small generated catalog (random encoder, one head)."""
    from tests.conftest import write_catalog

    small = write_catalog(work, n_train=24, n_val=0, layout="A", size=32, seed=1)
    model = work / "model"
    measured(cli("finetune", "--data", str(small), "--encoder", "", "--out", str(model), "--epochs", "2",
                 "--ensemble", "1", "--rerender-aug", "0", "--no-baselines", "--folds", "1", *FAST),
             work / "finetune.log")
    return model


def load_figure(work: Path, model: Path, counts: list[int], size: int = 64) -> list[dict]:
    """`cli.py predict` with `model` on each catalog of `count` photos in one run; the largest also
    without capture times (scenes then compare photos by look alone)."""
    out = []
    for n, timed in [(n, True) for n in counts] + [(counts[-1], False)]:
        name = f"{n}_{'timed' if timed else 'untimed'}"
        t0 = time.time()
        data = write_photos(work / f"photos_{name}", n, size, timed)
        t_gen = time.time() - t0
        pred = work / f"pred_{name}.csv"
        cmd = cli("predict", "--data", str(data), "--model", str(model), "--out", str(pred), "--threads", "1",
                  "--workers", "1", "--no-progress", "--device", "cpu")
        m = measured(cmd, work / f"predict_{name}.log")
        n_out = sum(1 for _ in open(pred)) - 1
        out.append({"photos": n, "timed": timed, "rows_out": n_out, "csv_mb": pred.stat().st_size / 2**20,
                    "generate_s": t_gen, **m,
                    "command": shlex.join(["python", "cli.py", *cmd[2:]]).replace(str(work), "WORK")})
    return out


def _kill_when_it_locks(proc: subprocess.Popen, model: Path) -> bool:
    """SIGKILL `proc` the moment it holds `model`'s write lock; whether it did before `proc` ended."""
    from core.locks import HOLDER

    killed = False
    while proc.poll() is None:
        try:
            holder = json.loads((model / HOLDER).read_text())["pid"]
        except (OSError, ValueError, KeyError):
            holder = None
        if holder == proc.pid:
            proc.send_signal(signal.SIGKILL)
            killed = True
        time.sleep(0.001)
    return killed


def concurrency_figure(work: Path, model: Path, writers: int = 4, readers: int = 2, photos: int = 5) -> dict:
    """`writers` add-edits started at once on `model` (each its own new shoot of `photos` edits) and
    one more, SIGKILLed as soon as it holds the folder's lock; `readers` loops of `cli.py predict`
    on the folder until every writer has ended. What was lost is counted, not assumed."""
    from core.artifacts import open_model
    from retrieval.index import NeighborIndex
    from tests.conftest import write_catalog

    import pandas as pd

    before = NeighborIndex.load(model).ids
    shoots = [write_catalog(work / "shoots", n_train=photos, n_val=0, size=32, seed=1000 + i)
              for i in range(writers + 1)]
    edits = [pd.read_csv(s / "Train" / "sliders.csv")["id_global"].astype(str).tolist() for s in shoots]
    reads = {"ok": 0, "failed": []}
    done = threading.Event()

    def read_loop(k: int) -> None:
        data = write_catalog(work / f"reader_{k}", n_train=1, n_val=8, layout="A", size=32, seed=2000 + k)
        while not done.is_set():
            r = subprocess.run(cli("predict", "--data", str(data), "--model", str(model), "--out",
                                   str(work / f"reader_{k}.csv"), *FAST), cwd=ROOT, capture_output=True, text=True)
            if r.returncode == 0:
                reads["ok"] += 1
            else:
                reads["failed"].append(r.stderr.strip().splitlines()[-1:])

    loops = [threading.Thread(target=read_loop, args=(k,)) for k in range(readers)]
    for t in loops:
        t.start()
    t0 = time.time()
    procs = [subprocess.Popen(cli("add-edits", "--model", str(model), "--data", str(s), *FAST), cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for s in shoots]
    killed = _kill_when_it_locks(procs[-1], model)
    codes = [p.wait() for p in procs]
    seconds = time.time() - t0
    done.set()
    for t in loops:
        t.join()
    ids = NeighborIndex.load(model).ids
    try:
        open_model(model)
        verifies = True
    except Exception:  # noqa: BLE001 - a broken model is the finding
        verifies = False
    expected = [i for e in edits[:writers] for i in e]
    return {"writers": writers, "writers_ok": sum(c == 0 for c in codes[:writers]), "killed": int(killed and codes[-1] == -9),
            "readers": readers, "reads_ok": reads["ok"], "reads_failed": reads["failed"],
            "edits": len(expected), "missing": len(set(expected) - set(ids)),
            "duplicated": len(ids) - len(set(ids)), "killed_present": len(set(edits[-1]) & set(ids)),
            "training_kept": ids[:len(before)] == before, "verifies": verifies, "seconds": seconds,
            "machine": f"{cpu_model()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
            "command": "python benchmarks/reliability.py --only concurrency"}


def concurrency_row(c: dict) -> str:
    lost = c["missing"] + c["duplicated"] + c["killed_present"] + len(c["reads_failed"])
    ok = (lost == 0 and c["verifies"] and c["training_kept"] and c["writers_ok"] == c["writers"] and c["killed"]
          and c["reads_ok"] > 0)
    return (f"| concurrency: {c['writers']} `add-edits` at once on one model folder, 1 more SIGKILLed holding its "
            f"lock, {c['readers']} `predict` loops reading it | {c['edits']} edits, {c['reads_ok'] + len(c['reads_failed'])} "
            f"reads | {c['edits'] - c['missing']} edits in the index once, {c['reads_ok']} reads succeeded | "
            f"{'yes' if ok else 'NO'} | lost: {'nothing' if lost == 0 else lost} ({c['missing']} edits missing, "
            f"{c['duplicated']} duplicated, {c['killed_present']} of the killed run's, {len(c['reads_failed'])} failed "
            f"reads); manifest {'verifies' if c['verifies'] else 'BROKEN'}; {c['seconds']:.0f} s on {c['machine']}; "
            f"`{c['command']}` |")


def update_row(text: str, row: str) -> str:
    """The report with its concurrency row replaced (or added after the first table's last row)."""
    lines = text.splitlines()
    at = [i for i, line in enumerate(lines) if line.startswith("| concurrency:")]
    if at:
        lines[at[0]] = row
    else:
        first = next(i for i, line in enumerate(lines) if line.startswith("|---"))
        end = next((i for i in range(first + 1, len(lines)) if not lines[i].startswith("|")), len(lines))
        lines.insert(end, row)
    return "\n".join(lines) + "\n"


def report(suites: list[dict], load: list[dict], size: int, argv: list[str], mach: dict,
           concurrency: dict) -> str:
    lines = ["# Reliability", "",
             f"Written by `python benchmarks/reliability.py {' '.join(argv)}`".rstrip() + " on "
             f"{mach['cpu_model']} ({mach['cpus']} cores, {mach['cpu_capability']}), "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", "",
             "| what | tried | handled | pass | measured by |", "|---|---:|---:|:---:|---|"]
    for r in suites:
        ok = "yes" if r["tried"] and not r["failed"] else "NO"
        lines.append(f"| {r['row']} | {r['tried']} | {r['handled']} | {ok} | `{r['command']}` |")
    timed = [r for r in load if r["timed"]]
    photo_kb = size * size * 3 / 1024
    if len(timed) >= 2:
        a = timed[0]
        for b in [timed[-1]] + [r for r in load if not r["timed"]]:
            slope_kb = (b["peak_mb"] - a["peak_mb"]) * 1024 / (b["photos"] - a["photos"])
            bounded = slope_kb < photo_kb / 4 and b["rows_out"] == b["photos"]
            lines.append(f"| load: predict {b['photos']:,} photos ({size} px{'' if b['timed'] else ', no capture times'}) "
                         f"in one run | {b['photos']:,} rows in | {b['rows_out']:,} rows out | "
                         f"{'yes' if bounded else 'NO'} | peak memory {b['peak_mb']:,.0f} MB vs {a['peak_mb']:,.0f} MB "
                         f"at {a['photos']:,} photos: {slope_kb:.2f} KB per extra photo (one decoded photo: "
                         f"{photo_kb:.0f} KB) |")
    lines.append(concurrency_row(concurrency))
    lines += ["", "Load runs (each one `cli.py predict` command; peak memory is the larger of its largest process's "
              "peak RSS and the sampled sum of the proportional set sizes of it and its forked workers):", "",
              "| photos | capture times | rows out | wall s | CPU s | peak memory MB | output CSV MB | command |",
              "|---:|:---:|---:|---:|---:|---:|---:|---|"]
    for r in load:
        lines.append(f"| {r['photos']:,} | {'yes' if r['timed'] else 'no'} | {r['rows_out']:,} | {r['wall_s']:.1f} | "
                     f"{r['cpu_s']:.1f} | {r['peak_mb']:,.0f} | {r['csv_mb']:.1f} | `{r['command']}` |")
    failed = [f"{r['row']}: {', '.join(r['failed'])}" for r in suites if r["failed"]]
    if failed:
        lines += ["", "Failed cases:", ""] + [f"- {f}" for f in failed]
    lines += ["", "What the rows mean: a bad input is handled when it ends in a named error naming the file, "
              "row and column, in a counted skip, or is read right (tests/test_bad_inputs.py lists each case "
              "and its expected outcome). Memory per extra photo counts everything that grows with the "
              "catalog (the table, one embedding per photo, the output); decoded pixels are streamed in "
              "chunks and must not be part of it. The concurrency row counts what the runs on one model folder "
              "lost: edits of a writer that ended well missing from the index or in it twice, edits of the killed "
              "one that got in, reads that failed; the manifest is checked after the last run.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photos", type=int, nargs="+", default=[5000, 20000],
                   help="catalog sizes for the load figure (the first and last give the growth per photo)")
    p.add_argument("--size", type=int, default=64, help="pixels of the generated photos (square)")
    p.add_argument("--work", type=Path, default=ROOT / "artifacts" / "reliability", help="scratch folder")
    p.add_argument("--out", type=Path, default=ROOT / "RELIABILITY.md", help="the report to write")
    p.add_argument("--only", choices=["concurrency"],
                   help="measure this row alone and replace it in --out (the other rows stay as they were)")
    args = p.parse_args(argv)
    import shutil

    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    model = tiny_model(args.work)
    if args.only == "concurrency":
        row = concurrency_row(concurrency_figure(args.work / "concurrency", model))
        args.out.write_text(update_row(args.out.read_text(), row))
        print(row)
        return
    mach = machine()
    suites = run_suites(args.work)
    load = load_figure(args.work, model, sorted(args.photos), args.size)
    concurrency = concurrency_figure(args.work / "concurrency", model)
    text = report(suites, load, args.size, sys.argv[1:] if argv is None else argv, mach, concurrency)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
