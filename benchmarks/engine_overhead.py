"""Start-up and per-unit overhead of a distributed engine on this machine.

``python benchmarks/engine_overhead.py --engine dask|ray [--workers 2] [--tasks 200]``

Measures, for a local cluster of ``--workers`` single-threaded worker processes:

* ``import_s``: importing the engine's client module;
* ``startup_s``: starting the local cluster until every worker is ready, plus the
  first task's round trip;
* ``round_trip_ms``: one no-op task submitted and awaited, one after another
  (median of ``--tasks`` / 4 round trips): the latency a unit pays at least once;
* ``per_task_ms``: wall time of ``--tasks`` no-op tasks submitted at once and
  gathered, divided by the number of tasks: the throughput cost per unit;
* ``shutdown_s``: closing the cluster.

Prints one JSON object. Used to choose the engine behind ``--executor``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time


def _noop(value: int) -> int:
    return value


def _measure_dask(workers: int, tasks: int) -> dict:
    start = time.perf_counter()
    from distributed import Client, LocalCluster

    imported = time.perf_counter()
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    client = Client(cluster)
    client.wait_for_workers(workers)
    client.submit(_noop, -1, pure=False).result()
    started = time.perf_counter()
    trips = []
    for i in range(max(1, tasks // 4)):
        tic = time.perf_counter()
        client.submit(_noop, i, pure=False).result()
        trips.append(time.perf_counter() - tic)
    tic = time.perf_counter()
    client.gather([client.submit(_noop, i, pure=False) for i in range(tasks)])
    batch = time.perf_counter() - tic
    tic = time.perf_counter()
    client.close()
    cluster.close()
    return {
        "engine": "dask",
        "version": __import__("distributed").__version__,
        "import_s": imported - start,
        "startup_s": started - imported,
        "round_trip_ms": 1e3 * statistics.median(trips),
        "per_task_ms": 1e3 * batch / tasks,
        "shutdown_s": time.perf_counter() - tic,
    }


def _measure_ray(workers: int, tasks: int) -> dict:
    start = time.perf_counter()
    import ray

    imported = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, logging_level="ERROR")
    noop = ray.remote(num_cpus=1)(_noop)
    ray.get(noop.remote(-1))
    started = time.perf_counter()
    trips = []
    for i in range(max(1, tasks // 4)):
        tic = time.perf_counter()
        ray.get(noop.remote(i))
        trips.append(time.perf_counter() - tic)
    tic = time.perf_counter()
    ray.get([noop.remote(i) for i in range(tasks)])
    batch = time.perf_counter() - tic
    tic = time.perf_counter()
    ray.shutdown()
    return {
        "engine": "ray",
        "version": ray.__version__,
        "import_s": imported - start,
        "startup_s": started - imported,
        "round_trip_ms": 1e3 * statistics.median(trips),
        "per_task_ms": 1e3 * batch / tasks,
        "shutdown_s": time.perf_counter() - tic,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("dask", "ray"), required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tasks", type=int, default=200)
    args = parser.parse_args()
    measure = _measure_dask if args.engine == "dask" else _measure_ray
    print(json.dumps(measure(args.workers, args.tasks)))


if __name__ == "__main__":
    main()
