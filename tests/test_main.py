"""``python -m fastlin`` (fastlin/__main__.py), run in-process through ``main(argv)``."""
import io
import re
import subprocess
import sys

import numpy as np
import pytest

from fastlin.__main__ import (MODELS, Progress, infer_task, load_user_data, main, r2_score,
                              UsageError)
from fastlin.datasets import load_digits, load_digits_binary

HEADER = ["model", "data", "metric", "held-out", "cython fit", "numpy fit", "speed-up"]


def _table(out):
    """The printed table as (header, rows), cells split on 2+ spaces."""
    lines = out.strip().splitlines()
    dashes = next(i for i, line in enumerate(lines) if line and set(line) <= {"-", " "})
    header = re.split(r"\s{2,}", lines[dashes - 1].strip())
    rows = []
    for line in lines[dashes + 1:]:
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) != len(header):
            break  # the notes under the table
        rows.append(dict(zip(header, cells)))
    return header, rows


def _seconds(cell):
    value, unit = cell.split()
    return float(value) * (1e-3 if unit == "ms" else 1.0)


def _one_line_error(capsys, argv, *fragments):
    """main(argv) fails with status 2 and exactly one line on stderr."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("python -m fastlin: error: ")
    assert "Traceback" not in captured.err + captured.out
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# --------------------------------------------------------------------------
# the default job

def test_every_model_both_backends_sensible_scores(capsys):
    assert main(["--epochs", "5"]) == 0
    out = capsys.readouterr().out
    header, rows = _table(out)
    assert header == HEADER
    assert [r["model"] for r in rows] == [label for label, *_ in MODELS.values()]
    data = {label: default for label, _, default, _, _ in MODELS.values()}
    for r in rows:
        assert r["data"] == data[r["model"]]
        score = float(r["held-out"])
        if r["data"] == "diabetes":
            # R² of least squares on diabetes is about 0.5; 5 epochs get most of it
            assert r["metric"] == "R^2" and 0.3 < score <= 1.0, r
        else:
            assert r["metric"] == "accuracy" and 0.85 < score <= 1.0, r
        cy, npy = _seconds(r["cython fit"]), _seconds(r["numpy fit"])
        assert cy > 0 and npy > 0
        assert float(r["speed-up"].rstrip("x")) == pytest.approx(npy / cy, rel=0.02, abs=0.1)
    # same seed, same steps: the two backends agree
    match = re.search(r"differ by at most (\S+)", out)
    assert match and float(match.group(1)) < 1e-6


def test_one_backend_and_float32(capsys):
    assert main(["--models", "softmax,perceptron", "--backend", "cython", "--dtype", "float32",
                 "--epochs", "3"]) == 0
    out = capsys.readouterr().out
    assert "float32" in out
    _, rows = _table(out)
    assert [r["model"] for r in rows] == ["Perceptron(average=True)", "SoftmaxRegression"] or \
        [r["model"] for r in rows] == ["SoftmaxRegression", "Perceptron(average=True)"]
    for r in rows:
        assert r["numpy fit"] == "-" and r["speed-up"] == "-"
        assert float(r["held-out"]) > 0.85


def test_numpy_backend_alone(capsys):
    assert main(["--models", "mlp", "--backend", "numpy", "--epochs", "2"]) == 0
    _, rows = _table(capsys.readouterr().out)
    assert len(rows) == 1 and rows[0]["cython fit"] == "-" and float(rows[0]["held-out"]) > 0.7


def test_help_explains_the_options(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for word in ("--models", "--data", "--backend", "--epochs", "--dtype", "--label-column",
                 ".npz", ".csv", ".npy", "odd", *MODELS):
        assert word in out, word


# --------------------------------------------------------------------------
# user files

def _digits_binary_csv(path, header=True, words=False):
    X, y = load_digits_binary()
    with open(path, "w") as f:
        if header:
            f.write(",".join([f"px{j}" for j in range(X.shape[1])] + ["parity"]) + "\n")
        for row, label in zip(X, y):
            cell = ("odd" if label else "even") if words else repr(float(label))
            f.write(",".join(repr(float(v)) for v in row) + "," + cell + "\n")


def _scores(out):
    return {r["model"]: r["held-out"] for r in _table(out)[1]}


def test_csv_round_trip_matches_the_embedded_data(tmp_path, capsys):
    """The digits written to CSV (header, label column last) give the same
    split and so exactly the same scores as the embedded set."""
    path = tmp_path / "digits_binary.csv"
    _digits_binary_csv(path)
    argv = ["--models", "logistic,softmax", "--epochs", "3", "--backend", "cython"]
    assert main(argv + ["--data", "digits-binary"]) == 0
    embedded = _scores(capsys.readouterr().out)
    assert main(argv + ["--data", str(path)]) == 0
    out = capsys.readouterr().out
    assert _scores(out) == embedded
    assert "digits_binary.csv" in out


def test_csv_with_word_labels_and_named_label_column(tmp_path, capsys):
    path = tmp_path / "words.csv"
    _digits_binary_csv(path, words=True)
    # move nothing: name the column instead of relying on "last"
    assert main(["--data", str(path), "--label-column", "parity", "--models", "perceptron",
                 "--epochs", "3"]) == 0
    _, rows = _table(capsys.readouterr().out)
    assert float(rows[0]["held-out"]) > 0.85


def test_npz_round_trip(tmp_path, capsys):
    X, y = load_digits()
    path = tmp_path / "digits.npz"
    np.savez(path, X=X, y=y)
    argv = ["--models", "multiclass-perceptron", "--epochs", "2"]
    assert main(argv + ["--data", "digits"]) == 0
    embedded = _scores(capsys.readouterr().out)
    assert main(argv + ["--data", str(path)]) == 0
    assert _scores(capsys.readouterr().out) == embedded


def test_npy_with_label_column_first(tmp_path, capsys):
    X, y = load_digits()
    path = tmp_path / "table.npy"
    np.save(path, np.column_stack([y, X]))
    assert main(["--data", str(path), "--label-column", "0", "--models", "softmax",
                 "--epochs", "3"]) == 0
    _, rows = _table(capsys.readouterr().out)
    assert float(rows[0]["held-out"]) > 0.9


def test_models_that_do_not_fit_the_data_are_skipped_with_a_note(tmp_path, capsys):
    assert main(["--data", "digits", "--epochs", "2", "--backend", "cython"]) == 0
    out = capsys.readouterr().out
    _, rows = _table(out)
    assert {r["model"] for r in rows} == {"MulticlassPerceptron(average=True)",
                                          "SoftmaxRegression", "MLPClassifier(hidden_size=32)"}
    for name in ("linear-regression", "logistic-squared", "logistic", "perceptron"):
        assert f"skipped {name}" in out


def test_regression_file(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = 1000.0 * (X @ [1.0, -2.0, 0.5, 0.0]) + 5e4 + rng.normal(size=300)  # large scale
    path = tmp_path / "reg.csv"
    np.savetxt(path, np.column_stack([X, y]), delimiter=",")
    assert main(["--data", str(path), "--epochs", "30"]) == 0
    out = capsys.readouterr().out
    _, rows = _table(out)
    assert [r["model"] for r in rows] == ["LinearRegression"]
    assert float(rows[0]["held-out"]) > 0.99


# --------------------------------------------------------------------------
# errors: one line, status 2, no traceback

def test_missing_file(capsys, tmp_path):
    _one_line_error(capsys, ["--data", str(tmp_path / "nope.csv")], "no such file")


def test_unknown_model(capsys):
    _one_line_error(capsys, ["--models", "softmax,ridge"], "unknown model", "'ridge'")


def test_unknown_option_and_bad_values(capsys):
    _one_line_error(capsys, ["--frobnicate"], "unrecognized")
    _one_line_error(capsys, ["--backend", "gpu"], "--backend")
    _one_line_error(capsys, ["--dtype", "float16"], "--dtype")
    _one_line_error(capsys, ["--epochs", "0"], "--epochs")


@pytest.mark.parametrize("name, content, fragment", [
    ("data.txt", b"1,2,3\n", "unsupported file type"),
    ("data.npy", b"this is not numpy", "cannot read"),
    ("data.npz", b"PK\x03\x04 truncated", "cannot read"),
    ("empty.csv", b"", "empty"),
    ("ragged.csv", b"1,2,0\n3,4\n", "line 2"),
    ("text.csv", b"a,b,c\n1,2,0\n1,x,1\n", "line 3"),
    ("one.csv", b"1\n2\n3\n4\n5\n6\n", "2 columns"),
    ("same.csv", b"1,2,0\n3,4,0\n5,6,0\n7,8,0\n9,1,0\n", "single value"),
    ("nan.csv", b"1,nan,0\n3,4,1\n5,6,0\n7,8,1\n9,1,0\n", "NaN"),
])
def test_bad_file(capsys, tmp_path, name, content, fragment):
    path = tmp_path / name
    path.write_bytes(content)
    _one_line_error(capsys, ["--data", str(path)], fragment)


def test_bad_label_column(capsys, tmp_path):
    path = tmp_path / "d.csv"
    _digits_binary_csv(path)
    _one_line_error(capsys, ["--data", str(path), "--label-column", "colour"], "colour")
    _one_line_error(capsys, ["--data", str(path), "--label-column", "99"], "out of range")


def test_npz_with_wrong_arrays(capsys, tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, a=np.zeros((5, 3)), b=np.zeros(5))
    _one_line_error(capsys, ["--data", str(path)], "'X' and 'y'")
    np.savez(path, X=np.zeros((5, 3)), y=np.zeros(4))
    _one_line_error(capsys, ["--data", str(path)], "one label per row")


def test_no_model_applies(capsys):
    _one_line_error(capsys, ["--data", "diabetes", "--models", "softmax"], "none of the chosen")


def test_command_line_exit_status_and_stderr():
    """The real command: status 2 and one line on stderr, nothing on stdout."""
    proc = subprocess.run([sys.executable, "-m", "fastlin", "--data", "/no/such/file.npz"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "python -m fastlin: error: /no/such/file.npz: no such file"]


# --------------------------------------------------------------------------
# helpers

def test_infer_task():
    assert infer_task(np.array([0.0, 1.0, 1.0])) == "binary"
    assert infer_task(np.array([0.0, 1.0, 2.0])) == "multiclass"
    assert infer_task(np.array(["a", "b"])) == "binary"
    assert infer_task(np.array([0.5, 1.0, 2.0])) == "regression"
    assert infer_task(np.arange(1000.0)) == "regression"
    with pytest.raises(UsageError):
        infer_task(np.ones(4))


def test_csv_word_labels_without_header(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("1,2,odd\n3,4,even\n5,6,odd\n7,8,even\n9,1,odd\n")
    X, y = load_user_data(str(path))
    assert X.shape == (5, 2)
    assert y.tolist() == ["odd", "even", "odd", "even", "odd"]


def test_load_user_data_csv_without_header(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("1,2,0\n3,4,1\n\n5,6,0\n7,8,1\n9,1,0\n")
    X, y = load_user_data(str(path))
    np.testing.assert_array_equal(X, [[1, 2], [3, 4], [5, 6], [7, 8], [9, 1]])
    np.testing.assert_array_equal(y, [0, 1, 0, 1, 0])


def test_progress_counts_epochs_on_stderr():
    stream = io.StringIO()
    progress = Progress("[1/1] mlp (numpy)", 30, stream=stream)
    progress.write("epoch 1, loss 0.5, elapsed 0.01 s\n")
    assert stream.getvalue() == ""  # quick fits stay silent
    progress.start -= 10.0  # as if the fit had been running for 10 s
    progress.write("epoch 7, loss 0.25, elapsed 10 s\n")
    assert stream.getvalue() == "[1/1] mlp (numpy): epoch 7/30, 10 s\n"
    progress.write("epoch 8, loss 0.25, elapsed 10 s\n")  # not again within 5 s
    assert stream.getvalue() == "[1/1] mlp (numpy): epoch 7/30, 10 s\n"


def test_r2_score():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert r2_score(y, y) == 1.0
    assert r2_score(y, np.full(4, y.mean())) == 0.0
    assert r2_score(y, y + 1.0) == 1.0 - 4.0 / 5.0
