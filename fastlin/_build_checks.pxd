# What the build did to a kernel module's Cython code, for tests and CI.
# Each kernel module cimports these and exposes them as ``_DEBUG_BUILD``,
# ``_OPENMP`` and ``_bounds_checked()``: an inline function is compiled into the module that
# cimports it, with that module's directives, so it reports on that module.

cdef extern from "_simd.h":
    int FASTLIN_DEBUG_BUILD      # 1 when setup.py built with FASTLIN_CYTHON_DEBUG=1
    int FASTLIN_HAS_OPENMP       # 1 when the module was compiled with OpenMP


cdef inline bint bounds_checked():
    # True when indices are checked (the debug build): read one past the end
    # of a view sliced from a larger buffer, so that without the checks the
    # read stays inside the allocation
    cdef unsigned char[::1] view = memoryview(bytearray(4))[:2]
    cdef Py_ssize_t past_end = view.shape[0]
    cdef unsigned char value
    try:
        value = view[past_end]
    except IndexError:
        return True
    return False
