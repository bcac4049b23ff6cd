"""OpenMP threads that sleep instead of spinning while they wait for work.

torch and the numba kernels run their parallel loops on OpenMP threads. By default a
libgomp thread that finished a loop keeps spinning for a while, waiting for the next
one (``OMP_WAIT_POLICY=ACTIVE``: spinning without limit). On a machine with few cores that also
runs other work, the spinning threads take the cores from the thread that has the next
piece of work, and small operations (one time step, one Adam update) become many times
slower. ``PASSIVE`` makes idle threads sleep. BENCHMARKS.md has the measurements.

The setting is read once, when torch loads its OpenMP runtime, so it must be made
before ``import torch``. The command line does this; a value the user set wins.
"""

from __future__ import annotations

import os

WAIT_POLICY_VARIABLE = "OMP_WAIT_POLICY"


def prefer_sleeping_openmp_threads() -> str:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` unless the user chose a policy; returns the value in force.

    Has an effect only before torch (or another OpenMP user) is first imported.
    """
    return os.environ.setdefault(WAIT_POLICY_VARIABLE, "PASSIVE")
