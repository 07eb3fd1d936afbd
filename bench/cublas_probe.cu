/* cublas_probe.cu - what a vendor GEMM (cuBLAS / cuBLASLt) would give getp's
 * matmuls at many rows, before one is put behind the project's matmul call
 * (issue 23, item 2). Three questions, each answered on the GPU, at
 * gpt-oss-20b's shapes (x [M, K] bf16 times W [N, K]^T bf16, f32 sums and
 * output, as getp's kernels):
 *   speed:      time and TFLOP/s of q/k/v (2880 -> 5120), o (4096 -> 2880),
 *               the unembedding (2880 -> 201088) and one expert's gate_up
 *               (2880 -> 5760) and down (2880 -> 2880) at M = 64 ... 4096
 *               rows; "hi+lo" is two GEMMs into one output (x = hi + lo,
 *               getp's exact path: the second with beta 1).
 *   experts:    a step's 32 experts, each with M x 4 / 32 rows (top-4 routing
 *               spread evenly): cublasGemmGroupedBatchedEx, one call for all.
 *   invariance: one cuBLASLt algorithm (the heuristic's first at M = 1024,
 *               split-K off) run at M = 1, 7, 64, 256 and 1024: is row 0's
 *               output bit-identical at every M (getp's batch invariance)?
 *               And cublasGemmEx's own choice at each M?
 * usage: build/cublas_probe   (a table; the invariance lines say PASS/FAIL) */
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "cuda_check.h"

#define CHECK_BLAS(call)                                                                            \
    do {                                                                                            \
        cublasStatus_t s_ = (call);                                                                 \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                          \
            fprintf(stderr, "cublas_probe: %s failed: status %d (line %d)\n", #call, (int)s_, __LINE__); \
            exit(1);                                                                                \
        }                                                                                           \
    } while (0)

__global__ void fill_random(__nv_bfloat16 *p, size_t n, unsigned seed, float scale) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        unsigned h = (unsigned)i * 2654435761u ^ seed;
        h ^= h >> 15, h *= 2246822519u, h ^= h >> 13;
        p[i] = __float2bfloat16(((float)(h & 0xFFFF) / 32768.0f - 1.0f) * scale);
    }
}

static __nv_bfloat16 *random_bf16(size_t n, unsigned seed, float scale) {
    __nv_bfloat16 *p;
    CUDA_CHECK(cudaMalloc(&p, n * sizeof *p));
    fill_random<<<1024, 256>>>(p, n, seed, scale);
    CUDA_CHECK(cudaGetLastError());
    return p;
}

/* y[M, N] (row-major, f32) = x[M, K] w[N, K]^T: in cuBLAS's column-major
 * terms y^T[N, M] = w^T... i.e. C = op(A) B with A = w (K x N col-major,
 * transposed), B = x (K x M col-major). */
static void gemm(cublasHandle_t h, int M, int N, int K, const __nv_bfloat16 *x, const __nv_bfloat16 *w, float *y, float beta) {
    const float alpha = 1.0f;
    CHECK_BLAS(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, &alpha, w, CUDA_R_16BF, K, x, CUDA_R_16BF, K, &beta, y, CUDA_R_32F, N,
                            CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

template <typename F> static float time_ms(F f, int reps) {
    cudaEvent_t a, b;
    CUDA_CHECK(cudaEventCreate(&a));
    CUDA_CHECK(cudaEventCreate(&b));
    f();
    CUDA_CHECK(cudaEventRecord(a));
    for (int i = 0; i < reps; i++) f();
    CUDA_CHECK(cudaEventRecord(b));
    CUDA_CHECK(cudaEventSynchronize(b));
    float ms;
    CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    return ms / reps;
}

int main() {
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    printf("device: %s\n", prop.name);
    cublasHandle_t h;
    CHECK_BLAS(cublasCreate(&h));
    const int MAXM = 4096;
    struct Shape {
        const char *name;
        int N, K;
    } shapes[] = {{"qkv", 5120, 2880}, {"o", 2880, 4096}, {"unembed", 201088, 2880}, {"gate_up(1 expert)", 5760, 2880}, {"down(1 expert)", 2880, 2880}};
    __nv_bfloat16 *x = random_bf16((size_t)MAXM * 4 * 4096, 1, 1.0f) /* the experts read 4 rows a token */, *x_lo = random_bf16((size_t)MAXM * 4096, 2, 1.0f / 256);
    float *y;
    CUDA_CHECK(cudaMalloc(&y, (size_t)MAXM * 201088 * sizeof(float)));
    printf("%-18s %6s %10s %9s %12s %9s\n", "matmul", "M", "ms", "TFLOP/s", "hi+lo ms", "TFLOP/s");
    for (const Shape &s : shapes) {
        __nv_bfloat16 *w = random_bf16((size_t)s.N * s.K, 3, 0.05f);
        for (int M : {64, 256, 512, 1024, 4096}) {
            if ((size_t)M * s.N > (size_t)MAXM * 201088) continue;
            float one = time_ms([&] { gemm(h, M, s.N, s.K, x, w, y, 0.0f); }, 20);
            float two = time_ms([&] { gemm(h, M, s.N, s.K, x, w, y, 0.0f), gemm(h, M, s.N, s.K, x_lo, w, y, 1.0f); }, 20);
            double flop = 2.0 * M * s.N * s.K;
            printf("%-18s %6d %10.4f %9.1f %12.4f %9.1f\n", s.name, M, one, flop / one / 1e9, two, 2 * flop / two / 1e9);
        }
        CUDA_CHECK(cudaFree(w));
    }

    /* the experts of one step: 32 groups of M * 4 / 32 rows, one grouped call */
    {
        const int E = 32;
        __nv_bfloat16 *w_gu = random_bf16((size_t)E * 5760 * 2880, 4, 0.05f), *w_d = random_bf16((size_t)E * 2880 * 2880, 5, 0.05f);
        for (int M : {64, 256, 512, 1024, 4096}) {
            int rows = M * 4 / E;
            std::vector<const void *> A(2 * E), B(2 * E);
            std::vector<void *> C(2 * E);
            for (int e = 0; e < E; e++) {
                A[e] = w_gu + (size_t)e * 5760 * 2880, B[e] = x + (size_t)e * rows * 2880, C[e] = y + (size_t)e * rows * 5760;
                A[E + e] = w_d + (size_t)e * 2880 * 2880, B[E + e] = x + (size_t)e * rows * 2880, C[E + e] = y + (size_t)e * rows * 2880;
            }
            const void **dA, **dB;
            void **dC;
            CUDA_CHECK(cudaMalloc(&dA, 2 * E * sizeof(void *)));
            CUDA_CHECK(cudaMalloc(&dB, 2 * E * sizeof(void *)));
            CUDA_CHECK(cudaMalloc(&dC, 2 * E * sizeof(void *)));
            CUDA_CHECK(cudaMemcpy(dA, A.data(), 2 * E * sizeof(void *), cudaMemcpyHostToDevice));
            CUDA_CHECK(cudaMemcpy(dB, B.data(), 2 * E * sizeof(void *), cudaMemcpyHostToDevice));
            CUDA_CHECK(cudaMemcpy(dC, C.data(), 2 * E * sizeof(void *), cudaMemcpyHostToDevice));
            for (int which = 0; which < 2; which++) {
                int N = which ? 2880 : 5760, K = 2880;
                cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
                int m_ = N, n_ = rows, k_ = K, lda = K, ldb = K, ldc = N, gsize = E;
                float alpha = 1.0f, beta = 0.0f;
                auto call = [&] {
                    CHECK_BLAS(cublasGemmGroupedBatchedEx(h, &ta, &tb, &m_, &n_, &k_, &alpha, dA + which * E, CUDA_R_16BF, &lda, dB + which * E,
                                                          CUDA_R_16BF, &ldb, &beta, dC + which * E, CUDA_R_32F, &ldc, 1, &gsize,
                                                          CUBLAS_COMPUTE_32F));
                };
                float ms = time_ms(call, 20);
                double flop = 2.0 * E * rows * (double)N * K;
                printf("%-18s %6d %10.4f %9.1f   (grouped, %d experts x %d rows)\n", which ? "down(32 experts)" : "gate_up(32 experts)", M, ms,
                       flop / ms / 1e9, E, rows);
            }
            CUDA_CHECK(cudaFree(dA));
            CUDA_CHECK(cudaFree(dB));
            CUDA_CHECK(cudaFree(dC));
        }
        CUDA_CHECK(cudaFree(w_gu));
        CUDA_CHECK(cudaFree(w_d));
    }

    /* invariance: row 0's outputs at several M, by one pinned cuBLASLt algorithm and by cublasGemmEx's own choices */
    {
        const int N = 5120, K = 2880, Ms[] = {1, 7, 64, 256, 1024};
        __nv_bfloat16 *w = random_bf16((size_t)N * K, 6, 0.05f);
        cublasLtHandle_t lt;
        CHECK_BLAS(cublasLtCreate(&lt));
        cublasLtMatmulDesc_t op;
        CHECK_BLAS(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
        cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
        CHECK_BLAS(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
        CHECK_BLAS(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
        size_t ws_bytes = 32 << 20;
        void *ws;
        CUDA_CHECK(cudaMalloc(&ws, ws_bytes));
        cublasLtMatmulPreference_t pref;
        CHECK_BLAS(cublasLtMatmulPreferenceCreate(&pref));
        CHECK_BLAS(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_bytes, sizeof ws_bytes));
        auto layouts = [&](int M, cublasLtMatrixLayout_t *a, cublasLtMatrixLayout_t *b, cublasLtMatrixLayout_t *c) {
            CHECK_BLAS(cublasLtMatrixLayoutCreate(a, CUDA_R_16BF, K, N, K));
            CHECK_BLAS(cublasLtMatrixLayoutCreate(b, CUDA_R_16BF, K, M, K));
            CHECK_BLAS(cublasLtMatrixLayoutCreate(c, CUDA_R_32F, N, M, N));
        };
        cublasLtMatrixLayout_t a, b, c;
        layouts(1024, &a, &b, &c);
        cublasLtMatmulHeuristicResult_t heur[8];
        int found = 0;
        CHECK_BLAS(cublasLtMatmulAlgoGetHeuristic(lt, op, a, b, c, c, pref, 8, heur, &found));
        int chosen = -1;
        for (int i = 0; i < found && chosen < 0; i++) {
            int split = 1;
            size_t got = 0;
            cublasLtMatmulAlgoConfigGetAttribute(&heur[i].algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &split, sizeof split, &got);
            if (split <= 1) chosen = i;
        }
        if (chosen < 0) {
            printf("FAIL invariance: no algorithm without split-K among %d\n", found);
            return 1;
        }
        const float alpha = 1.0f, beta = 0.0f;
        std::vector<float> ref(N), got(N), ref_ex(N), got_ex(N);
        int lt_same = 1, ex_same = 1, runs = 0;
        for (int M : Ms) {
            cublasLtMatrixLayout_t am, bm, cm;
            layouts(M, &am, &bm, &cm);
            cublasStatus_t st = cublasLtMatmul(lt, op, &alpha, w, am, x, bm, &beta, y, cm, y, cm, &heur[chosen].algo, ws, ws_bytes, 0);
            if (st != CUBLAS_STATUS_SUCCESS) {
                printf("note: the pinned algorithm refuses M = %d (status %d)\n", M, (int)st);
            } else {
                CUDA_CHECK(cudaMemcpy(got.data(), y, N * sizeof(float), cudaMemcpyDeviceToHost));
                if (runs++ == 0) ref = got;
                lt_same &= memcmp(ref.data(), got.data(), N * sizeof(float)) == 0;
            }
            gemm(h, M, N, K, x, w, y, 0.0f);
            CUDA_CHECK(cudaMemcpy(got_ex.data(), y, N * sizeof(float), cudaMemcpyDeviceToHost));
            if (M == 1) ref_ex = got_ex;
            ex_same &= memcmp(ref_ex.data(), got_ex.data(), N * sizeof(float)) == 0;
            cublasLtMatrixLayoutDestroy(am), cublasLtMatrixLayoutDestroy(bm), cublasLtMatrixLayoutDestroy(cm);
        }
        printf("%s invariance: one cuBLASLt algorithm (of %d; split-K off): row 0 bit-identical at M = 1, 7, 64, 256, 1024 (%d ran)\n",
               lt_same && runs == 5 ? "PASS" : "FAIL", found, runs);
        printf("%s invariance: cublasGemmEx's own choice: row 0 bit-identical at M = 1, 7, 64, 256, 1024\n", ex_same ? "PASS" : "FAIL");
        float pinned = time_ms([&] {
            cublasLtMatrixLayout_t am, bm, cm;
            layouts(1024, &am, &bm, &cm);
            CHECK_BLAS(cublasLtMatmul(lt, op, &alpha, w, am, x, bm, &beta, y, cm, y, cm, &heur[chosen].algo, ws, ws_bytes, 0));
            cublasLtMatrixLayoutDestroy(am), cublasLtMatrixLayoutDestroy(bm), cublasLtMatrixLayoutDestroy(cm);
        }, 20);
        printf("pinned algorithm at M = 1024, qkv: %.4f ms, %.1f TFLOP/s\n", pinned, 2.0 * 1024 * N * K / pinned / 1e9);
    }
    return 0;
}
