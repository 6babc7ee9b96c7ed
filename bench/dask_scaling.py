"""Training on a dask cluster: per-iteration overhead and scaling with workers.

    flock /tmp/fastlin-bench.lock env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        python bench/dask_scaling.py           # writes bench/RESULTS.md
    python bench/dask_scaling.py --quick       # small sizes; writes nothing

Needs the ``dask`` extra (``pip install -e ".[dask]"``). Every cluster is a
``distributed.LocalCluster`` of worker processes with one thread each (the
nanny limits BLAS/OpenMP threads to 1 in them), on this machine.

Overhead. A tiny problem (``--tiny-rows`` x 10, two chunks per worker), so
that the time is the cost of one iteration of the distributed loop itself:
a full-batch step (``LinearRegression(batch_size=None)``: map-reduce of the
gradient) and a mixing round (``Perceptron``: one epoch on every worker,
then the average). The figure is the slope (T(k2) − T(k1)) / (k2 − k1) of
two fits of k1 and k2 iterations, timed in the same interleaved rotation:
the one-off validation of the chunks cancels out.

Scaling. The dense W2 problem of ``bench/problems.py`` (n = 100,000,
m = 100, c = 10, float64), persisted on the workers in ``--chunks-per-worker``
chunks per worker, with 1 and with 2 workers: the time of one full-batch
step and of one SGD epoch (per-sample, mixing) of ``SoftmaxRegression``
against the same fit in memory in this process (one thread). ``speed-up``
is the in-memory time over the cluster's.

The section written to RESULTS.md lies between ``<!-- bench:dask:begin -->``
and ``<!-- bench:dask:end -->``.
"""
import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

if __package__ in (None, ""):     # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (interleaved_medians, limited_threads, machine_info,  # noqa: E402
                          provenance_lines, write_section)
from bench.problems import PROBLEMS  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
SECTION = "dask"


def _cluster(n_workers):
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                           dashboard_address=":0")
    return cluster, Client(cluster)


def _per_iteration(make, X, y, k1, k2, repeats):
    """Seconds per iteration: the slope between fits of k1 and k2 iterations."""
    def fit(k):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            make(k).fit(X, y)
    medians, _ = interleaved_medians({"k1": lambda: fit(k1), "k2": lambda: fit(k2)},
                                     repeats=repeats)
    return (medians["k2"] - medians["k1"]) / (k2 - k1)


def _models():
    from fastlin import LinearRegression, Perceptron, SoftmaxRegression

    return {
        "full-batch step": lambda k: LinearRegression(batch_size=None, max_iter=k, tol=None),
        "mixing round (per-sample epoch)": lambda k: Perceptron(max_iter=k, tol=None,
                                                                random_state=0),
    }, {
        "full-batch step": lambda k: SoftmaxRegression(batch_size=None, max_iter=k, tol=None),
        "SGD epoch (per-sample)": lambda k: SoftmaxRegression(batch_size=1, average=False,
                                                              max_iter=k, tol=None,
                                                              random_state=0),
    }


def overhead(n_workers, rows, repeats):
    import dask.array as da

    tiny_models, _ = _models()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((rows, 10))
    y = (X[:, 0] > 0).astype(np.float64)
    cluster, client = _cluster(n_workers)
    try:
        chunk = -(-rows // (2 * n_workers))
        Xd, yd = client.persist([da.from_array(X, chunks=(chunk, 10)),
                                 da.from_array(y, chunks=chunk)])
        return {name: _per_iteration(make, Xd, yd, 2, 6, repeats)
                for name, make in tiny_models.items()}
    finally:
        client.close()
        cluster.close()


def scaling(workers, chunks_per_worker, rows, repeats):
    import dask.array as da

    _, models = _models()
    problem = next(p for p in PROBLEMS if p.name == "W2")
    data = problem.data(n=rows)
    X, y = data["X"], data["y"]
    rows = len(y)
    table = {}
    with limited_threads(1):
        for name, make in models.items():
            table[(name, "memory")] = _per_iteration(make, X, y, 1, 3, repeats)
    for k in workers:
        cluster, client = _cluster(k)
        try:
            chunk = -(-len(y) // (k * chunks_per_worker))
            Xd, yd = client.persist([da.from_array(X, chunks=(chunk, X.shape[1])),
                                     da.from_array(y, chunks=chunk)])
            for name, make in models.items():
                table[(name, k)] = _per_iteration(make, Xd, yd, 1, 3, repeats)
        finally:
            client.close()
            cluster.close()
    return table, problem, rows


def markdown(over, scale, info, command, args):
    table, problem, rows = scale
    lines = provenance_lines(command, info, 1)
    lines += ["", "Each worker is a process with one thread, on this machine. Times are "
              f"medians of {args.repeats} interleaved repeats, per iteration (the slope "
              "between fits of k1 and k2 iterations, so the one-off validation of the "
              "chunks cancels out).", "",
              f"### Per-iteration overhead: {args.tiny_rows} x 10 rows, 2 chunks per worker",
              "", "| iteration | " + " | ".join(f"{k} worker(s), ms" for k in over) + " |",
              "|---|" + "---|" * len(over)]
    for name in next(iter(over.values())):
        lines.append(f"| {name} | " + " | ".join(f"{over[k][name] * 1e3:.2f}" for k in over)
                     + " |")
    workers = [k for k in args.workers]
    lines += ["", f"### Scaling: {problem.name}, n = {rows:,}, m = {problem.m}, "
              f"c = {problem.c}, {np.dtype(problem.dtype).name}, "
              f"{args.chunks_per_worker} chunks per worker", "",
              "| iteration | in memory, ms | " + " | ".join(
                  f"{k} worker(s), ms (speed-up)" for k in workers) + " |",
              "|---|---|" + "---|" * len(workers)]
    for name in dict.fromkeys(key[0] for key in table):
        base = table[(name, "memory")]
        lines.append(f"| {name} | {base * 1e3:.2f} | " + " | ".join(
            f"{table[(name, k)] * 1e3:.2f} ({base / table[(name, k)]:.2f}x)"
            for k in workers) + " |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes; writes nothing")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--tiny-rows", type=int, default=2000)
    ap.add_argument("--rows", type=int, default=None, help="rows of W2 (default: its n)")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--chunks-per-worker", type=int, default=2)
    ap.add_argument("--results", default=str(RESULTS))
    args = ap.parse_args(argv)
    if args.quick:
        args.repeats, args.tiny_rows = 1, 400
        args.rows = args.rows or 2000
    args.workers = [int(k) for k in str(args.workers).split(",")]
    info = machine_info()
    print(json.dumps(info))
    over = {k: overhead(k, args.tiny_rows, args.repeats) for k in args.workers}
    scale = scaling(args.workers, args.chunks_per_worker, args.rows, args.repeats)
    command = "flock /tmp/fastlin-bench.lock env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE " \
              "python bench/dask_scaling.py " + " ".join(argv if argv is not None else sys.argv[1:])
    body = markdown(over, scale, info, command.rstrip(), args)
    print(body)
    if args.quick:
        return 0
    write_section(SECTION, body, Path(args.results))
    print(f"wrote the {SECTION} section of {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
