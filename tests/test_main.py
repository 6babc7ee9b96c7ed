"""``fastlin`` / ``python -m fastlin`` (fastlin/__main__.py), run in-process
through ``main(argv)``."""
import io
import pickle
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from fastlin.__main__ import (MODELS, Progress, infer_task, load_user_data, main, r2_score,
                              train_test_split, UsageError)
from fastlin.datasets import load_diabetes, load_digits, load_digits_binary

ROOT = Path(__file__).resolve().parent.parent

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
    assert lines[0].startswith("fastlin: error: ")
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
    ("data.npy", b"this is not numpy", "not a NumPy .npy file"),
    ("data.npz", b"this is not a zip", "not a NumPy .npz file"),
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
        "fastlin: error: /no/such/file.npz: no such file, nor an embedded dataset (those "
        "are digits, digits-binary, diabetes)"]


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


# --------------------------------------------------------------------------
# rough edges of the data files

@pytest.mark.parametrize("name, array", [
    ("flat.npy", np.arange(12.0)),
    ("cube.npy", np.zeros((3, 4, 5))),
    ("flat.npz", np.arange(12.0)),
    ("cube.npz", np.zeros((3, 4, 5))),
])
def test_arrays_that_are_not_2d(capsys, tmp_path, name, array):
    path = tmp_path / name
    if name.endswith(".npy"):
        np.save(path, array)
    else:
        np.savez(path, table=array)
    line = _one_line_error(capsys, ["--data", str(path)], "expected a 2-D array",
                           f"shape {array.shape}")
    assert "--label-column" not in line


def test_header_only_csv(capsys, tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("width,height,label\n")
    _one_line_error(capsys, ["--data", str(path)], "no data rows after the header line")


def test_unknown_data_name_lists_the_embedded_sets(capsys):
    _one_line_error(capsys, ["--data", "digitz"], "digitz: no such file",
                    "digits, digits-binary, diabetes")


def test_csv_with_quotes_and_spaces_after_the_commas(tmp_path, capsys):
    """Quoted fields (one holding a comma) and a space after each comma parse
    by the csv module's rules, as the same file written plainly."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2)).round(3)
    words = ["odd, really", "even"]
    y = (X[:, 0] > 0).astype(int)
    quoted = tmp_path / "quoted.csv"
    quoted.write_text('"x 1", "x 2", "label"\n' + "".join(
        f'"{float(a)!r}", {float(b)!r}, "{words[k]}"\n' for (a, b), k in zip(X, y)))
    X_read, y_read = load_user_data(str(quoted))
    np.testing.assert_array_equal(X_read, X)
    assert y_read.tolist() == [words[k] for k in y]
    assert main(["--data", str(quoted), "--label-column", "label", "--models", "perceptron",
                 "--epochs", "3", "--backend", "cython"]) == 0
    _, rows = _table(capsys.readouterr().out)
    assert rows[0]["data"] == "quoted.csv" and float(rows[0]["held-out"]) >= 0.75


def test_a_file_named_npy_that_is_not_one(capsys, tmp_path):
    path = tmp_path / "data.npy"
    np.savetxt(path, np.ones((6, 3)), delimiter=",")   # a CSV under the wrong name
    line = _one_line_error(capsys, ["--data", str(path)], "not a NumPy .npy file")
    assert "pickle" not in line


def test_label_column_where_it_cannot_apply(capsys, tmp_path):
    X, y = load_digits()
    path = tmp_path / "xy.npz"
    np.savez(path, X=X, y=y)
    _one_line_error(capsys, ["--data", str(path), "--label-column", "0"],
                    "--label-column does not apply", "array 'y'")
    _one_line_error(capsys, ["--data", "digits", "--label-column", "-1"],
                    "--label-column does not apply", "embedded dataset 'digits'")
    _one_line_error(capsys, ["--label-column", "0"], "--label-column applies to")


# --------------------------------------------------------------------------
# --task

def test_task_overrides_the_guess(tmp_path, capsys):
    """60 integer values: a regression target by default, classes with
    --task classification; and 0/1 labels become a target with --task regression."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 3))
    y = np.arange(600) % 60
    path = tmp_path / "many.csv"
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", fmt="%.6g")
    argv = ["--data", str(path), "--epochs", "1", "--backend", "cython"]

    assert main(argv) == 0
    assert [r["model"] for r in _table(capsys.readouterr().out)[1]] == ["LinearRegression"]

    assert main(argv + ["--task", "classification", "--models", "softmax,linear-regression"]) == 0
    out = capsys.readouterr().out
    assert [r["model"] for r in _table(out)[1]] == ["SoftmaxRegression"]
    assert "skipped linear-regression: it needs a regression target" in out

    binary = tmp_path / "binary.csv"
    np.savetxt(binary, np.column_stack([X, X[:, 0] > 0]), delimiter=",", fmt="%.6g")
    assert main(["--data", str(binary), "--task", "regression", "--epochs", "5",
                 "--backend", "cython"]) == 0
    rows = _table(capsys.readouterr().out)[1]
    assert [(r["model"], r["metric"]) for r in rows] == [("LinearRegression", "R^2")]


def test_infer_task_with_a_task():
    many = np.arange(100.0)
    assert infer_task(many) == "regression"
    assert infer_task(many, "classification") == "multiclass"
    assert infer_task(np.array([0.5, 1.5, 0.5]), "classification") == "binary"
    assert infer_task(np.array([0.0, 1.0, 1.0]), "regression") == "regression"
    with pytest.raises(UsageError, match="needs numeric labels"):
        infer_task(np.array(["a", "b"]), "regression")


def test_task_regression_on_word_labels(capsys, tmp_path):
    path = tmp_path / "words.csv"
    _digits_binary_csv(path, words=True)
    _one_line_error(capsys, ["--data", str(path), "--task", "regression"],
                    "--task regression needs numeric labels")
    _one_line_error(capsys, ["--task", "ordinal"], "--task")


# --------------------------------------------------------------------------
# --save and --predict

def _standardized(X, entry):
    return ((X - entry["x_mean"]) / entry["x_scale"]).astype(entry["dtype"])


def _csv_columns(text):
    lines = text.strip().splitlines()
    header = lines[0].split(",")
    return {name: [line.split(",")[j] for line in lines[1:]] for j, name in enumerate(header)}


def test_save_and_predict_classes(tmp_path, capsys):
    """--save pickles the fitted estimators with the training statistics;
    --predict writes the predictions they make on the standardised rows, one
    CSV column per model, for a file with or without its label column."""
    train = tmp_path / "train.csv"
    _digits_binary_csv(train, words=True)
    models = tmp_path / "models.pkl"
    assert main(["--data", str(train), "--models", "logistic,perceptron", "--epochs", "3",
                 "--save", str(models)]) == 0
    assert f"saved logistic, perceptron to {models}" in capsys.readouterr().out

    with open(models, "rb") as f:
        bundle = pickle.load(f)
    assert bundle["format"] == "fastlin-cli-models" and bundle["version"] == 1
    assert list(bundle["models"]) == ["logistic", "perceptron"]
    entry = bundle["models"]["logistic"]
    assert entry["backend"] == "cython" and entry["task"] == "binary"
    assert entry["estimator"].get_params()["verbose"] == 0
    X, y = load_digits_binary()
    X_train = train_test_split(X, y, 0.2, np.random.default_rng(0))[0]   # --seed 0
    np.testing.assert_array_equal(entry["x_mean"], X_train.mean(axis=0))
    np.testing.assert_array_equal(entry["x_scale"], np.where(X_train.std(axis=0) == 0, 1.0,
                                                             X_train.std(axis=0)))
    assert entry["y_mean"] is None and entry["layout"][1] == "parity"

    # the training file (its label column is dropped) and the features alone
    features = tmp_path / "features.npy"
    np.save(features, X)
    out = tmp_path / "pred.csv"
    assert main(["--predict", str(models), "--data", str(train)]) == 0
    from_train = capsys.readouterr().out
    assert main(["--predict", str(models), "--data", str(features), "--output", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert out.read_text() == from_train
    columns = _csv_columns(from_train)
    assert list(columns) == ["logistic", "perceptron"]
    for name, column in columns.items():
        est = bundle["models"][name]["estimator"]
        assert column == est.predict(_standardized(X, bundle["models"][name])).tolist()
        words = np.where(y == 1, "odd", "even")
        assert np.mean(np.array(column) == words) > 0.85

    # --models picks among the saved ones
    assert main(["--predict", str(models), "--data", str(features), "--models",
                 "perceptron"]) == 0
    assert _csv_columns(capsys.readouterr().out) == {"perceptron": columns["perceptron"]}


def test_save_and_predict_a_regression_target_on_its_scale(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = 1000.0 * (X @ [1.0, -2.0, 0.5, 0.0]) + 5e4 + rng.normal(size=300)
    train = tmp_path / "reg.npz"
    np.savez(train, X=X, y=y)
    models = tmp_path / "reg.pkl"
    assert main(["--data", str(train), "--epochs", "30", "--dtype", "float32",
                 "--save", str(models)]) == 0
    capsys.readouterr()
    assert main(["--predict", str(models), "--data", str(train)]) == 0
    columns = _csv_columns(capsys.readouterr().out)
    assert list(columns) == ["linear-regression"]
    predicted = np.array([float(v) for v in columns["linear-regression"]])
    assert r2_score(y, predicted) > 0.99
    assert abs(predicted.mean() - 5e4) < 500


def test_predict_errors(capsys, tmp_path):
    models = tmp_path / "models.pkl"
    assert main(["--models", "softmax,linear-regression", "--epochs", "1", "--backend",
                 "cython", "--save", str(models)]) == 0
    capsys.readouterr()
    _one_line_error(capsys, ["--predict", str(models)], "--predict needs --data")
    _one_line_error(capsys, ["--predict", str(models), "--data", "digits", "--epochs", "3",
                             "--seed", "1"], "--epochs, --seed do not apply with --predict")
    _one_line_error(capsys, ["--predict", str(models), "--data", "digits"],
                    "differently shaped data", "choose the ones to use with --models")
    _one_line_error(capsys, ["--predict", str(models), "--data", "digits", "--models", "mlp"],
                    "holds no model 'mlp'", "softmax, linear-regression")
    table = tmp_path / "wide.npy"
    np.save(table, np.zeros((5, 70)))
    _one_line_error(capsys, ["--predict", str(models), "--data", str(table), "--models",
                             "softmax"], "70 columns", "64 features")
    _one_line_error(capsys, ["--predict", str(models), "--data", "digits", "--models",
                             "softmax", "--label-column", "0"], "--label-column does not apply")
    not_models = tmp_path / "not.pkl"
    not_models.write_bytes(b"hello")
    _one_line_error(capsys, ["--predict", str(not_models), "--data", "digits"],
                    "not a model file written by --save")
    not_models.write_bytes(pickle.dumps({"a": 1}))
    _one_line_error(capsys, ["--predict", str(not_models), "--data", "digits"],
                    "not a model file written by --save")
    _one_line_error(capsys, ["--predict", str(tmp_path / "none.pkl"), "--data", "digits"],
                    "no such file")
    _one_line_error(capsys, ["--output", str(tmp_path / "p.csv")], "--output applies only")
    _one_line_error(capsys, ["--save", str(tmp_path / "no" / "dir.pkl")], "no such directory")


# --------------------------------------------------------------------------
# the command's name

def test_usage_says_fastlin(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: fastlin ")
    for word in ("--task", "--save", "--predict", "--output", "pickle", "trust"):
        assert word in out, word
    proc = subprocess.run([sys.executable, "-m", "fastlin", "--help"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("usage: fastlin ")
    proc = subprocess.run([sys.executable, "-m", "fastlin", "--frobnicate"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("fastlin: error: unrecognized arguments: --frobnicate")


def test_console_script_is_main():
    """pyproject.toml installs `fastlin` as fastlin.__main__:main, which
    returns the exit status (the script passes it to sys.exit)."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        scripts = tomllib.load(f)["project"]["scripts"]
    assert scripts == {"fastlin": "fastlin.__main__:main"}
    readme = (ROOT / "README.md").read_text()
    assert "fastlin --help" in readme and "`fastlin`" in readme


def test_sparse_npz_with_labels_file(tmp_path, capsys):
    """A scipy.sparse.save_npz matrix with its labels in FILE.labels.npy
    trains the models and predicts from the same sparse file; without the
    labels file the error names it."""
    import scipy.sparse as sp

    X, y = load_digits()
    path = tmp_path / "digits.npz"
    sp.save_npz(path, sp.csr_matrix(X))
    argv = ["--models", "softmax,multiclass-perceptron", "--epochs", "3"]
    assert main(argv + ["--data", str(path)]) == 2          # no labels file yet
    assert "digits.labels.npy" in capsys.readouterr().err
    np.save(tmp_path / "digits.labels.npy", y)
    saved = tmp_path / "models.pkl"
    assert main(argv + ["--data", str(path), "--save", str(saved)]) == 0
    _, rows = _table(capsys.readouterr().out)
    assert float(rows[0]["held-out"]) > 0.85
    assert main(["--predict", str(saved), "--data", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(y) + 1
