"""A run killed half way (SIGKILL: no cleanup, no finally) leaves the previous model usable.

`cli.py finetune` writes into the folder that already holds a model, on another catalog (so a
finished run would change the predictions). It is killed while training, and again at the moment
it starts writing the new model (its staging folder appears), and `cli.py add-edits` is killed
while it re-seals the model with a grown index; each time the previous model must
load, verify and predict exactly as before. Then an unkilled run shows that the kill mattered: it
replaces the model and the predictions change. The moves inside a commit are covered in
tests/core/test_artifacts.py (an interrupted commit is finished on the next load).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core.artifacts import INCOMING, MANIFEST
from tests.conftest import write_catalog
from tests.test_loaders_safe import predict, train_tiny_model

PROJECT = Path(__file__).resolve().parents[1]


def finetune_command(data: Path, out: Path, epochs: int = 40) -> list[str]:
    return [sys.executable, str(PROJECT / "cli.py"), "finetune", "--data", str(data), "--encoder", "", "--out",
            str(out), "--image-size", "16", "--epochs", str(epochs), "--ensemble", "1", "--hidden", "8",
            "--batch-size", "8", "--rerender-aug", "0", "--no-baselines", "--folds", "1", "--threads", "1",
            "--workers", "1", "--no-progress", "--device", "cpu", "--seed", "1"]


def cpu_seconds(pid: int) -> float:
    """CPU time a process has used (Linux /proc): a clock that does not depend on machine load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_and_kill(cmd: list[str], when, timeout: float = 300) -> int:
    """Start cmd, SIGKILL it as soon as when(pid) is true; returns the exit code (-9 when killed)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(PROJECT)}
    proc = subprocess.Popen(cmd, cwd=PROJECT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    try:
        while proc.poll() is None and time.time() - t0 < timeout:
            if when(proc.pid):
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.0005)
        return proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("crash")
    root, model = train_tiny_model(base)
    other = write_catalog(base, n_train=16, n_val=0, layout="A", size=16, seed=7)  # what the killed runs train on
    return root, model, other, predict(model, root), (model / MANIFEST).read_bytes()


@pytest.mark.parametrize("moment", ["training", "writing"])
def test_killed_finetune_leaves_the_previous_model(setup, moment):
    root, model, other, before, manifest = setup
    staged = []

    def when(pid: int) -> bool:
        staged.append((model / INCOMING).exists())
        if moment == "training":  # measured here: start-up ~1.9 s of CPU, writing starts at ~5.4 s
            return cpu_seconds(pid) > 3.5
        return staged[-1]  # the first instant the new model's files are being written

    # training: a long run, killed part way; writing: a short one, killed as it starts to save
    code = run_and_kill(finetune_command(other, model, epochs=40 if moment == "training" else 2), when)
    assert code == -signal.SIGKILL, f"the run was not killed mid-way (exit {code})"
    assert staged[-1] == (moment == "writing"), "killed at another moment than intended"
    assert (model / MANIFEST).read_bytes() == manifest
    np.testing.assert_array_equal(predict(model, root), before)


def test_an_unkilled_run_does_replace_the_model(setup, tmp_path):
    """Control: the killed runs would have changed the model (else the test above proves nothing)."""
    root, model, other, before, manifest = setup
    import shutil

    copy = Path(shutil.copytree(model, tmp_path / "model"))
    code = run_and_kill(finetune_command(other, copy, epochs=2), lambda pid: False)
    assert code == 0
    assert (copy / MANIFEST).read_bytes() != manifest and not (copy / INCOMING).exists()
    assert not np.array_equal(predict(copy, root), before)


def test_killed_add_edits_leaves_the_previous_model(setup, tmp_path):
    """add-edits re-seals the model with a grown index; killed while writing it, nothing changes."""
    import shutil

    root, model, other, before, manifest = setup
    cmd = [sys.executable, str(PROJECT / "cli.py"), "add-edits", "--model", str(model), "--data", str(other),
           "--threads", "1", "--workers", "1", "--no-progress", "--device", "cpu"]
    code = run_and_kill(cmd, lambda pid: (model / INCOMING).exists())
    assert code == -signal.SIGKILL, f"the run was not killed mid-way (exit {code})"
    assert (model / MANIFEST).read_bytes() == manifest
    np.testing.assert_array_equal(predict(model, root), before)
    # control: left alone, the same command does change the model folder
    copy = Path(shutil.copytree(model, tmp_path / "model"))
    assert run_and_kill([c if c != str(model) else str(copy) for c in cmd], lambda pid: False) == 0
    assert (copy / MANIFEST).read_bytes() != manifest
