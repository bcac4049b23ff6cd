"""Filesystem faults: nothing a user made is lost, and every refusal is one line.

Read-only and full filesystems are simulated two ways, and every case runs under
both: a real small tmpfs mounted for the test (needs root; skipped otherwise), and
monkeypatched system calls (``tempfile.mkstemp`` / ``os.replace`` raising ``EROFS`` or
``ENOSPC``, ``shutil.disk_usage`` reporting no free space) that run everywhere.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import torch

from curse_of_memory._atomic import AtomicWriteError, atomic_write, atomic_write_bytes
from curse_of_memory._outputs import (
    OutputLocationError,
    check_output_file,
    prepare_output_folder,
)
from curse_of_memory.cli import main
from curse_of_memory.training import load_model

TRAIN = ["train", "--target", "exp", "--hidden", "3", "--epochs", "2", "--length", "12",
         "--samples", "40", "--batch-size", "8", "--lr", "0.01", "--quiet"]  # fmt: skip
MESSAGES = {"read-only": "Read-only file system", "full": "is full"}


class FaultyFolder:
    """A folder that works until :meth:`break_it` makes it read-only or full."""

    def __init__(self, path: Path, fault: str, how: str, monkeypatch) -> None:
        self.path, self.fault, self.how = path, fault, how
        self._monkeypatch = monkeypatch

    @property
    def message(self) -> str:
        return MESSAGES[self.fault]

    def break_it(self) -> None:
        if self.how == "tmpfs":
            if self.fault == "read-only":
                assert _run(["mount", "-o", "remount,ro", str(self.path)])
            else:
                _fill(self.path)
        elif self.fault == "read-only":
            self._patch_calls(errno.EROFS)
        else:
            self._patch_calls(errno.ENOSPC)
            disk_usage = shutil.disk_usage

            def no_room(path):
                usage = disk_usage(path)
                return usage._replace(free=0) if self._inside(path) else usage

            self._monkeypatch.setattr(shutil, "disk_usage", no_room)

    def _inside(self, path) -> bool:
        return Path(path).absolute().is_relative_to(self.path.absolute())

    def _patch_calls(self, code: int) -> None:
        def refuse(path):
            raise OSError(code, os.strerror(code), str(path))

        mkstemp, replace = tempfile.mkstemp, os.replace

        def fake_mkstemp(*args, dir=None, **kwargs):
            if dir is not None and self._inside(dir) and code == errno.EROFS:
                refuse(dir)
            return mkstemp(*args, dir=dir, **kwargs)

        def fake_replace(src, dst, **kwargs):
            if self._inside(dst):
                refuse(dst)
            return replace(src, dst, **kwargs)

        self._monkeypatch.setattr(tempfile, "mkstemp", fake_mkstemp)
        self._monkeypatch.setattr(os, "replace", fake_replace)


def _run(command: list[str]) -> bool:
    return subprocess.run(command, capture_output=True, check=False).returncode == 0


def _fill(folder: Path) -> None:
    """Write into ``folder`` until its filesystem is full."""
    with open(folder / "filler", "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
        except OSError as err:
            assert err.errno == errno.ENOSPC


@pytest.fixture(
    params=[
        ("read-only", "tmpfs"),
        ("full", "tmpfs"),
        ("read-only", "patched"),
        ("full", "patched"),
    ],  # fmt: skip
    ids=lambda p: "-".join(p),
)
def faulty(request, tmp_path, monkeypatch):
    """A :class:`FaultyFolder` under ``tmp_path``; the working folder is ``tmp_path/work``."""
    fault, how = request.param
    folder = tmp_path / "faulty"
    folder.mkdir()
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    if how == "tmpfs":
        if os.geteuid() != 0 or shutil.which("mount") is None:
            pytest.skip("a tmpfs mount needs root")
        if not _run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)]):
            pytest.skip("tmpfs cannot be mounted here")
        request.addfinalizer(lambda: _run(["umount", "-l", str(folder)]))
    return FaultyFolder(folder, fault, how, monkeypatch)


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err  # one line, no traceback
    assert "error:" in err[0]
    return err[0]


# -- refused before the work starts ---------------------------------------------------------
def test_train_refuses_an_unwritable_out_before_training(faulty, capsys):
    faulty.break_it()
    out = faulty.path / "model.pt"
    assert main([*TRAIN, "--out", str(out)]) == 2
    printed = capsys.readouterr()
    assert "epoch" not in printed.out  # no training happened
    assert "--out" in printed.err and faulty.message in printed.err
    assert len(printed.err.strip().splitlines()) == 1
    assert not out.exists()


def test_train_refuses_an_unwritable_checkpoint_and_history(faulty, capsys, tmp_path):
    faulty.break_it()
    out = tmp_path / "work" / "model.pt"
    for option, name in (("--checkpoint", "ck.pt"), ("--history", "h.json")):
        assert main([*TRAIN, "--out", str(out), option, str(faulty.path / name)]) == 2
        line = _error_line(capsys)
        assert option in line and faulty.message in line
    assert not out.exists()


def test_memory_refuses_unwritable_figure_and_json(faulty, capsys):
    faulty.break_it()
    for option, name in (("--figure", "m.png"), ("--json", "m.json")):
        assert main(["memory", "--length", "20", option, str(faulty.path / name)]) == 2
        line = _error_line(capsys)
        assert option in line and faulty.message in line
    assert not Path("memory.png").exists()  # refused before the default figure was made


def test_demo_and_reproduce_refuse_an_unwritable_out(faulty, capsys):
    faulty.break_it()
    for argv in (["demo", "--skip-stability"], ["reproduce", "fig4", "--quiet"]):
        assert main([*argv, "--out", str(faulty.path / "results")]) == 2
        line = _error_line(capsys)
        assert "--out" in line and faulty.message in line
    assert not (faulty.path / "results").exists()


# -- faults that appear while the work runs -------------------------------------------------
def test_train_keeps_the_model_when_the_final_save_fails(faulty, capsys, monkeypatch, tmp_path):
    import curse_of_memory.training as training

    real_train = training.train

    def train_then_break(*args, **kwargs):
        result = real_train(*args, **kwargs)
        faulty.break_it()  # the disk fills (or turns read-only) during training
        return result

    monkeypatch.setattr(training, "train", train_then_break)
    out = faulty.path / "model.pt"
    assert main([*TRAIN, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "cannot write" in err and str(out) in err
    rescued = list((tmp_path / "work").glob("model.rescued-*.pt"))
    assert len(rescued) == 1 and str(rescued[0].name) in err
    assert not out.exists()

    # The rescued file is the trained model: the same run into a good folder gives the
    # same weights bit for bit (CPU training is deterministic).
    monkeypatch.setattr(training, "train", real_train)
    reference = tmp_path / "reference.pt"
    assert main([*TRAIN, "--out", str(reference)]) == 0
    got, want = load_model(rescued[0]).state_dict(), load_model(reference).state_dict()
    assert got.keys() == want.keys()
    assert all(torch.equal(got[k], want[k]) for k in got)


def test_a_failed_checkpoint_write_does_not_stop_training(faulty, tmp_path):
    from curse_of_memory.models import ContinuousRNN
    from curse_of_memory.targets import make_dataset
    from curse_of_memory.training import train

    faulty.break_it()
    data = make_dataset("exp", 40, 12, 1.0)
    torch.manual_seed(0)
    model = ContinuousRNN(3).double()
    with pytest.warns(RuntimeWarning, match="checkpoint of epoch 2 not written"):
        result = train(
            model, data, epochs=2, lr=0.01, batch_size=8, progress=False,
            checkpoint_path=faulty.path / "ck.pt", checkpoint_every=2,
        )  # fmt: skip
    assert result.epochs_run == 2 and not result.diverged
    torch.manual_seed(0)
    reference = ContinuousRNN(3).double()
    train(reference, data, epochs=2, lr=0.01, batch_size=8, progress=False)
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), reference.state_dict().values(), strict=True)
    )


def test_atomic_write_failure_keeps_the_old_file_and_no_temporary(faulty):
    target = faulty.path / "data.bin"
    target.write_bytes(b"old content")
    faulty.break_it()
    with pytest.raises(AtomicWriteError) as info:
        atomic_write_bytes(target, b"x" * (4 << 20))  # 4 MiB: more than the 2 MiB tmpfs
    assert str(target) in str(info.value)
    assert info.value.errno in (errno.EROFS, errno.ENOSPC)
    assert target.read_bytes() == b"old content"
    assert not list(faulty.path.glob(".data.bin.*"))


# -- wrong kinds of path (no simulation needed) ---------------------------------------------
def test_atomic_write_puts_its_temporary_beside_the_target_and_creates_no_folder(tmp_path):
    seen = []
    atomic_write(
        tmp_path / "a.txt", lambda tmp: (seen.append(Path(tmp)), Path(tmp).write_text("a"))
    )
    assert seen[0].parent == tmp_path and seen[0].name.startswith(".a.txt.")
    assert (tmp_path / "a.txt").read_text() == "a" and not seen[0].exists()
    with pytest.raises(AtomicWriteError, match="does not exist"):
        atomic_write_bytes(tmp_path / "new" / "deeper" / "b.bin", b"b")
    assert not (tmp_path / "new").exists()
    (tmp_path / "folder").mkdir()
    with pytest.raises(AtomicWriteError, match="is a folder"):
        atomic_write_bytes(tmp_path / "folder", b"c")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "folder"]


@pytest.mark.parametrize("option", ["--figure", "--json"])
def test_memory_outputs_naming_a_folder_or_a_missing_folder(option, tmp_path, capsys):
    (tmp_path / "existing").mkdir()
    (tmp_path / "plain").write_text("a file")
    suffix = ".png" if option == "--figure" else ".json"
    cases = {
        str(tmp_path / "existing"): "is a folder",
        str(tmp_path / "missing" / "deeper" / f"m{suffix}"): "does not exist",
        str(tmp_path / "plain" / f"m{suffix}"): "is a file, not a folder",
    }
    for path, message in cases.items():
        argv = ["memory", "--length", "20", "--figure", str(tmp_path / "m.png"), option, path]
        assert main(argv) == 2
        line = _error_line(capsys)
        assert option in line and message in line
    assert not (tmp_path / "missing").exists()  # nothing created where the user did not ask
    assert not (tmp_path / "m.png").exists()  # refused before the work


def test_figure_with_an_unknown_format_is_refused(tmp_path, capsys):
    assert main(["memory", "--length", "20", "--figure", str(tmp_path / "m.xyz")]) == 2
    assert "must end in one of" in _error_line(capsys)


def test_train_out_checkpoint_and_history_paths(tmp_path, capsys):
    out = tmp_path / "model.pt"
    out.write_text("keep me")
    assert main([*TRAIN, "--out", str(out)]) == 2
    assert "already exists" in _error_line(capsys) and out.read_text() == "keep me"
    (tmp_path / "dir").mkdir()
    assert main([*TRAIN, "--out", str(tmp_path / "dir")]) == 2
    assert "is a folder" in _error_line(capsys)
    checkpoint = tmp_path / "ck.pt"
    checkpoint.write_text("an old checkpoint")
    argv = [*TRAIN, "--out", str(tmp_path / "new.pt"), "--checkpoint", str(checkpoint)]
    assert main(argv) == 2
    assert "--resume" in _error_line(capsys) and checkpoint.read_text() == "an old checkpoint"
    assert (
        main([*TRAIN, "--out", str(tmp_path / "a.pt"), "--checkpoint", str(tmp_path / "a.pt")]) == 2
    )
    assert "different files" in _error_line(capsys)
    assert (
        main([*TRAIN, "--out", str(tmp_path / "b.pt"), "--history", str(tmp_path / "h.txt")]) == 2
    )
    assert ".json, .csv" in _error_line(capsys)
    assert not (tmp_path / "new.pt").exists() and not (tmp_path / "a.pt").exists()
    assert main([*TRAIN, "--out", str(out), "--force"]) == 0  # --force overwrites
    assert load_model(out).config()["hidden_size"] == 3


def test_demo_and_reproduce_out_naming_a_file(tmp_path, capsys):
    plain = tmp_path / "plain"
    plain.write_text("a file")
    for argv in (["demo", "--skip-stability"], ["reproduce", "fig4", "--quiet"]):
        assert main([*argv, "--out", str(plain / "results")]) == 2
        assert "is a file, not a folder" in _error_line(capsys)
    assert plain.read_text() == "a file"


def test_an_output_folder_is_created_with_its_parents(tmp_path):
    out = prepare_output_folder(tmp_path / "a" / "b", "--out")
    assert out.is_dir()
    with pytest.raises(OutputLocationError, match="is a folder"):
        check_output_file(out, "--figure")


def test_a_model_file_holding_text_is_a_one_line_error(tmp_path, capsys):
    text = tmp_path / "model.pt"
    text.write_text("these are not weights\n")
    assert main(["memory", "--model", str(text), "--figure", str(tmp_path / "m.png")]) == 2
    line = _error_line(capsys)
    assert str(text) in line and "not a torch file" in line


@pytest.mark.parametrize(
    ("option", "value"), [("--hidden", "10000000"), ("--samples", "10000000000")]
)
def test_train_refuses_absurd_sizes_before_allocating(option, value, tmp_path, capsys, monkeypatch):
    import curse_of_memory.targets as targets

    def no_data(*args, **kwargs):
        raise AssertionError("the dataset must not be built")

    monkeypatch.setattr(targets, "make_dataset", no_data)
    assert main([*TRAIN, option, value, "--out", str(tmp_path / "m.pt")]) == 2
    line = _error_line(capsys)
    assert f"{option} {value}" in line and "more than the limit" in line


def test_train_interrupted_says_which_epoch_the_checkpoint_holds(tmp_path, capsys, monkeypatch):
    import curse_of_memory.training as training

    real_train = training.train

    def stop_after_two_epochs(epoch, result):
        if epoch == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(
        training, "train", lambda *a, **kw: real_train(*a, callback=stop_after_two_epochs, **kw)
    )
    checkpoint = tmp_path / "ck.pt"
    argv = [*TRAIN, "--epochs", "5", "--out", str(tmp_path / "m.pt"), "--checkpoint",
            str(checkpoint)]  # fmt: skip
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert f"checkpoint of epoch 2 in {str(checkpoint)!r}" in err and "--resume" in err
    assert training.load_checkpoint(checkpoint)["epoch"] == 2


def test_train_resume_from_a_corrupt_checkpoint_is_a_one_line_error(tmp_path, capsys):
    checkpoint = tmp_path / "ck.pt"
    checkpoint.write_text("{not a checkpoint")
    argv = [*TRAIN, "--out", str(tmp_path / "m.pt"), "--checkpoint", str(checkpoint), "--resume"]
    assert main(argv) == 2
    line = _error_line(capsys)
    assert str(checkpoint) in line and "not a torch file" in line
    assert not (tmp_path / "m.pt").exists()
