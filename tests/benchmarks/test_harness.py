"""benchmarks/harness.py: the measured launcher, the ISA probe, and the results store."""
from __future__ import annotations

import json
import sys

import pytest
import torch

from benchmarks import harness
from benchmarks.harness import Budget, Context, NotRun


def test_measured_reports_the_commands_own_peak_memory(tmp_path):
    """Linux carries the parent's peak RSS across fork + exec; a big benchmark process must not make
    a small command look big (it did: every stage read 2,827 MB)."""
    ballast = bytearray(400 * 1024 * 1024)  # the benchmark process, grown to > 400 MB
    ballast[::4096] = b"x" * len(ballast[::4096])  # touch every page so it is resident
    run = harness.measured([sys.executable, "-c", "b = bytearray(60 * 1024 * 1024); b[::4096] = b'y' * len(b[::4096])"],
                           tmp_path / "log.txt")
    assert 60 <= run["peak_mb"] < 300 and run["wall_s"] > 0
    del ballast


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the process tree is read from /proc")
def test_measured_counts_a_commands_forked_workers_too(tmp_path):
    """predict forks a worker per extra core: its memory is the sum over its processes, not the
    largest one (what os.wait4 reports). A command whose parent and forked child each hold 150 MB of
    their own at once must read about 300 MB; the largest process alone, about 150."""
    script = (
        "import os, time\n"
        "def hold():\n"
        "    b = bytearray(150 * 1024 * 1024); b[::4096] = b'z' * len(b[::4096]); time.sleep(1.5); return b\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    hold(); os._exit(0)\n"
        "hold(); os.waitpid(pid, 0)\n")
    run = harness.measured([sys.executable, "-c", script], tmp_path / "fork.log")
    assert 140 <= run["largest_process_mb"] < 250
    assert run["all_processes_mb"] >= 290 and run["peak_mb"] == run["all_processes_mb"]


def test_measured_passes_the_environment_and_names_a_failure(tmp_path):
    harness.measured([sys.executable, "-c", "import os; print(os.environ['WB_PROBE'])"], tmp_path / "ok.log",
                     env={"WB_PROBE": "capped"})
    assert (tmp_path / "ok.log").read_text().strip() == "capped"
    with pytest.raises(RuntimeError, match=r"exited with 3.*\n.*last words"):
        harness.measured([sys.executable, "-c", "print('last words'); raise SystemExit(3)"], tmp_path / "bad.log")


def test_hardware_probe_sees_the_avx2_cap():
    native, capped = harness.hardware("native"), harness.hardware("avx2")
    assert native["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert capped["cpu_capability"] != "AVX512" and capped["env"]["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert capped["bf16"] is False  # bf16 needs AVX-512 (BF16) kernels; capped at AVX2 the stages run fp32


def test_avx2_column_caps_numpy_and_faiss_too(tmp_path):
    """numpy's AVX-512 dispatch groups are off and faiss runs its AVX2 kernels under the capped column's
    environment (onnxruntime has no such switch: documented in the report)."""
    code = ("import json, numpy, faiss; from numpy._core._multiarray_umath import __cpu_features__ as f; "
            "print(json.dumps({'v4': bool(f.get('X86_V4')), 'v3': bool(f.get('X86_V3')), "
            "'faiss': faiss.SIMDConfig.get_level_name()}))")
    harness.measured([sys.executable, "-c", code], tmp_path / "probe.log", env=harness.ISA_ENV["avx2"])
    probe = json.loads((tmp_path / "probe.log").read_text().strip().splitlines()[-1])
    assert probe["v4"] is False
    assert probe["faiss"] == "AVX2"


def test_machine_names_the_cpu_and_load():
    m = harness.machine()
    assert m["cpu_model"] and m["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert len(m["load_start"]) == 3 and m["cpus"] >= 1


def _ctx(tmp_path) -> Context:
    return Context(budget=Budget(), work=tmp_path, quick=True)


def test_run_section_records_result_not_run_and_error(tmp_path):
    ok = harness.run_section("a", lambda ctx: {"x": 1}, _ctx(tmp_path), "python benchmarks/run.py --sections a")
    assert ok["status"] == "ok" and ok["result"] == {"x": 1} and ok["command"].endswith("--sections a")
    assert ok["seconds"] >= 0 and len(ok["machine"]["load_end"]) == 3 and ok["quick"] is True

    def absent(ctx):
        raise NotRun("data absent")

    def broken(ctx):
        raise ValueError("bad row 3\nmore")

    skipped = harness.run_section("b", absent, _ctx(tmp_path), "c")
    assert skipped["status"] == "not run" and skipped["reason"] == "data absent" and skipped["result"] is None
    err = harness.run_section("c", broken, _ctx(tmp_path), "c")
    assert err["status"] == "error" and err["reason"] == "ValueError: bad row 3" and err["result"] is None


def test_results_store_keeps_a_measured_result_that_a_failure_replaces(tmp_path):
    good = harness.run_section("cost", lambda ctx: {"v": 1}, _ctx(tmp_path), "first")
    harness.save_result(tmp_path / "results", good)
    failed = harness.run_section("cost", lambda ctx: 1 / 0, _ctx(tmp_path), "second")
    harness.save_result(tmp_path / "results", failed)
    stored = harness.load_results(tmp_path / "results", ["real", "cost"])
    assert list(stored) == ["cost"] and stored["cost"]["command"] == "second" and stored["cost"]["status"] == "error"
    kept = json.loads((tmp_path / "results" / "cost.previous.json").read_text())
    assert kept["command"] == "first" and kept["result"] == {"v": 1}
