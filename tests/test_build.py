"""The compiled kernels are built as their build mode says: the release build
runs without Cython's bounds checks (the kernels' speed depends on it), the
debug build (FASTLIN_CYTHON_DEBUG=1, see setup.py) with them."""
import os

import pytest

from fastlin import _linear_fast, _mlp_fast, _sparse_fast

KERNELS = [_linear_fast, _mlp_fast, _sparse_fast]


@pytest.mark.parametrize("module", KERNELS, ids=lambda m: m.__name__)
def test_bounds_checks_follow_the_build_mode(module):
    assert module._bounds_checked() is module._DEBUG_BUILD


def test_every_kernel_comes_from_one_build_mode():
    """The modules come from one build: the same mode."""
    assert len({module._DEBUG_BUILD for module in KERNELS}) == 1


def test_every_kernel_comes_from_one_openmp_setting():
    """setup.py compiles every module with OpenMP or none: ``_OPENMP`` is a
    bool and the same in all three; ``FASTLIN_EXPECT_OPENMP`` (set by CI for
    the build it made) pins which."""
    flags = {module._OPENMP for module in KERNELS}
    assert len(flags) == 1 and all(type(f) is bool for f in flags)
    expected = os.environ.get("FASTLIN_EXPECT_OPENMP")
    if expected is not None:
        assert flags == {expected == "1"}
