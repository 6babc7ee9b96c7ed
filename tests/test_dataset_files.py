"""The data files shipped in fastlin/datasets hold exactly what
tools/make_datasets.py makes of scikit-learn's copies of the data (the
provenance the README's "Data" section states). Needs the repository's
tools/ directory and scikit-learn."""
import importlib.util
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "tools" / "make_datasets.py"


@pytest.fixture(scope="module")
def make_datasets():
    spec = importlib.util.spec_from_file_location("make_datasets", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["digits.npz", "diabetes.npz"])
def test_shipped_file_is_what_the_script_writes(make_datasets, name, tmp_path):
    make_datasets.main(tmp_path)
    with np.load(tmp_path / name) as written, \
            files("fastlin.datasets").joinpath(name).open("rb") as f, np.load(f) as shipped:
        assert sorted(written.files) == sorted(shipped.files) == ["X", "y"]
        for key in ("X", "y"):
            assert written[key].dtype == shipped[key].dtype
            np.testing.assert_array_equal(written[key], shipped[key])
