"""Sparse text-like data: one epoch of fastlin against scikit-learn, one thread.

The problem looks like hashed bag-of-words text: n rows (default 200,000),
2^18 columns, about 60 nonzeros per row, column frequencies Zipf-distributed
(exponent 1.1), entries log(1 + count), each row scaled to unit norm; labels
from a sparse random linear model, binary and 10-class. The same float64
CSR goes to every model. Timed (median of interleaved repeats, 1 thread):

* binary: fastlin's Perceptron and LogisticRegression (per-sample,
  ``max_iter=1``; LogisticRegression and SoftmaxRegression with
  ``average=False``, as scikit-learn's SGDClassifier) against
  scikit-learn's Perceptron and SGDClassifier(loss="log_loss")
  (``max_iter=1``);
* 10 classes: fastlin's MulticlassPerceptron and SoftmaxRegression against
  the same two scikit-learn models (one-vs-rest: ten passes);
* each fastlin model twice: with its defaults (standardize=True: the fit
  makes one pass for the statistics and trains centred) and with
  standardize=False (the plain SGD scikit-learn runs), and the perceptrons
  also with shuffle=False (the rows read in storage order: a shuffled epoch
  reads every row at a random place, which is what costs most);
* the floor: one read of the CSR arrays (``X @ ones``).

Goals: binary epochs at most 0.25x scikit-learn's time, multi-class at most
0.1x, each within 3x one read of the CSR.

    python bench/sparse_text.py            # writes bench/RESULTS.md and a plot
    python bench/sparse_text.py --quick    # small n; prints, writes nothing

The section written to RESULTS.md lies between ``<!-- bench:sparse:begin -->``
and ``<!-- bench:sparse:end -->``; the plot is bench/sparse_text.png.
"""
import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

if __package__ in (None, ""):     # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (interleaved_medians, limited_threads, machine_info,  # noqa: E402
                          provenance_lines, write_section)

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
PLOT = Path(__file__).resolve().parent / "sparse_text.png"
SECTION = "sparse"
GOALS = {"binary": 0.25, "10-class": 0.1}


def text_like(n, m=2**18, per_row=60, n_classes=10, seed=0):
    """(X CSR float64, y binary, y 10-class): Zipf column frequencies,
    log-scaled counts, unit-norm rows."""
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    lengths = np.maximum(1, rng.poisson(per_row, n))
    nnz = int(lengths.sum())
    cols = (rng.zipf(1.1, nnz) - 1) % m              # Zipf frequencies over the columns
    cols = rng.permutation(m)[cols]                  # frequent columns scattered
    counts = rng.geometric(0.6, nnz).astype(np.float64)
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    X = sp.csr_matrix((np.log1p(counts), cols.astype(np.int32), indptr), shape=(n, m))
    X.sum_duplicates()
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    X = sp.csr_matrix(sp.diags(1 / norms) @ X)
    W = rng.normal(size=(m, n_classes)) * (rng.random((m, 1)) < 0.05)
    S = X @ W
    y_multi = S.argmax(axis=1)
    y_binary = (S[:, 0] > np.median(S[:, 0])).astype(np.int64)
    return X, y_binary, y_multi


def csr_read_seconds(X, repeats):
    """One streaming read of the CSR's arrays (X @ ones)."""
    ones = np.ones(X.shape[1])
    return interleaved_medians({"read": lambda: X @ ones}, repeats=repeats)[0]["read"]


def candidates(X, y_binary, y_multi):
    import fastlin
    from sklearn.linear_model import Perceptron as SkPerceptron
    from sklearn.linear_model import SGDClassifier

    def epoch(est, y):
        def run():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est.fit(X, y)
        return run

    common = dict(batch_size=1, max_iter=1, tol=None, random_state=0)
    sk = dict(max_iter=1, tol=None, random_state=0, shuffle=True)
    models = {"binary": [("Perceptron", fastlin.Perceptron, {}),
                         ("LogisticRegression", fastlin.LogisticRegression,
                          {"loss": "log_loss", "average": False})],
              "10-class": [("MulticlassPerceptron", fastlin.MulticlassPerceptron, {}),
                           ("SoftmaxRegression", fastlin.SoftmaxRegression,
                            {"average": False})]}
    tasks = {}
    for task, y in (("binary", y_binary), ("10-class", y_multi)):
        row = {}
        for name, cls, kw in models[task]:
            # the default (standardize=True: one pass for the statistics, a
            # centred epoch) and the plain SGD scikit-learn runs
            row[f"fastlin {name}"] = epoch(cls(**kw, **common), y)
            row[f"fastlin {name}{PLAIN}"] = epoch(cls(**kw, standardize=False, **common), y)
        # the rows in storage order: what the epoch costs when it streams X
        name, cls, kw = models[task][0]
        row[f"fastlin {name}{STREAMED}"] = epoch(
            cls(**kw, standardize=False, shuffle=False, **common), y)
        row["sklearn Perceptron"] = epoch(SkPerceptron(**sk), y)
        row["sklearn SGDClassifier(log_loss)"] = epoch(SGDClassifier(loss="log_loss", **sk), y)
        tasks[task] = row
    return tasks


PLAIN = " (standardize=False)"
STREAMED = " (standardize=False, shuffle=False)"

# fastlin model -> the scikit-learn model it is compared with
PAIRS = {"fastlin Perceptron": "sklearn Perceptron",
         "fastlin LogisticRegression": "sklearn SGDClassifier(log_loss)",
         "fastlin MulticlassPerceptron": "sklearn Perceptron",
         "fastlin SoftmaxRegression": "sklearn SGDClassifier(log_loss)"}
PAIRS.update({name + PLAIN: other for name, other in list(PAIRS.items())})
PAIRS.update({name + STREAMED: PAIRS[name]
              for name in ("fastlin Perceptron", "fastlin MulticlassPerceptron")})


def measure(X, y_binary, y_multi, repeats):
    """(one read of the CSR, {task: {model: epoch seconds}}, others): others
    is the mean number of cores other processes kept busy meanwhile."""
    from bench.reliability import _busy_seconds

    times = {}
    busy0, own0, t0 = *_busy_seconds(), time.perf_counter()
    with limited_threads(1):
        read = csr_read_seconds(X, repeats)
        for task, fns in candidates(X, y_binary, y_multi).items():
            times[task] = interleaved_medians(fns, repeats=repeats)[0]
    busy1, own1, t1 = *_busy_seconds(), time.perf_counter()
    others = max(0.0, (busy1 - busy0) - (own1 - own0)) / (t1 - t0)
    return read, times, others


def markdown(X, read, times, others, info, command):
    nnz_row = X.nnz / X.shape[0]
    lines = provenance_lines(command, info, 1) + [
        "",
        f"Other processes kept {others:.2f} of the machine's cores busy during the run "
        "(the mean): the ratios are taken within one run.",
        "",
        f"Data: {X.shape[0]:,} rows x {X.shape[1]:,} columns, {nnz_row:.1f} nonzeros per row "
        f"(CSR {(X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 1e6:.0f} MB); one "
        f"read of the CSR arrays {read * 1e3:.1f} ms.",
        "",
        "| task | model | epoch (ms) | vs scikit-learn | goal | vs one read (goal 3x) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for task, row in times.items():
        for name, seconds in row.items():
            if name.startswith("fastlin"):
                ratio = seconds / row[PAIRS[name]]
                lines.append(f"| {task} | {name} | {seconds * 1e3:.1f} | {ratio:.3f}x | "
                             f"<= {GOALS[task]}x | {seconds / read:.1f}x |")
            else:
                lines.append(f"| {task} | {name} | {seconds * 1e3:.1f} | | | "
                             f"{seconds / read:.1f}x |")
    lines += ["", f"![epoch times]({PLOT.name})"]
    return "\n".join(lines)


def plot(times, read, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(times), 1, figsize=(9, 3.2 * len(times)))
    for ax, (task, row) in zip(np.atleast_1d(axes), times.items()):
        names = list(row)
        ax.barh(names, [row[k] * 1e3 for k in names],
                color=["tab:blue" if k.startswith("fastlin") else "tab:gray" for k in names])
        ax.axvline(read * 1e3, color="k", ls="--", lw=1, label="one read of the CSR")
        ax.set_xlabel("one epoch (ms, 1 thread)")
        ax.set_title(task)
        ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small n; prints, writes nothing")
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--results", default=str(RESULTS))
    args = ap.parse_args(argv)
    if args.quick:
        args.rows, args.repeats = min(args.rows, 2000), 1
    info = machine_info()
    print(json.dumps(info))
    X, y_binary, y_multi = text_like(args.rows)
    read, times, others = measure(X, y_binary, y_multi, args.repeats)
    command = "flock /tmp/fastlin-bench.lock env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE " \
              "python bench/sparse_text.py " + " ".join(argv if argv is not None else sys.argv[1:])
    body = markdown(X, read, times, others, info, command.rstrip())
    print(body)
    if args.quick:
        return 0
    plot(times, read, PLOT)
    write_section(SECTION, body, Path(args.results))
    print(f"wrote the {SECTION} section of {args.results} and {PLOT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
