"""Declares fastlin's Cython extensions; metadata lives in pyproject.toml.

Every ``fastlin/*.pyx`` becomes the extension ``fastlin.<name>``. The Cython
directives are set once here. ``FASTLIN_CYTHON_DEBUG=1`` turns bounds,
wraparound and initialisation checks back on (and compiles with -O0 -g) for
hunting a crash. ``FASTLIN_EXTENSIONS=_a,_b`` builds only the named modules
(a development convenience; a normal build compiles them all).
"""
import os
import sys
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("FASTLIN_CYTHON_DEBUG", "0") not in ("", "0")

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": not DEBUG,
}
# -g0 in the release build: Python's CFLAGS ask for -g, and debug information
# for the generated C costs about a quarter of the compile time, nothing at run time.
compile_args = ["-O0", "-g"] if DEBUG else ["-O3", "-g0"]

ONLY = {name for name in os.environ.get("FASTLIN_EXTENSIONS", "").split(",") if name}

# Both kernels include fastlin/_simd.h (their C helpers): it is on the include
# path (the debug build's C is generated elsewhere) and a change to it rebuilds.
extensions = [
    Extension(
        f"fastlin.{pyx.stem}",
        [str(pyx)],
        include_dirs=["fastlin", np.get_include()],
        depends=["fastlin/_simd.h"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
                       ("FASTLIN_DEBUG_BUILD", "1" if DEBUG else "0")],
        extra_compile_args=compile_args,
    )
    for pyx in sorted(Path("fastlin").glob("*.pyx"))
    if not ONLY or pyx.stem in ONLY
]

# The debug build generates its C into build/ so that it never reuses (or
# leaves behind) C generated with the checks off, and vice versa; and a build
# whose mode differs from the last one recompiles everything, so that an
# up-to-date check never keeps the other mode's objects or shared libraries.
MODE = "debug" if DEBUG else "release"
mode_stamp = Path("build") / "fastlin-build-mode"
mode_changed = not mode_stamp.exists() or mode_stamp.read_text() != MODE
if not {"egg_info", "dist_info", "sdist"} & set(sys.argv):   # a command that builds
    mode_stamp.parent.mkdir(exist_ok=True)
    mode_stamp.write_text(MODE)

# pip asks for the metadata (egg_info, dist_info) before it builds: those
# commands need the extensions' names, not their C, so they skip cythonize
# (in a fresh tree it would run, forced, once for each of them).
COMMAND = next((a for a in sys.argv[1:] if not a.startswith("-")), None)   # after -q, -v
METADATA_ONLY = COMMAND in ("egg_info", "dist_info")

setup(
    ext_modules=extensions if METADATA_ONLY else cythonize(
        extensions,
        compiler_directives=directives,
        build_dir="build/cython-debug" if DEBUG else None,
        force=mode_changed,
    ),
    options={"build_ext": {"force": mode_changed}},
)
