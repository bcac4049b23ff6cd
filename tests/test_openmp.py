"""Idle OpenMP threads sleep: the command line sets OMP_WAIT_POLICY before torch loads."""

from __future__ import annotations

import os
import subprocess
import sys

from curse_of_memory._openmp import WAIT_POLICY_VARIABLE, prefer_sleeping_openmp_threads


def test_sets_passive_when_unset_and_keeps_a_users_choice(monkeypatch):
    monkeypatch.delenv(WAIT_POLICY_VARIABLE, raising=False)
    assert prefer_sleeping_openmp_threads() == "PASSIVE"
    assert os.environ[WAIT_POLICY_VARIABLE] == "PASSIVE"
    monkeypatch.setenv(WAIT_POLICY_VARIABLE, "ACTIVE")
    assert prefer_sleeping_openmp_threads() == "ACTIVE"
    assert os.environ[WAIT_POLICY_VARIABLE] == "ACTIVE"


def test_command_line_sets_the_policy_before_torch_is_imported():
    # In a fresh interpreter without the variable: when torch is first imported (by the
    # subcommand), the variable must already be set.
    probe = (
        "import builtins, os, sys\n"
        "seen = []\n"
        "real_import = builtins.__import__\n"
        "def spy(name, *args, **kwargs):\n"
        "    if name == 'torch' and 'torch' not in sys.modules:\n"
        "        seen.append(os.environ.get('OMP_WAIT_POLICY'))\n"
        "    return real_import(name, *args, **kwargs)\n"
        "builtins.__import__ = spy\n"
        "from curse_of_memory.cli import main\n"
        "try:\n"
        "    main(['train', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(seen[:1])\n"
    )
    env = {k: v for k, v in os.environ.items() if k != WAIT_POLICY_VARIABLE}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "['PASSIVE']"
