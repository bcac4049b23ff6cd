"""Executors: the same results on every executor, failures, killed workers, threads."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time

import pytest
from _sweep_units import (
    log_lines,
    register,
    squares_module,
    steps_module,
    threads_module,
    train_module,
)

from curse_of_memory.cli import main
from curse_of_memory.experiments import UnitsFailed, run_experiment
from curse_of_memory.experiments._executors import check_executor_options
from curse_of_memory.experiments._units import derive_seed


def _results(run_dir) -> dict:
    results = json.loads((run_dir / "results.json").read_text())
    results.pop("run")  # run id and bookkeeping
    return results


@pytest.fixture(scope="module")
def dask_cluster():
    """A real local Dask cluster (two single-threaded worker processes)."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    yield cluster
    cluster.close()


def test_same_results_on_every_executor(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    register(monkeypatch, "train", train_module())
    runs = {
        "jobs1": {"jobs": 1},
        "jobs2": {"jobs": 2},
        "dask": {"executor": "dask", "jobs": 2},  # Dask starts its own local cluster
    }
    results = {
        name: _results(
            run_experiment("train", out_dir=tmp_path, run_id=name, progress=False, **options)
        )
        for name, options in runs.items()
    }
    assert len(results["jobs1"]) == 4
    for unit in results["jobs1"].values():
        assert len(unit["losses"]) == 2 and unit["test_error"] > 0 and len(unit["weights"]) > 2
    assert results["jobs2"] == results["jobs1"]  # float64 numbers, compared exactly
    assert results["dask"] == results["jobs1"]
    manifests = {n: json.loads((tmp_path / "train" / n / "DONE").read_text()) for n in runs}
    assert "this process" in manifests["jobs1"]["executor"]
    assert "local pool of 2" in manifests["jobs2"]["executor"]
    assert "Dask" in manifests["dask"]["executor"]


@pytest.mark.parametrize("jobs", [1, 2])
def test_failed_unit_is_reported_and_resume_reruns_only_it(tmp_path, monkeypatch, jobs):
    register(monkeypatch, "squares", squares_module())
    options = {"out_dir": tmp_path, "run_id": "r", "progress": False, "jobs": jobs}
    overrides = {"log_dir": str(tmp_path)}
    (tmp_path / "fail-3").touch()
    with pytest.raises(UnitsFailed, match=r"1 of 4 units failed: v/3 \(ValueError: unit 3"):
        run_experiment("squares", overrides=overrides, **options)
    run_dir = tmp_path / "squares" / "r"
    failures = json.loads((run_dir / "failures.json").read_text())["failed"]
    assert [f["key"] for f in failures] == ["v/3"]
    assert "cannot be computed" in failures[0]["traceback"]
    assert "in square" in failures[0]["traceback"]  # the unit's own frame
    saved = sorted(p.name for p in (run_dir / "steps" / "v").iterdir())
    assert saved == ["1.json", "2.json", "4.json"]
    assert not (run_dir / "DONE").exists()

    (tmp_path / "fail-3").unlink()  # the cause is fixed; resume runs v/3 alone
    run_experiment("squares", overrides=overrides, resume=True, **options)
    starts = [len(log_lines(tmp_path, key)) for key in ("v/1", "v/2", "v/3", "v/4")]
    assert starts == [1, 1, 2, 1]
    assert json.loads((run_dir / "results.json").read_text())["squares"] == [1, 4, 9, 16]
    assert not (run_dir / "failures.json").exists()
    assert (run_dir / "DONE").is_file()


def test_cli_lists_failures_and_exits_nonzero(tmp_path, monkeypatch, capsys):
    register(monkeypatch, "squares", squares_module())
    (tmp_path / "fail-2").touch()
    (tmp_path / "fail-4").touch()
    args = ["reproduce", "squares", "--out", str(tmp_path), "--run-id", "r", "--quiet"]
    assert main([*args, "--set", f"log_dir={str(tmp_path)!r}", "--jobs", "1"]) == 1
    err = capsys.readouterr().err
    assert "FAILED  v/2: ValueError: unit 2 cannot be computed" in err
    assert "FAILED  v/4: ValueError: unit 4 cannot be computed" in err
    assert "2 of 4 units failed" in err and "failures.json" in err
    assert "--run-id r --resume --jobs 1 --quiet" in err


def _kill_mid_unit(log_dir, key: str, after_steps: int, timeout: float = 120.0) -> int:
    """Wait until unit ``key`` has logged ``after_steps`` steps, then SIGKILL its process."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = log_lines(log_dir, key)
        if sum(line.startswith("step") for line in lines) >= after_steps:
            pid = int(lines[0].split()[1])
            os.kill(pid, signal.SIGKILL)
            return pid
        time.sleep(0.02)
    raise AssertionError(f"unit {key} did not reach step {after_steps} in {timeout} s")


def _run_and_kill(tmp_path, monkeypatch, **executor_options) -> None:
    register(monkeypatch, "steps", steps_module())
    logs = tmp_path / "logs"
    logs.mkdir()
    outcome: dict = {}

    def drive() -> None:
        try:
            outcome["run_dir"] = run_experiment(
                "steps",
                out_dir=tmp_path,
                run_id="r",
                progress=False,
                overrides={"log_dir": str(logs)},
                **executor_options,
            )
        except BaseException as err:  # reported by the test thread below
            outcome["error"] = err

    driver = threading.Thread(target=drive)
    driver.start()
    killed = _kill_mid_unit(logs, "u0", after_steps=2)
    driver.join(timeout=300)
    assert not driver.is_alive()
    assert "error" not in outcome, outcome.get("error")

    # The killed unit started again and continued from its last checkpoint: it lost
    # at most the step in flight when it was killed.
    lines = log_lines(logs, "u0")
    starts = [line.split() for line in lines if line.startswith("start")]
    assert len(starts) == 2 and int(starts[0][1]) == killed and int(starts[1][1]) != killed
    done_before_kill = sum(
        line.startswith("step") for line in lines[: lines.index(" ".join(starts[1]))]
    )
    assert int(starts[1][2]) >= done_before_kill - 1 >= 1
    steps_run = [int(line.split()[1]) for line in lines if line.startswith("step")]
    assert sorted(set(steps_run)) == list(range(6)) and len(steps_run) <= 6 + 1
    # Nothing else was recomputed: every other unit started once and ran each step once.
    for key in ("u1", "u2"):
        other = log_lines(logs, key)
        assert sum(line.startswith("start") for line in other) == 1
        assert [line for line in other if line.startswith("step")] == [
            f"step {i}" for i in range(6)
        ]
    results = _results(outcome["run_dir"])
    assert results == {f"u{i}": {"steps": 6, "seed": derive_seed(f"u{i}", 0)} for i in range(3)}
    steps_dir = outcome["run_dir"] / "steps"
    assert sorted(p.name for p in steps_dir.iterdir()) == ["u0.json", "u1.json", "u2.json"]


def test_sigkill_of_a_pool_worker_loses_only_its_unit_since_checkpoint(tmp_path, monkeypatch):
    _run_and_kill(tmp_path, monkeypatch, jobs=2)


def test_sigkill_of_a_dask_worker_loses_only_its_unit_since_checkpoint(
    tmp_path, monkeypatch, dask_cluster
):
    _run_and_kill(tmp_path, monkeypatch, executor="dask", address=dask_cluster.scheduler_address)


def test_pool_workers_share_the_cores_and_one_bar_shows_the_sweep(tmp_path, monkeypatch, capsys):
    register(monkeypatch, "threads", threads_module())
    run_dir = run_experiment("threads", out_dir=tmp_path, run_id="pool", jobs=2)
    expected = max(1, (os.cpu_count() or 1) // 2)
    for counts in _results(run_dir).values():
        assert counts == {
            "torch": expected,
            "numba": expected,
            "omp": str(expected),
            "progress": False,
        }
    bars = capsys.readouterr().err
    assert "threads units" in bars and "2/2" in bars  # one bar for the sweep
    # One unit at a time in this process: units may show their own bars.
    run_dir = run_experiment("threads", out_dir=tmp_path, run_id="serial", jobs=1)
    assert all(counts["progress"] for counts in _results(run_dir).values())


def test_executor_options_are_checked_first(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="unknown executor 'spark'; valid choices: dask, local"):
        check_executor_options("spark", None, None)
    with pytest.raises(ValueError, match="needs executor 'dask'"):
        check_executor_options(None, None, "tcp://127.0.0.1:8786")
    with pytest.raises(ValueError, match="jobs must be a non-negative integer"):
        check_executor_options(None, -1, None)
    with pytest.raises(ValueError, match="with an address"):
        check_executor_options("dask", 2, "tcp://127.0.0.1:8786")
    assert check_executor_options(None, 0, None) == ("local", os.cpu_count())
    register(monkeypatch, "squares", squares_module())
    with pytest.raises(ValueError, match="unknown executor"):
        run_experiment("squares", out_dir=tmp_path, executor="spark")
    assert not (tmp_path / "squares").exists()


def test_missing_dask_names_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails as if not installed
    register(monkeypatch, "squares", squares_module())
    assert main(["reproduce", "squares", "--out", str(tmp_path), "--executor", "dask"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "pip install 'curse-of-memory[cluster]'" in err
    assert not (tmp_path / "squares").exists()


def test_unit_that_cannot_reach_a_worker_is_refused(tmp_path, monkeypatch):
    from curse_of_memory.experiments._units import Unit

    module = squares_module()
    module.units = lambda config: [Unit("local", lambda context: {"x": 1})]
    register(monkeypatch, "squares", module)
    with pytest.raises(ValueError, match="cannot be sent to a worker process"):
        run_experiment("squares", out_dir=tmp_path, jobs=2, progress=False)


def test_checkpoints_go_to_the_named_checkpoint_dir(tmp_path, monkeypatch):
    register(monkeypatch, "steps", steps_module())
    (tmp_path / "logs").mkdir()
    overrides = {"log_dir": str(tmp_path / "logs"), "steps": 2, "pause": 0.0, "units": 2}
    options = {"out_dir": tmp_path / "out", "progress": False, "overrides": overrides}
    run_dir = run_experiment("steps", run_id="r", checkpoint_dir=tmp_path / "shared", **options)
    for key in ("u0", "u1"):
        state = tmp_path / "shared" / "steps" / "r" / key / "state.json"
        assert json.loads(state.read_text()) == {"done": 2}
    assert not (run_dir / "checkpoints").exists()
    run_dir = run_experiment("steps", run_id="default", **options)
    assert (run_dir / "checkpoints" / "u0" / "state.json").is_file()  # default: in the run
