"""The network's default penalty against the number of rows: held-out
accuracy and fit time of ``MLPClassifier()`` with ``alpha="auto"``
(min(1e-3, 10/n), the default) and with the fixed ``alpha=1e-3`` it
replaced, on the generated raw-like set of ``bench/time_to_accuracy.py`` at
several sizes.

    flock /tmp/fastlin-bench.lock env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        python bench/network_alpha.py          # writes bench/RESULTS.md
    python bench/network_alpha.py --quick      # small sizes; writes nothing

Each size is split 80/20, stratified, with a fixed seed; every fit is one
fit from scratch (``random_state=0``, one thread), so a row's two times
come from the same minutes of the machine. scikit-learn's
``make_pipeline(StandardScaler(), MLPClassifier())`` at the largest size is
the time-to-accuracy section's figure, not repeated here.
"""
import argparse
import sys
import time
import warnings
from pathlib import Path

if __package__ in (None, ""):     # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import limited_threads, machine_info, provenance_lines, write_section  # noqa: E402
from bench.time_to_accuracy import SEED, generated  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
SECTION = "network-alpha"
SIZES = (12_500, 25_000, 50_000, 100_000)


def measure(sizes, log=print):
    """[(rows, n_train, alpha, fit seconds, epochs, held-out accuracy)] for
    "auto" and 1e-3 at each size."""
    from sklearn.model_selection import train_test_split

    import fastlin

    out = []
    for rows in sizes:
        X, y = generated(rows)
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.2, stratify=y, random_state=SEED)
        for alpha in ("auto", 1e-3):
            est = fastlin.MLPClassifier(alpha=alpha, random_state=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                start = time.perf_counter()
                est.fit(X_train, y_train)
                seconds = time.perf_counter() - start
            row = (rows, len(y_train), alpha, est.alpha_, seconds, est.n_iter_,
                   est.score(X_test, y_test))
            log(f"rows {rows:>7,}  alpha={alpha!s:5} (α {est.alpha_:.3g})  "
                f"{seconds:7.2f} s  {est.n_iter_:3d} epochs  accuracy {row[-1]:.4f}")
            out.append(row)
    return out


def markdown(rows, info, command):
    lines = ["## The network's default penalty and the number of rows "
             "(`bench/network_alpha.py`)", ""]
    lines += provenance_lines(command, info, 1)
    lines += ["", "How it is measured: the module docstring of `bench/network_alpha.py` "
              "(the generated raw-like set of the time-to-accuracy section; one fit "
              "each, one thread).", "",
              "| rows (train) | alpha | α used | fit time | epochs | held-out accuracy |",
              "|---|---|---|---|---|---|"]
    for rows_, n_train, alpha, used, seconds, epochs, score in rows:
        lines.append(f"| {rows_:,} ({n_train:,}) | {alpha} | {used:.3g} | {seconds:.2f} s "
                     f"| {epochs} | {score:.4f} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="sizes 2,000 and 4,000; writes nothing")
    ap.add_argument("--results", default=str(RESULTS))
    args = ap.parse_args(argv)
    sizes = (2_000, 4_000) if args.quick else SIZES
    info = machine_info()
    with limited_threads(1):
        rows = measure(sizes)
    if args.quick:
        return 0
    command = ("flock /tmp/fastlin-bench.lock env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "
               "python bench/network_alpha.py " + " ".join(
                   argv if argv is not None else sys.argv[1:])).rstrip()
    write_section(SECTION, markdown(rows, info, command), Path(args.results))
    print(f"wrote the {SECTION} section of {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
