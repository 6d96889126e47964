/*
 * The FMA throughput this CPU's widest vector unit allows, written by hand: 12 independent
 * accumulators (more than FMA latency x FMA ports on current x86 cores, 4 x 2), each updated by
 * a fused multiply-add per step, on every core through OpenMP. tests/roofline_test.ts holds
 * Tessera's roofline kernel to this. AVX-512 where the compiler targets it, else AVX2 + FMA.
 */
#include <immintrin.h>
#include <omp.h>

#if defined(__AVX512F__)
typedef __m512 vec;
#define LANES 16
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define ADD _mm512_add_ps
#define SUM _mm512_reduce_add_ps
#else
typedef __m256 vec;
#define LANES 8
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define ADD _mm256_add_ps
static float SUM(vec v) {
  float t[8];
  _mm256_storeu_ps(t, v);
  return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
}
#endif

/* float32 lanes of the vectors used: 16 for AVX-512, 8 for AVX2. */
int fma_peak_lanes(void) { return LANES; }

/* Runs `steps` steps on every thread; returns the FLOPs done (a sink keeps the work live). */
double fma_peak(long steps, float *sink) {
  double flops = 0;
#pragma omp parallel reduction(+ : flops)
  {
    const vec x = SET1(0.999999f), y = SET1(1e-7f);
    vec a0 = SET1(0.f), a1 = SET1(1.f), a2 = SET1(2.f), a3 = SET1(3.f), a4 = SET1(4.f),
        a5 = SET1(5.f), a6 = SET1(6.f), a7 = SET1(7.f), a8 = SET1(8.f), a9 = SET1(9.f),
        a10 = SET1(10.f), a11 = SET1(11.f);
    for (long i = 0; i < steps; i++) {
      a0 = FMA(a0, x, y); a1 = FMA(a1, x, y); a2 = FMA(a2, x, y); a3 = FMA(a3, x, y);
      a4 = FMA(a4, x, y); a5 = FMA(a5, x, y); a6 = FMA(a6, x, y); a7 = FMA(a7, x, y);
      a8 = FMA(a8, x, y); a9 = FMA(a9, x, y); a10 = FMA(a10, x, y); a11 = FMA(a11, x, y);
    }
    vec s = ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(a6, a7)));
    s = ADD(s, ADD(ADD(a8, a9), ADD(a10, a11)));
    sink[omp_get_thread_num() % 64] = SUM(s);
    flops += 2.0 * LANES * 12 * (double)steps;
  }
  return flops;
}
