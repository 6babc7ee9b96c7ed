"""Smoke test of ``python -m fastlin`` (fastlin/__main__.py)."""
import re

import numpy as np

from fastlin.__main__ import LINEAR_MODELS, NETWORK, main, r2_score


def _table(out):
    """The printed table as a list of rows of cells (split on 2+ spaces)."""
    lines = out.strip().splitlines()
    dashes = next(i for i, line in enumerate(lines) if set(line) <= {"-", " "})
    header = re.split(r"\s{2,}", lines[dashes - 1].strip())
    return header, [re.split(r"\s{2,}", line.strip()) for line in lines[dashes + 1:]]


def test_main_prints_a_row_per_model_with_sensible_scores(capsys):
    assert main([]) == 0
    header, rows = _table(capsys.readouterr().out)
    assert header == ["model", "data", "training", "metric", "held-out", "time (s)"]
    expected = [m[0] for m in LINEAR_MODELS] + [NETWORK[0]]
    assert [r[0] for r in rows] == expected
    for model, data, _, metric, score, seconds in rows:
        score, seconds = float(score), float(seconds)
        assert seconds >= 0
        if data == "diabetes":
            assert metric == "R^2" and 0.3 < score <= 1.0, (model, score)
        else:
            assert metric == "accuracy" and 0.8 < score <= 1.0, (model, score)


def test_r2_score():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert r2_score(y, y) == 1.0
    assert r2_score(y, np.full(4, y.mean())) == 0.0
    assert r2_score(y, y + 1.0) == 1.0 - 4.0 / 5.0
