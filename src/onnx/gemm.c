/* gemm.c - single-precision C = post(A*B) with packed panels, and the kernel choice per deja__nn.
 *
 * The loop nest is Goto & van de Geijn's ("Anatomy of high-performance matrix multiplication",
 * ACM TOMS 2008) in the form BLIS gives it (Van Zee & van de Geijn, ACM TOMS 2015):
 * - A (M x K, the conv weights) is packed once per call into mr-row panels, k-major inside a
 *   panel, zero rows past M.
 * - The output columns are split among the threads in whole nr-wide panels (or the rows, when
 *   there are few columns, as in the last MobileNet layers). A thread walks its columns in blocks
 *   of NB panels and K in equal blocks of at most KC; per (column block, k block) it packs that
 *   part of B into nr-column panels (a callback, so that a conv can pack straight from its image),
 *   then for each B panel (kc x nr, stays in L1) runs the micro-kernel down a block of MC rows of
 *   A (kc x MC, stays in L2).
 * - The micro-kernel holds an mr x nr tile of C in registers over the whole k block and on the
 *   last block adds the bias, the previous output (accumulate) and clamps before its one store.
 * Every element of C is summed in the same order whatever the thread split: k blocks in order, k
 * inside a block in order. Edge tiles run the same micro-kernel on a stack tile. */
#include "ops.h"
#include "simd.h"

#include <string.h>

#define KC          256 /* k block: kc x 24 floats of B = 24 KB in L1 */
#define NB          8   /* B panels per packed block */
#define MC          128 /* rows of A per L2 block */
#define MR_MAX      8
#define NR_MAX      24
#define PORTABLE_MR 4
#define PORTABLE_NR 8
/* Below this estimated single-thread time a call runs inline: waking the pool's sleeping worker
 * took 3 to 67 us on the 2-core test VM (median of 1000 hand-offs: 3.4 or 55 us by run), so a
 * split pays only when half the work clearly exceeds that. */
#define PAR_MIN_NS 150000.0

/* ---- context --------------------------------------------------------------------------- */

deja_status deja__nn_init(deja__nn *nn, deja_simd want, deja__pool *pool)
{
    deja__kernels k;
    /* deja__kernels_get validates want against the CPU and writes the error. */
    deja_status st = deja__kernels_get(want, &k);
    if (st != DEJA_OK) return st;
    deja__nn n = {DEJA_SIMD_SCALAR,
                  pool,
                  pool ? deja__pool_threads(pool) : 1,
                  PORTABLE_MR,
                  PORTABLE_NR,
                  PAR_MIN_NS,
                  deja__nn_ukr_portable,
                  deja__nn_dw3_s1_portable,
                  deja__nn_dw3_s2_portable};
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (k.kind == DEJA_SIMD_AVX2 && __builtin_cpu_supports("fma")) {
        n.kind = DEJA_SIMD_AVX2;
        n.mr = 4;
        n.nr = 24;
        n.ukr = deja__nn_ukr_avx2;
        n.dw3_s1 = deja__nn_dw3_s1_avx2;
        n.dw3_s2 = deja__nn_dw3_s2_avx2;
    }
#endif
#if defined(__aarch64__)
    if (k.kind == DEJA_SIMD_NEON) {
        n.kind = DEJA_SIMD_NEON;
        n.mr = 8;
        n.nr = 12;
        n.ukr = deja__nn_ukr_neon;
        n.dw3_s1 = deja__nn_dw3_s1_neon;
        n.dw3_s2 = deja__nn_dw3_s2_neon;
    }
#endif
    *nn = n;
    return DEJA_OK;
}

void deja__nn_parallel(const deja__nn *nn, size_t n, double work, deja__pool_fn fn, void *ctx)
{
    if (n == 0) return;
    if (!nn->pool || nn->n_threads < 2 || n < 2 || work < nn->par_min_ns)
        fn(ctx, 0, n, 0);
    else
        deja__pool_for(nn->pool, n, fn, ctx);
}

/* ---- portable micro-kernels ------------------------------------------------------------ */

static inline float post1(float v, const float *old, const deja__nn_tile *t)
{
    if (t->load_c) v += *old;
    if (t->clamp) v = v < t->lo ? t->lo : v > t->hi ? t->hi : v;
    return v;
}

/* 4 x 8: 32 accumulators that gcc keeps in 8 SSE registers (or 4 NEON q-registers x 2). */
void deja__nn_ukr_portable(size_t kc, const float *a, const float *b, float *c, size_t ldc,
                           const deja__nn_tile *t)
{
    float acc[PORTABLE_MR][PORTABLE_NR];
    memset(acc, 0, sizeof acc);
    for (size_t k = 0; k < kc; k++, a += PORTABLE_MR, b += PORTABLE_NR)
        for (int i = 0; i < PORTABLE_MR; i++)
            for (int j = 0; j < PORTABLE_NR; j++)
                acc[i][j] += a[i] * b[j];
    for (int i = 0; i < PORTABLE_MR; i++) {
        float *cr = c + (size_t)i * ldc;
        float bias = t->bias ? t->bias[i] : 0.0f;
        for (int j = 0; j < PORTABLE_NR; j++) {
            float v = acc[i][j];
            if (t->load_c) v += cr[j];
            v += bias;
            if (t->clamp) v = v < t->lo ? t->lo : v > t->hi ? t->hi : v;
            cr[j] = v;
        }
    }
}

void deja__nn_dw3_s1_portable(const float *const r[3], const float *w, size_t n, float *out,
                              const deja__nn_tile *t)
{
    float bias = t->bias ? *t->bias : 0.0f;
    for (size_t i = 0; i < n; i++) {
        float s = bias;
        for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++)
                s += w[3 * ky + kx] * r[ky][i + (size_t)kx];
        out[i] = post1(s, out + i, t);
    }
}

void deja__nn_dw3_s2_portable(const float *const r[3], const float *w, size_t n, float *out,
                              const deja__nn_tile *t)
{
    float bias = t->bias ? *t->bias : 0.0f;
    for (size_t i = 0; i < n; i++) {
        float s = bias;
        for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++)
                s += w[3 * ky + kx] * r[ky][2 * i + (size_t)kx];
        out[i] = post1(s, out + i, t);
    }
}

/* ---- packing --------------------------------------------------------------------------- */

static size_t round_up(size_t x, size_t m)
{
    return (x + m - 1) / m * m;
}

/* K in equal blocks of at most KC (K = 288 -> 2 x 144, not 256 + 32). */
static size_t k_block(size_t K)
{
    if (K == 0) return 0;
    size_t nb = (K + KC - 1) / KC;
    return (K + nb - 1) / nb;
}

/* Panels [p0, p1) of A. */
static void pack_a(const float *A, size_t lda, size_t M, size_t K, int mr, size_t p0, size_t p1,
                   float *ap)
{
    for (size_t p = p0; p < p1; p++) {
        float *d = ap + p * (size_t)mr * K;
        for (int r = 0; r < mr; r++) {
            size_t row = p * (size_t)mr + (size_t)r;
            const float *src = A + row * lda;
            if (row < M)
                for (size_t k = 0; k < K; k++)
                    d[k * (size_t)mr + (size_t)r] = src[k];
            else
                for (size_t k = 0; k < K; k++)
                    d[k * (size_t)mr + (size_t)r] = 0.0f;
        }
    }
}

typedef struct mat_src {
    const float *b;
    size_t ldb;
} mat_src;

/* Copy one k row of full panels; constant nr lets the compiler emit plain vector moves. */
static inline void copy_panels(const float *src, float *dst, size_t panels, size_t stride, int nr)
{
    for (size_t p = 0; p < panels; p++)
        memcpy(dst + p * stride, src + p * (size_t)nr, (size_t)nr * sizeof(float));
}

static void pack_b_mat(const void *ctx, size_t k0, size_t kc, size_t n0, size_t nc, int nr,
                       float *dst)
{
    const mat_src *m = ctx;
    size_t full = nc / (size_t)nr, rem = nc % (size_t)nr, stride = kc * (size_t)nr;
    for (size_t k = 0; k < kc; k++) {
        const float *src = m->b + (k0 + k) * m->ldb + n0;
        float *d = dst + k * (size_t)nr;
        switch (nr) {
        case 24:
            copy_panels(src, d, full, stride, 24);
            break;
        case 12:
            copy_panels(src, d, full, stride, 12);
            break;
        case 8:
            copy_panels(src, d, full, stride, 8);
            break;
        default:
            copy_panels(src, d, full, stride, nr);
            break;
        }
        if (rem) {
            float *e = d + full * stride;
            memcpy(e, src + full * (size_t)nr, rem * sizeof(float));
            memset(e + rem, 0, ((size_t)nr - rem) * sizeof(float));
        }
    }
}

/* ---- driver ---------------------------------------------------------------------------- */

typedef struct gemm_job {
    const deja__nn *nn;
    size_t M, N, K, kc, n_kb, m_panels, n_panels;
    const float *A;
    size_t lda;
    float *ap;
    deja__nn_pack_fn pack;
    const void *pack_ctx;
    float *C;
    size_t ldc;
    deja__nn_post post;
    float *bbuf;
    size_t bbuf_floats; /* per worker */
    int split_n;
} gemm_job;

static size_t bbuf_floats(const deja__nn *nn, size_t N, size_t K)
{
    size_t nc = (size_t)NB * (size_t)nn->nr;
    size_t ncols = round_up(N, (size_t)nn->nr);
    if (ncols < nc) nc = ncols;
    return round_up(k_block(K) * nc, 16);
}

static size_t apack_floats(const deja__nn *nn, size_t M, size_t K)
{
    return round_up(round_up(M, (size_t)nn->mr) * K, 16);
}

size_t deja__nn_gemm_scratch_bytes(const deja__nn *nn, size_t M, size_t N, size_t K)
{
    size_t floats = apack_floats(nn, M, K) + bbuf_floats(nn, N, K) * (size_t)nn->n_threads;
    return 64 + floats * sizeof(float);
}

/* One mr x nr tile; partial tiles go through a stack tile so the kernel never writes outside C. */
static void tile(const gemm_job *j, size_t ir, size_t col0, size_t kb, size_t kcur, const float *b)
{
    const deja__nn *nn = j->nn;
    size_t mr = (size_t)nn->mr, nr = (size_t)nn->nr, row0 = ir * mr;
    size_t rows = j->M - row0 < mr ? j->M - row0 : mr;
    size_t cols = j->N - col0 < nr ? j->N - col0 : nr;
    const float *a = j->ap + row0 * j->K + kb * j->kc * mr;
    float *c = j->C + row0 * j->ldc + col0;
    deja__nn_tile t = {NULL, j->post.lo, j->post.hi, kb > 0 || j->post.accumulate, 0};
    if (kb + 1 == j->n_kb) {
        t.bias = j->post.bias ? j->post.bias + row0 : NULL;
        t.clamp = j->post.clamp;
    }
    if (rows == mr && cols == nr) {
        nn->ukr(kcur, a, b, c, j->ldc, &t);
        return;
    }
    float tmp[MR_MAX * NR_MAX], bias[MR_MAX];
    memset(tmp, 0, sizeof tmp);
    if (t.load_c)
        for (size_t r = 0; r < rows; r++)
            memcpy(tmp + r * nr, c + r * j->ldc, cols * sizeof(float));
    if (t.bias) {
        memset(bias, 0, sizeof bias);
        memcpy(bias, t.bias, rows * sizeof(float));
        t.bias = bias;
    }
    nn->ukr(kcur, a, b, tmp, nr, &t);
    for (size_t r = 0; r < rows; r++)
        memcpy(c + r * j->ldc, tmp + r * nr, cols * sizeof(float));
}

static void gemm_worker(void *ctx, size_t begin, size_t end, int worker)
{
    const gemm_job *j = ctx;
    size_t nr = (size_t)j->nn->nr, mc = MC / (size_t)j->nn->mr;
    size_t p0 = 0, p1 = j->n_panels, m0 = 0, m1 = j->m_panels;
    if (j->split_n) {
        p0 = begin;
        p1 = end;
    } else {
        /* Row split (few columns): each thread packs its own rows of A. */
        m0 = begin;
        m1 = end;
        pack_a(j->A, j->lda, j->M, j->K, j->nn->mr, m0, m1, j->ap);
    }
    float *bp = j->bbuf + (size_t)worker * j->bbuf_floats;
    for (size_t jc = p0; jc < p1; jc += NB) {
        size_t panels = p1 - jc < NB ? p1 - jc : NB;
        size_t n0 = jc * nr, nc = j->N - n0 < panels * nr ? j->N - n0 : panels * nr;
        for (size_t kb = 0; kb < j->n_kb; kb++) {
            size_t k0 = kb * j->kc, kcur = j->K - k0 < j->kc ? j->K - k0 : j->kc;
            j->pack(j->pack_ctx, k0, kcur, n0, nc, (int)nr, bp);
            for (size_t ic = m0; ic < m1; ic += mc) {
                size_t ie = m1 - ic < mc ? m1 : ic + mc;
                for (size_t jr = 0; jr < panels; jr++)
                    for (size_t ir = ic; ir < ie; ir++)
                        tile(j, ir, n0 + jr * nr, kb, kcur, bp + jr * kcur * nr);
            }
        }
    }
}

void deja__nn_gemm_packed(const deja__nn *nn, size_t M, size_t N, size_t K, const float *A,
                          size_t lda, deja__nn_pack_fn pack, const void *pack_ctx, float *C,
                          size_t ldc, const deja__nn_post *post, void *scratch)
{
    if (M == 0 || N == 0) return;
    float *base = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    gemm_job j = {0};
    j.nn = nn;
    j.M = M;
    j.N = N;
    j.K = K;
    j.kc = k_block(K);
    j.n_kb = K ? (K + j.kc - 1) / j.kc : 1; /* K = 0 still runs once: C = post(0) */
    j.m_panels = (M + (size_t)nn->mr - 1) / (size_t)nn->mr;
    j.n_panels = (N + (size_t)nn->nr - 1) / (size_t)nn->nr;
    j.A = A;
    j.lda = lda;
    j.ap = base;
    j.pack = pack;
    j.pack_ctx = pack_ctx;
    j.C = C;
    j.ldc = ldc;
    j.post = post ? *post : (deja__nn_post){NULL, 0.0f, 0.0f, false, false};
    j.bbuf = base + apack_floats(nn, M, K);
    j.bbuf_floats = bbuf_floats(nn, N, K);
    /* Columns when there are enough of them; rows when N is a few panels (B is then packed by
     * every thread, which is cheap at that size). */
    size_t threads = (size_t)nn->n_threads;
    j.split_n = j.n_panels >= 4 * threads || j.n_panels >= j.m_panels;
    if (j.split_n) pack_a(A, lda, M, K, nn->mr, 0, j.m_panels, base);
    /* Single-thread estimate: ~90 flop/ns with AVX2, ~20 otherwise, plus packing B. */
    double flop_ns = nn->kind == DEJA_SIMD_AVX2 ? 90.0 : 20.0;
    double ns = 2.0 * (double)M * (double)N * (double)K / flop_ns + 0.5 * (double)K * (double)N;
    deja__nn_parallel(nn, j.split_n ? j.n_panels : j.m_panels, ns, gemm_worker, &j);
}

void deja__nn_gemm(const deja__nn *nn, size_t M, size_t N, size_t K, const float *A, size_t lda,
                   const float *B, size_t ldb, float *C, size_t ldc, const deja__nn_post *post,
                   void *scratch)
{
    mat_src m = {B, ldb};
    deja__nn_gemm_packed(nn, M, N, K, A, lda, pack_b_mat, &m, C, ldc, post, scratch);
}

/* ---- reference ------------------------------------------------------------------------- */

void deja__nn_ref_gemm(size_t M, size_t N, size_t K, const float *A, size_t lda, const float *B,
                       size_t ldb, float *C, size_t ldc, const deja__nn_post *post)
{
    for (size_t i = 0; i < M; i++)
        for (size_t jj = 0; jj < N; jj++) {
            double s = 0.0;
            for (size_t k = 0; k < K; k++)
                s += (double)A[i * lda + k] * (double)B[k * ldb + jj];
            if (post && post->bias) s += post->bias[i];
            if (post && post->accumulate) s += C[i * ldc + jj];
            float v = (float)s;
            if (post && post->clamp) v = v < post->lo ? post->lo : v > post->hi ? post->hi : v;
            C[i * ldc + jj] = v;
        }
}
