"""Several real processes on one model folder (or one photo folder) at once: nothing lost, nothing half.

Every run here is a separate process (`cli.py` through subprocess, or a spawned Python process),
because what is tested is the operating system's locks between processes (core.locks):

- four `add-edits` started together on one model: every added id ends in the index once, the
  manifest verifies, the model predicts;
- `predict` in a loop (the command, and a tight loop of loads in a second process) while `add-edits`
  and then `finetune` write the same folder: every load succeeds and every output is the output of
  one of the three models the folder held (before, after add-edits, after finetune);
- a writer SIGKILLed while it holds the lock: the next writer goes ahead at once;
- a writer that has to wait names the holder (command, pid) and gives up after --lock-timeout;
- two `apply` runs on one photo folder, started at the same instant: one run's merge sees the
  other's in every sidecar (the second waited), never the same old packet.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.artifacts import MANIFEST, ModelWriter, open_model, read_json, reading, write_json
from core.locks import HOLDER, network_fs, write_lock
from tests.conftest import write_catalog

# the spawned helpers import this module: the torch-importing test helpers are imported where used
PROJECT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(PROJECT)}
FAST = ["--threads", "1", "--workers", "1", "--no-progress", "--device", "cpu"]
PREDICT = dict(blend=True, smooth=True, consistency="scene")  # what `cli.py predict` does by default


def cli(*args: str | Path) -> list[str]:
    return [sys.executable, str(PROJECT / "cli.py"), *map(str, args)]


def start(cmd: list[str]) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=PROJECT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def add_edits(model: Path, shoot: Path, *extra: str) -> list[str]:
    return cli("add-edits", "--model", model, "--data", shoot, *FAST, *extra)


def holder_pid(model: Path) -> int | None:
    try:
        return json.loads((model / HOLDER).read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return None


def wait_until(condition, timeout: float = 120.0) -> None:
    t0 = time.time()
    while not condition():
        assert time.time() - t0 < timeout, "timed out waiting"
        time.sleep(0.002)


def predictions(model: Path, root: Path) -> np.ndarray:
    from catalog.reader import read_catalog
    from finetune.predict import WBModel

    cat = read_catalog(root, "Validation", labels="ignore")
    return WBModel.load(model, threads=1, device="cpu").predict(cat, progress=False, **PREDICT)[
        ["Temperature", "Tint"]].to_numpy(float)


def same_as_one_of(output: np.ndarray, versions: list[np.ndarray]) -> bool:
    return any(np.allclose(output, v, rtol=0, atol=1e-6) for v in versions)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tests.test_loaders_safe import train_tiny_model

    base = tmp_path_factory.mktemp("concurrency")
    root, model = train_tiny_model(base)
    return base, root, model


def copy(model: Path, dest: Path) -> Path:
    return Path(shutil.copytree(model, dest))


def test_concurrent_add_edits_keep_every_edit(tiny, tmp_path):
    from retrieval.index import NeighborIndex

    _, root, model_src = tiny
    model = copy(model_src, tmp_path / "model")
    before = NeighborIndex.load(model).ids
    shoots = [write_catalog(tmp_path, n_train=3, n_val=0, size=16, seed=100 + i) for i in range(4)]
    added = [i for s in shoots for i in pd.read_csv(s / "Train" / "sliders.csv")["id_global"]]
    procs = [start(add_edits(model, s)) for s in shoots]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    ids = NeighborIndex.load(model).ids
    assert sorted(ids) == sorted(before + added)  # every edit once, the training entries kept
    open_model(model)  # the manifest verifies
    assert np.isfinite(predictions(model, root)).all()


def _reader_loop(model: str, root: str, stop: str, out: str) -> None:
    """A spawned process: load the model and predict, again and again, until `stop` exists."""
    outputs, errors = [], []
    while not Path(stop).exists():
        try:
            outputs.append(predictions(Path(model), Path(root)))
        except Exception as e:  # noqa: BLE001 - every failure is the finding
            errors.append(f"{type(e).__name__}: {e}")
        Path(out).with_suffix(".count").write_text(str(len(outputs) + len(errors)))
        time.sleep(0.1)  # leave the writers some of the 2 cores
    np.save(out, np.array(outputs))
    Path(out).with_suffix(".json").write_text(json.dumps(errors))


def test_readers_see_one_whole_model_while_add_edits_and_finetune_write(tiny, tmp_path):
    from tests.test_crash_safety import finetune_command

    _, root, model_src = tiny
    model = copy(model_src, tmp_path / "model")
    shoot = write_catalog(tmp_path, n_train=4, n_val=0, size=16, seed=200)
    other = write_catalog(tmp_path, n_train=16, n_val=0, size=16, seed=7)
    # the three models the folder will hold, in this order: v0, v0 + the edits, the new finetune
    v0 = predictions(model, root)
    v1_dir = copy(model, tmp_path / "v1")
    assert subprocess.run(add_edits(v1_dir, shoot), cwd=PROJECT, env=ENV).returncode == 0

    stop, out = tmp_path / "stop", tmp_path / "reader.npy"
    reader = mp.get_context("spawn").Process(target=_reader_loop, args=(str(model), str(root), str(stop), str(out)))
    reader.start()
    count = out.with_suffix(".count")
    loads = lambda: int(count.read_text() or 0) if count.exists() else 0  # noqa: E731 (read as it is written: "" then)
    wait_until(lambda: loads() > 0)  # it has read the model as it was before any write
    cli_outputs, cli_errors = [], []

    def predict_loop() -> None:
        k = 0
        while not stop.exists():
            csv = tmp_path / f"pred_{k}.csv"
            r = subprocess.run(cli("predict", "--data", root, "--model", model, "--out", csv, *FAST),
                               cwd=PROJECT, env=ENV, capture_output=True, text=True)
            if r.returncode:
                cli_errors.append(r.stderr[-500:])
            else:
                cli_outputs.append(pd.read_csv(csv)[["Temperature", "Tint"]].to_numpy(float))
            k += 1
            time.sleep(2.0)  # the command a few times: the loading loop is the one that races the commits

    looping = threading.Thread(target=predict_loop)
    looping.start()
    try:
        edits = start(add_edits(model, shoot))
        wait_until(lambda: holder_pid(model) == edits.pid or edits.poll() is not None)
        finetune = start(finetune_command(other, model, epochs=2))  # waits for add-edits if it still writes
        assert edits.wait(timeout=300) == 0, edits.stderr.read()
        assert finetune.wait(timeout=300) == 0, finetune.stderr.read()
        done = loads()
        wait_until(lambda: loads() > done + 1)  # and once more after the last write
    finally:
        stop.touch()
        looping.join(timeout=300)
        reader.join(timeout=300)
    versions = [v0, predictions(v1_dir, root), predictions(model, root)]
    assert not np.allclose(versions[0], versions[2])  # the writes changed what predict says
    loads = list(np.load(out))
    assert json.loads(out.with_suffix(".json").read_text()) == [] and not cli_errors
    assert len(loads) >= 3 and cli_outputs, "the readers hardly ran"
    assert all(same_as_one_of(o, versions) for o in loads + cli_outputs), "an output of no model the folder held"
    seen = {next(i for i, v in enumerate(versions) if same_as_one_of(o, [v])) for o in loads}
    assert len(seen) >= 2, f"the loading loop saw only version {seen}: it did not read while the folder changed"


def test_a_writer_killed_holding_the_lock_never_blocks_the_next(tiny, tmp_path):
    from retrieval.index import NeighborIndex
    from tests.test_crash_safety import run_and_kill

    _, root, model_src = tiny
    model = copy(model_src, tmp_path / "model")
    manifest = (model / MANIFEST).read_bytes()
    first, second = (write_catalog(tmp_path, n_train=3, n_val=0, size=16, seed=300 + i) for i in range(2))
    code = run_and_kill(add_edits(model, first), lambda pid: holder_pid(model) == pid)
    assert code == -signal.SIGKILL
    assert (model / MANIFEST).read_bytes() == manifest  # killed before it wrote anything
    t0 = time.time()
    r = subprocess.run(add_edits(model, second, "--lock-timeout", "30"), cwd=PROJECT, env=ENV,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "being written by" not in r.stderr and time.time() - t0 < 30  # it never waited for the dead run
    ids = set(NeighborIndex.load(model).ids)
    assert set(pd.read_csv(second / "Train" / "sliders.csv")["id_global"]) <= ids
    assert holder_pid(model) is None  # the side file went with the lock


def test_a_waiting_writer_names_the_holder_then_gives_up(tiny, tmp_path):
    _, _, model_src = tiny
    model = copy(model_src, tmp_path / "model")
    manifest = (model / MANIFEST).read_bytes()
    shoot = write_catalog(tmp_path, n_train=3, n_val=0, size=16, seed=400)
    with write_lock(model, "finetune --out model"):  # this test process holds it
        with write_lock(model, "pretrain", timeout=0.1):  # re-entered in one process (the demo runs pretrain)
            pass
        r = subprocess.run(add_edits(model, shoot, "--lock-timeout", "1"), cwd=PROJECT, env=ENV,
                           capture_output=True, text=True)
    assert r.returncode != 0
    assert f"being written by `finetune --out model` (pid {os.getpid()} on" in r.stderr
    assert "after waiting 1 s" in r.stderr and "--lock-timeout" in r.stderr
    assert (model / MANIFEST).read_bytes() == manifest


def test_a_commit_waits_for_a_reader_still_loading(tmp_path):
    """The mechanism behind the loop above, without luck: while this process holds the read lock, a
    writer in another process stages its model but cannot commit it; once released, it does."""
    folder = tmp_path / "m"
    with ModelWriter(folder) as w:
        write_json(w.dir / "a.json", {"v": 1})
        w.commit()
    code = ("import sys; from core.artifacts import ModelWriter, write_json\n"
            "with ModelWriter(sys.argv[1]) as w:\n    write_json(w.dir / 'a.json', {'v': 2}); w.commit()")
    with reading(folder):
        writer = subprocess.Popen([sys.executable, "-c", code, str(folder)], cwd=PROJECT, env=ENV)
        wait_until(lambda: (folder / ".incoming" / "a.json").exists() or writer.poll() is not None, timeout=60)
        time.sleep(0.5)
        assert writer.poll() is None and read_json(folder / "a.json") == {"v": 1}  # still the model being read
    assert writer.wait(timeout=60) == 0
    assert read_json(folder / "a.json") == {"v": 2} and open_model(folder)["files"].keys() == {"a.json"}


def test_network_drives_are_recognised(tmp_path):
    mounts = tmp_path / "mounts"
    mounts.write_text("/dev/sda1 / ext4 rw 0 0\nserver:/studio /mnt/studio nfs4 rw 0 0\n"
                      "//nas/photos /mnt/nas cifs rw 0 0\n")
    assert network_fs("/mnt/studio/models/run1", mounts) == "nfs4"
    assert network_fs("/mnt/nas", mounts) == "cifs"
    assert network_fs("/mnt/studio2", mounts) is None and network_fs("/home/me/model", mounts) is None


# ------------------------------------------------------------------------------------------------ apply
SIDECAR = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           '<rdf:Description rdf:about="" xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/" '
           'crs:Exposure2012="+0.70" crs:WhiteBalance="As Shot"/></rdf:RDF></x:xmpmeta>')


def _apply(predictions: str, photos: str, both_ready, locked: bool = True) -> list[tuple[str, dict, dict]]:
    """A spawned process: once both are ready, `apply` (each sidecar: name, old values, new values)."""
    from lightroom.apply import run_apply
    from lightroom.options import ApplyConfig

    run = run_apply if locked else run_apply.__wrapped__  # unlocked: only to show that the test can fail
    both_ready.wait()
    result = run(ApplyConfig(predictions=Path(predictions), photos=Path(photos), progress=False))
    return [(c.target.name, c.old, c.new) for c in result.changes]


def test_two_apply_runs_on_one_folder_never_interleave_a_sidecar(tmp_path, locked=True):
    from concurrent.futures import ProcessPoolExecutor

    from lightroom.xmp import NS_CRS, parse_xmp, read_properties

    photos = tmp_path / "photos"
    photos.mkdir()
    names = [f"IMG_{i:04d}" for i in range(300)]
    for n in names:  # proprietary raws: their white balance goes to a sidecar, whose other settings stay
        (photos / f"{n}.CR3").write_bytes(b"raw")
        (photos / f"{n}.xmp").write_text(SIDECAR)
    runs = {}
    for run, (temp, tint) in {"a": (4100, 6), "b": (6700, -4)}.items():
        runs[run] = tmp_path / f"{run}.csv"
        pd.DataFrame({"id_global": names, "Temperature": temp, "Tint": tint}).to_csv(runs[run], index=False)
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager, ProcessPoolExecutor(2, mp_context=ctx) as pool:
        both_ready = manager.Barrier(2)  # imports done: both runs start at the same instant
        futures = {run: pool.submit(_apply, str(p), str(photos), both_ready, locked) for run, p in runs.items()}
        changes = {run: {name: (old, new) for name, old, new in f.result(timeout=300)} for run, f in futures.items()}
    temp = {run: changes[run][f"{names[0]}.xmp"][1]["Temperature"] for run in runs}
    # the later run saw the earlier one's merge in every sidecar: it waited (no two read the same packet)
    later = [run for run in runs if all(old.get("Temperature") == temp[({"a", "b"} - {run}).pop()]
                                        for old, _ in changes[run].values())]
    assert len(later) == 1, "the runs interleaved: some sidecars were read by both before either wrote"
    earlier = ({"a", "b"} - set(later)).pop()
    assert all(old.get("WhiteBalance") == "As Shot" for old, _ in changes[earlier].values())
    for n in names:
        props = read_properties(parse_xmp((photos / f"{n}.xmp").read_bytes(), n), ("Temperature", "Exposure2012"),
                                NS_CRS)
        assert props == {"Temperature": temp[later[0]], "Exposure2012": "+0.70"}
