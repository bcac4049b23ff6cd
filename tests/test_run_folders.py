"""Run folders: exclusive creation, locks, checked resume, stale temporaries, --set, ledger."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import threading

import pytest
from _sweep_units import log_lines, register, squares_module

from curse_of_memory.cli import main
from curse_of_memory.experiments import (
    EXPERIMENTS,
    RunBusyError,
    RunExistsError,
    _run_folder,
    read_ledger,
    run_experiment,
)
from curse_of_memory.experiments._io import RunFileError
from curse_of_memory.experiments._run_folder import config_hash, create_run_folder


@pytest.fixture
def squares(monkeypatch, tmp_path):
    """The squares experiment, logging into tmp_path/logs; returns run options."""
    register(monkeypatch, "squares", squares_module())
    logs = tmp_path / "logs"
    logs.mkdir()
    return {"out_dir": tmp_path, "progress": False, "overrides": {"log_dir": str(logs)}}


def _cli(tmp_path, *extra: str) -> list[str]:
    logs = repr(str(tmp_path / "logs"))
    return ["reproduce", "squares", "--out", str(tmp_path), "--set", f"log_dir={logs}", *extra]


def test_default_run_ids_never_share_a_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(_run_folder, "timestamp_run_id", lambda: "20260101-120000")
    start = threading.Barrier(8)
    made = []

    def create() -> None:
        start.wait()
        made.append(create_run_folder(tmp_path / "fig", None))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    names = sorted(path.name for path in made)
    assert len(set(names)) == 8
    assert names[0] == "20260101-120000" and "20260101-120000-7" in names


# Both processes get the same default run id (the same second), as in a real collision.
_SAME_SECOND = (
    "import sys\n"
    "from curse_of_memory.experiments import _run_folder\n"
    "_run_folder.timestamp_run_id = lambda: '20260101-120000'\n"
    "from curse_of_memory.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def test_two_concurrent_reproduce_processes_keep_their_own_folders(tmp_path):
    command = [sys.executable, "-c", _SAME_SECOND, "reproduce", "fig4", "--quiet"]
    command += ["--out", str(tmp_path)]
    runs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, text=True),
        subprocess.Popen([*command, "--set", "samples=2"], stdout=subprocess.PIPE, text=True),
    ]
    for run in runs:
        assert run.wait(timeout=300) == 0
    folders = sorted(path.name for path in (tmp_path / "fig4").iterdir())
    assert folders == ["20260101-120000", "20260101-120000-1"]
    samples = set()
    for name in folders:
        folder = tmp_path / "fig4" / name
        config = json.loads((folder / "config.json").read_text())
        results = json.loads((folder / "results.json").read_text())
        done = json.loads((folder / "DONE").read_text())
        expected = config_hash("fig4", config["config"])
        assert config["config_hash"] == results["run"]["config_hash"] == done["config_hash"]
        assert config["config_hash"] == expected
        for path in (folder / "steps").rglob("*.json"):
            assert json.loads(path.read_text())["config_hash"] == expected
        samples.add(config["config"]["samples"])
    assert samples == {2, EXPERIMENTS["fig4"].PRESETS["quick"].samples}


def test_existing_run_id_without_resume_says_pass_resume(tmp_path, squares, capsys):
    run_experiment("squares", run_id="r", **squares)
    with pytest.raises(RunExistsError):
        run_experiment("squares", run_id="r", **squares)
    assert main(_cli(tmp_path, "--run-id", "r")) == 2
    err = capsys.readouterr().err
    assert "pass --resume to continue it" in err and "resume=True" not in err
    assert len(err.strip().splitlines()) == 1


def test_resume_without_run_id_lists_the_runs(tmp_path, squares, capsys):
    run_experiment("squares", run_id="first", **squares)
    assert main(_cli(tmp_path, "--resume")) == 2
    err = capsys.readouterr().err
    assert "--resume needs --run-id" in err and "runs of squares under" in err
    assert err.strip().endswith(": first")


def test_resume_of_a_run_in_use_is_refused(tmp_path, squares):
    run_dir = tmp_path / "squares" / "r"
    run_experiment("squares", run_id="r", **squares)
    (run_dir / "DONE").unlink()
    lock = _run_folder.lock_run_folder(run_dir)  # as if another process were working there
    try:
        with pytest.raises(RunBusyError, match="in use by another running process"):
            run_experiment("squares", run_id="r", resume=True, **squares)
    finally:
        _run_folder.unlock_run_folder(lock)
    run_experiment("squares", run_id="r", resume=True, **squares)
    assert (run_dir / "DONE").is_file()


def _interrupted_run(tmp_path, squares):
    """A run whose DONE and unit v/2 are gone (as after a kill)."""
    run_dir = run_experiment("squares", run_id="r", **squares)
    (run_dir / "DONE").unlink()
    (run_dir / "steps" / "v" / "2.json").unlink()
    return run_dir


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("steps/v/3.json", "3.json is not valid JSON"),
        ("config.json", "config.json is not valid JSON"),
        ("DONE", "DONE is not valid JSON"),
    ],
)
def test_corrupt_file_on_resume_is_named(tmp_path, squares, capsys, damage, message):
    run_dir = _interrupted_run(tmp_path, squares)
    (run_dir / damage).write_text('{"config_hash": "abc", "key"')
    with pytest.raises(RunFileError, match=message):
        run_experiment("squares", run_id="r", resume=True, **squares)
    assert main(_cli(tmp_path, "--run-id", "r", "--resume", "--quiet")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and str(run_dir / damage) in err[-1]


def test_step_with_wrong_keys_or_another_config_is_refused(tmp_path, squares):
    run_dir = _interrupted_run(tmp_path, squares)
    step = run_dir / "steps" / "v" / "3.json"
    saved = json.loads(step.read_text())
    step.write_text(json.dumps({"square": 9}))
    with pytest.raises(RunFileError, match=r"3\.json lacks the key\(s\) config_hash, key, result"):
        run_experiment("squares", run_id="r", resume=True, **squares)
    step.write_text(json.dumps({**saved, "config_hash": "0123456789abcdef"}))
    with pytest.raises(RunFileError, match="written under another config"):
        run_experiment("squares", run_id="r", resume=True, **squares)
    step.write_text(json.dumps(saved))
    run_experiment("squares", run_id="r", resume=True, **squares)
    assert (run_dir / "DONE").is_file()


def test_resume_with_another_config_says_what_differs(tmp_path, squares):
    _interrupted_run(tmp_path, squares)
    squares["overrides"] = {**squares["overrides"], "values": (1, 2, 3)}
    with pytest.raises(ValueError, match=r"config differs.*values: \[1, 2, 3, 4\] in the run"):
        run_experiment("squares", run_id="r", resume=True, **squares)


def test_resume_reuses_finished_units_and_removes_stale_temporaries(tmp_path, squares, capsys):
    run_dir = _interrupted_run(tmp_path, squares)
    stale = [run_dir / ".results.json.k2j3.tmp", run_dir / "steps" / "v" / ".2.json.x81.tmp"]
    for path in stale:
        path.write_text('{"half": ')
    assert main(_cli(tmp_path, "--run-id", "r", "--resume", "--quiet")) == 0
    err = capsys.readouterr().err
    assert "reusing 3 finished units, 1 to run" in err
    assert "removed 2 temporary file(s)" in err
    assert not any(path.exists() for path in stale)
    assert [len(log_lines(tmp_path / "logs", f"v/{v}")) for v in (1, 2, 3, 4)] == [1, 2, 1, 1]
    assert main(_cli(tmp_path, "--run-id", "r", "--resume", "--quiet")) == 0
    assert "already complete" in capsys.readouterr().err


def test_new_run_never_reads_steps_it_did_not_write(tmp_path, squares):
    run_experiment("squares", run_id="a", **squares)
    steps = (tmp_path / "squares" / "a" / "steps").rglob("*.json")
    assert all(json.loads(p.read_text())["config_hash"] for p in steps)
    run_dir = run_experiment("squares", run_id="b", **squares)
    assert json.loads((run_dir / "results.json").read_text())["run"]["reused_steps"] == []
    assert [len(log_lines(tmp_path / "logs", f"v/{v}")) for v in (1, 2, 3, 4)] == [2, 2, 2, 2]


def test_cli_prints_the_run_folder_and_the_resume_command_after_ctrl_c(
    tmp_path, monkeypatch, capsys
):
    register(monkeypatch, "squares", squares_module(interrupting=True))
    (tmp_path / "logs").mkdir()
    args = _cli(tmp_path, "--quiet", "--set", "values=(1, 2, 3)")
    assert main(args) == 130
    err = capsys.readouterr().err
    run_dir = next((tmp_path / "squares").iterdir())
    assert f"run folder: {run_dir}" in err.splitlines()[0]
    command = shlex.split(err.strip().splitlines()[-1])
    assert command[0] == "curse-of-memory" and "--resume" in command
    assert command[command.index("--run-id") + 1] == run_dir.name
    assert main(command[1:]) == 0
    assert "reusing 1 finished units, 2 to run" in capsys.readouterr().err
    assert json.loads((run_dir / "results.json").read_text())["squares"] == [1, 4, 9]


def test_set_overrides_are_validated_and_recorded(tmp_path, squares, capsys):
    assert main(_cli(tmp_path, "--quiet", "--set", "values=(5,6)", "--run-id", "s")) == 0
    config = json.loads((tmp_path / "squares" / "s" / "config.json").read_text())
    assert config["overrides"]["values"] == [5, 6] and config["config"]["values"] == [5, 6]
    results = json.loads((tmp_path / "squares" / "s" / "results.json").read_text())
    assert results["squares"] == [25, 36]
    capsys.readouterr()
    assert main(_cli(tmp_path, "--set", "width=3")) == 2
    err = capsys.readouterr().err
    assert "unknown override 'width'" in err and "valid keys: log_dir, seed, values" in err
    assert main(_cli(tmp_path, "--set", "values=(-1,)")) == 2
    assert "values must be non-negative integers" in capsys.readouterr().err
    assert main(_cli(tmp_path, "--set", "values")) == 2
    assert "--set expects KEY=VALUE" in capsys.readouterr().err


def _complete_run(tmp_path, name: str, run_id: str) -> None:
    assert main(["reproduce", name, "--out", str(tmp_path), "--run-id", run_id, "--quiet"]) == 0


def test_ledger_json_and_unreadable_runs(tmp_path, capsys):
    _complete_run(tmp_path, "fig4", "old")
    _complete_run(tmp_path, "fig4", "new")
    _complete_run(tmp_path, "fig1", "only")
    capsys.readouterr()
    assert main(["ledger", "--out", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    runs = {(row["experiment"], row["run_id"]) for row in report["claims"]}
    assert runs == {("fig1", "only"), ("fig4", "new")}
    assert report["unreadable"] == [] and report["total"] == len(report["claims"]) > 0
    assert report["passed"] == sum(row["passed"] for row in report["claims"])

    (tmp_path / "fig4" / "new" / "claims.json").write_text("[{")
    (tmp_path / "fig1" / "only" / "DONE").write_text("not json")
    ledger = read_ledger(tmp_path)
    assert {(row["experiment"], row["run_id"]) for row in ledger.claims} == {("fig4", "old")}
    problems = {entry["run"]: entry["error"] for entry in ledger.unreadable}
    assert "claims.json is not valid JSON" in problems[str(tmp_path / "fig4" / "new")]
    assert "DONE is not valid JSON" in problems[str(tmp_path / "fig1" / "only")]

    assert main(["ledger", "--out", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "fig4.exp_stable" in captured.out and "old" in captured.out
    assert f"unreadable run {tmp_path / 'fig1' / 'only'}" in captured.err
    assert main(["ledger", "--out", str(tmp_path), "--json"]) == 1
    assert len(json.loads(capsys.readouterr().out)["unreadable"]) == 2
