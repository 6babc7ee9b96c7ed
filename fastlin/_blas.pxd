# A fused, row-major shim over scipy.linalg.cython_blas (callable without the GIL).
#
# NumPy arrays here are C-ordered (row-major); BLAS is column-major. A
# row-major (r, k) array with row stride ld is the column-major (k, r) array
# of leading dimension ld, i.e. its transpose, so the row-major product
#     C = α op(A) op(B) + β C
# is the column-major product Cᵀ = α op(B)ᵀ op(A)ᵀ + β Cᵀ: swap the operands.
from cython cimport floating
from scipy.linalg.cython_blas cimport dgemm, sgemm


cdef inline void gemm(bint trans_a, bint trans_b, int M, int N, int K,
                      floating alpha, const floating *A, int lda,
                      const floating *B, int ldb,
                      floating beta, floating *C, int ldc) noexcept nogil:
    """C (M, N) = α op(A) op(B) + β C, all row-major, op(A) (M, K), op(B) (K, N);
    lda, ldb, ldc are the row strides (in elements) of A, B, C as stored."""
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    if floating is float:
        sgemm(&tb, &ta, &N, &M, &K, &alpha, <float *> B, &ldb, <float *> A, &lda,
              &beta, C, &ldc)
    else:
        dgemm(&tb, &ta, &N, &M, &K, &alpha, <double *> B, &ldb, <double *> A, &lda,
              &beta, C, &ldc)
