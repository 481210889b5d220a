/* The unprefixed cblas_*gemm symbols mlx's Linux wheel calls, forwarding to scipy-openblas32's
 * prefixed ones (scipy_cblas_*gemm). blas.py loads this library with RTLD_GLOBAL before mlx and
 * fills the three pointers from scipy-openblas32's library, so the dynamic linker binds mlx's
 * matrix products here instead of to the reference BLAS the wheel bundles. `calls` lets a test
 * check that the binding took. Built at install time by hatch_build.py; no headers needed. */

typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int,
                         float, float *, int);
typedef void (*dgemm_fn)(int, int, int, int, int, int, double, const double *, int, const double *,
                         int, double, double *, int);
typedef void (*cgemm_fn)(int, int, int, int, int, int, const void *, const void *, int, const void *,
                         int, const void *, void *, int);

sgemm_fn assistants_sgemm;
dgemm_fn assistants_dgemm;
cgemm_fn assistants_cgemm;
unsigned long assistants_calls;

void cblas_sgemm(int order, int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                 int lda, const float *b, int ldb, float beta, float *c, int ldc) {
  __atomic_fetch_add(&assistants_calls, 1, __ATOMIC_RELAXED);
  assistants_sgemm(order, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void cblas_dgemm(int order, int trans_a, int trans_b, int m, int n, int k, double alpha, const double *a,
                 int lda, const double *b, int ldb, double beta, double *c, int ldc) {
  __atomic_fetch_add(&assistants_calls, 1, __ATOMIC_RELAXED);
  assistants_dgemm(order, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void cblas_cgemm(int order, int trans_a, int trans_b, int m, int n, int k, const void *alpha,
                 const void *a, int lda, const void *b, int ldb, const void *beta, void *c, int ldc) {
  __atomic_fetch_add(&assistants_calls, 1, __ATOMIC_RELAXED);
  assistants_cgemm(order, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
