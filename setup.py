"""Declares fastlin's Cython extensions; metadata lives in pyproject.toml.

Every ``fastlin/*.pyx`` becomes the extension ``fastlin.<name>``. The Cython
directives are set once here. ``FASTLIN_CYTHON_DEBUG=1`` turns bounds,
wraparound and initialisation checks back on (and compiles with -O0 -g) for
hunting a crash. ``FASTLIN_EXTENSIONS=_a,_b`` builds only the named modules
(a development convenience; a normal build compiles them all).

OpenMP (the kernels' ``n_jobs`` threads): a test program is compiled and
linked with ``-fopenmp`` first; when that works, every extension is compiled
and linked with it, otherwise without (the kernels then run their threaded
loops on one thread: ``_OPENMP`` is False in each module and ``n_jobs`` > 1
warns). ``FASTLIN_OPENMP=0`` builds without OpenMP whatever the compiler has.
"""
import os
import sys
import tempfile
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



def openmp_flags():
    """``["-fopenmp"]`` when the C compiler compiles and links an OpenMP
    program with it, else ``[]`` (and ``[]`` with ``FASTLIN_OPENMP=0``)."""
    if os.environ.get("FASTLIN_OPENMP", "1") in ("", "0"):
        return []
    from setuptools._distutils.ccompiler import new_compiler
    from setuptools._distutils.errors import CompileError, LinkError
    from setuptools._distutils.sysconfig import customize_compiler

    compiler = new_compiler()
    customize_compiler(compiler)
    flags = ["-fopenmp"]
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "omp_probe.c"
        source.write_text("#include <omp.h>\n"
                          "int main(void) {\n"
                          "    int n = 0;\n"
                          "    #pragma omp parallel reduction(+:n)\n"
                          "    n += 1;\n"
                          "    return n == omp_get_max_threads() ? 0 : 1;\n"
                          "}\n")
        try:
            objects = compiler.compile([str(source)], output_dir=tmp, extra_postargs=flags)
            compiler.link_executable(objects, str(Path(tmp) / "omp_probe"),
                                     extra_postargs=flags)
        except (CompileError, LinkError, OSError):
            print("fastlin: the C compiler has no OpenMP (-fopenmp failed): "
                  "building the kernels without threads", file=sys.stderr)
            return []
    return flags


OPENMP = [] if {"egg_info", "dist_info", "sdist"} & set(sys.argv) else openmp_flags()

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
        extra_compile_args=compile_args + OPENMP,
        extra_link_args=OPENMP,
    )
    for pyx in sorted(Path("fastlin").glob("*.pyx"))
    if not ONLY or pyx.stem in ONLY
]

# The debug build generates its C into build/ so that it never reuses (or
# leaves behind) C generated with the checks off, and vice versa; and a build
# whose mode (debug or release, with or without OpenMP) differs from the last one recompiles everything, so that an
# up-to-date check never keeps the other mode's objects or shared libraries.
MODE = ("debug" if DEBUG else "release") + ("+openmp" if OPENMP else "")
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
