/**
 * The C backend's printer: a flattened `PrimFunc` becomes one C99 (GNU) function that the
 * runtime calls through Deno FFI. It keeps the interpreter's meaning, which is the contract:
 *
 * - int32 arithmetic wraps (the code is compiled with `-fwrapv`); integer division and modulo
 *   by anything but a positive constant go through helpers that report division by zero in
 *   the kernel's status instead of trapping (the interpreter throws there);
 * - float min/max propagate NaN like `Math.min`; `floordiv`/`floormod`/`pow` and the
 *   transcendental intrinsics other than exp, log, sigmoid and erf are computed in double and
 *   rounded, as the interpreter does; float-to-int casts follow JavaScript's ToInt32 (NaN
 *   and infinities give 0);
 * - float16 is `_Float16`, rounded after every operation; bool is stored as `uint8_t`;
 * - int8/uint8 arithmetic happens in C's int and is cast back after every operation (so it
 *   wraps at 8 bits); int64 is `int64_t` (wrapping under `-fwrapv`), float64 `double`; a
 *   float becomes any integer type by truncating and wrapping modulo 2^width, NaN and
 *   infinities giving 0 (`tsr_to_i32`, `tsr_to_i64`), so no conversion is undefined in C.
 *
 * Where it may differ: `a*b + c` may be contracted to one fused multiply-add (one rounding
 * instead of two; needed for speed); the C library's `tanh`, `erf`, `pow` may differ from
 * V8's by an ulp of double before rounding to float; and float32 `exp`, `log` and `sigmoid`
 * use the float functions (`expf`, `logf`), whose vector versions (glibc's libmvec) are what
 * let a softmax loop vectorize, and float32 `erf` a float polynomial of our own (`tsr_erff`,
 * GELU's): within 4 ulp of the interpreter, tested over each function's whole range (at most
 * 3 ulp for exp and erf and 4 for log, measured over every float32). Tests allow a relative
 * error of 1e-5 for float32.
 *
 * Schedules map as TVM's CPU codegen maps them: `parallel` on the outermost parallel loop
 * becomes an OpenMP `parallel for`; `vectorize` becomes `#pragma omp simd` when every access
 * to a written buffer is provably one distinct element per iteration (otherwise the loop is
 * left to GCC's own vectorizer, which checks dependences itself); `unroll` becomes
 * `#pragma GCC unroll`; small constant-size allocations live on the stack, others on a
 * 64-byte-aligned heap block returned to a per-thread cache at the end of their scope;
 * indices are computed in int64 wherever a buffer may hold more than 2^31 elements.
 */
import { constBound } from "../../arith/interval.ts";
import { exprKey } from "../../arith/structural.ts";
import { simplify } from "../../arith/simplify.ts";
import { TesseraError } from "../../error.ts";
import { bytesOf, type DType, isFloat, isInt } from "../../ir/dtype.ts";
import { Binary, type Buffer, Cast, type Expr, intConst, type Var } from "../../ir/expr.ts";
import type { For, PrimFunc, Stmt } from "../../ir/stmt.ts";
import { substitute, walkExpr, walkStmt } from "../../ir/visit.ts";
import { markedStage, profiledStages } from "../../lower/profileMarks.ts";
import { CStylePrinter, Names, P, type Printed, shortestFloat } from "../cstyle.ts";

/** Status codes the kernel returns; the runtime turns them into TesseraErrors. */
export const C_STATUS: Record<number, string> = {
  1: "integer division or modulo by zero",
  2: "out of memory allocating a temporary buffer",
};
/** Statuses from here up are failed index checks, listed in `CKernelSource.statuses`. */
const CHECK_STATUS = 16;

/** Allocations up to this many bytes with a constant size go on the stack. */
const STACK_LIMIT = 32 * 1024;

/** The profiler's clock, in a profiling build only. */
const PROFILE_PRELUDE = `#include <time.h>
TSR_INLINE double tsr_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
`;

const PRELUDE = `#include <stdint.h>
#include <stdlib.h>
#include <math.h>

#define TSR_INLINE static inline __attribute__((always_inline))
TSR_INLINE void tsr_fail(int32_t* err, int32_t code) { __atomic_store_n(err, code, __ATOMIC_RELAXED); }
TSR_INLINE int32_t tsr_check(int32_t i, int32_t n, int32_t* err, int32_t code) {
  if (i < 0 || i >= n) { tsr_fail(err, code); return 0; }
  return i;
}
TSR_INLINE int32_t tsr_div(int32_t a, int32_t b, int32_t* err) {
  if (b == 0) { tsr_fail(err, 1); return 0; }
  return b == -1 ? (int32_t)(0u - (uint32_t)a) : a / b;
}
TSR_INLINE int32_t tsr_mod(int32_t a, int32_t b, int32_t* err) {
  if (b == 0) { tsr_fail(err, 1); return 0; }
  return b == -1 ? 0 : a % b;
}
TSR_INLINE int32_t tsr_floordiv(int32_t a, int32_t b, int32_t* err) {
  int32_t q = tsr_div(a, b, err);
  return (b != 0 && b != -1 && a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
TSR_INLINE int32_t tsr_floormod(int32_t a, int32_t b, int32_t* err) {
  int32_t r = tsr_mod(a, b, err);
  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}
TSR_INLINE int64_t tsr_div_i64(int64_t a, int64_t b, int32_t* err) {
  if (b == 0) { tsr_fail(err, 1); return 0; }
  return b == -1 ? (int64_t)(0u - (uint64_t)a) : a / b;
}
TSR_INLINE int64_t tsr_mod_i64(int64_t a, int64_t b, int32_t* err) {
  if (b == 0) { tsr_fail(err, 1); return 0; }
  return b == -1 ? 0 : a % b;
}
TSR_INLINE int64_t tsr_floordiv_i64(int64_t a, int64_t b, int32_t* err) {
  int64_t q = tsr_div_i64(a, b, err);
  return (b != 0 && b != -1 && a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
TSR_INLINE int64_t tsr_floormod_i64(int64_t a, int64_t b, int32_t* err) {
  int64_t r = tsr_mod_i64(a, b, err);
  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}
TSR_INLINE int64_t tsr_abs_i64(int64_t a) { return a < 0 ? (int64_t)(0u - (uint64_t)a) : a; }
TSR_INLINE int64_t tsr_pow_i64(int64_t a, int64_t b) {
  if (b < 0) return a == 1 ? 1 : a == -1 ? ((b & 1) ? -1 : 1) : 0;
  uint64_t r = 1, base = (uint64_t)a;
  for (uint64_t e = (uint64_t)b; e; e >>= 1) {
    if (e & 1) r *= base;
    base *= base;
  }
  return (int64_t)r;
}
/* Truncate, wrap modulo 2^64; NaN and infinities give 0 (the int32 rule, at 64 bits). */
TSR_INLINE int64_t tsr_to_i64(double x) {
  if (!isfinite(x)) return 0;
  double t = trunc(x);
  if (t >= -9223372036854775808.0 && t < 9223372036854775808.0) return (int64_t)t;
  t = fmod(t, 18446744073709551616.0);
  if (t < 0) t += 18446744073709551616.0;
  return (int64_t)(t >= 9223372036854775808.0 ? (uint64_t)(t - 9223372036854775808.0) + 9223372036854775808u : (uint64_t)t);
}
TSR_INLINE int64_t tsr_floordiv_pos(int64_t a, int64_t b) { int64_t q = a / b; return (a % b < 0) ? q - 1 : q; }
TSR_INLINE int64_t tsr_floormod_pos(int64_t a, int64_t b) { int64_t r = a % b; return r < 0 ? r + b : r; }
TSR_INLINE int32_t tsr_min_i32(int32_t a, int32_t b) { return a < b ? a : b; }
TSR_INLINE int32_t tsr_max_i32(int32_t a, int32_t b) { return a > b ? a : b; }
TSR_INLINE int64_t tsr_min_i64(int64_t a, int64_t b) { return a < b ? a : b; }
TSR_INLINE int64_t tsr_max_i64(int64_t a, int64_t b) { return a > b ? a : b; }
TSR_INLINE int32_t tsr_abs_i32(int32_t a) { return a < 0 ? (int32_t)(0u - (uint32_t)a) : a; }
/*
 * Math.min / Math.max: NaN if either operand is NaN; -0 is below +0. Written without
 * branches so that loops of them vectorize: the two one-sided selects agree unless the
 * operands are equal, where the OR (min) of their bits is the value itself, or -0 for a pair
 * of zeros; an unordered pair gives a + b, a NaN.
 * (3x cheaper in a vectorized pooling loop than the version with signbit tests.)
 */
#define TSR_MINF(NAME, T, U) \
  TSR_INLINE T NAME(T a, T b) { \
    T p = a < b ? a : b, q = b < a ? b : a; \
    U x, y; \
    __builtin_memcpy(&x, &p, sizeof x); \
    __builtin_memcpy(&y, &q, sizeof y); \
    x = x | y; \
    __builtin_memcpy(&p, &x, sizeof p); \
    return (a != a || b != b) ? a + b : p; \
  }
TSR_MINF(tsr_min_f32, float, uint32_t)
TSR_MINF(tsr_min_f64, double, uint64_t)
/*
 * Max is a reduction's combiner (a softmax's row max, a max pool), whose accumulator is
 * \`a\`: its path is one vmaxps and one add. b > a ? b : a is right but for a NaN b (it gives
 * a) and for b = +0 against a = -0 (it gives -0); adding a term of b alone mends both, and
 * changes nothing else: a NaN b adds NaN, b = +0 adds +0 (-0 + +0 is +0, any other x + +0 is
 * x), any other b adds -0 (x + -0 is x for every x). The select-and-AND form it replaces
 * made a chain of about 13 cycles per vector in a row max, this one about 6.5 (a C harness
 * on Zen 5); a 1024x1000 softmax ran 1.13-1.19x faster, its row max about 1.6x.
 */
#define TSR_MAXF(NAME, T, U) \
  TSR_INLINE T NAME(T a, T b) { \
    U y; \
    __builtin_memcpy(&y, &b, sizeof y); \
    T fix = b != b ? b : y == 0 ? (T)0 : -(T)0; \
    return (b > a ? b : a) + fix; \
  }
TSR_MAXF(tsr_max_f32, float, uint32_t)
TSR_MAXF(tsr_max_f64, double, uint64_t)
/* The exact power wrapped to int32 (as scalar.ts defines it). */
TSR_INLINE int32_t tsr_pow_i32(int32_t a, int32_t b) {
  if (b < 0) return a == 1 ? 1 : a == -1 ? ((b & 1) ? -1 : 1) : 0;
  uint32_t r = 1, base = (uint32_t)a;
  for (uint32_t e = (uint32_t)b; e; e >>= 1) {
    if (e & 1) r *= base;
    base *= base;
  }
  return (int32_t)r;
}
/* Math.pow, whose special cases are not C's: pow(1, NaN) and pow(-1, inf) are NaN. */
TSR_INLINE double tsr_pow(double a, double b) {
  if (b != b || (fabs(a) == 1.0 && isinf(b))) return NAN;
  return pow(a, b);
}
/* JavaScript's ToInt32: truncate, wrap modulo 2^32; NaN and infinities give 0. */
TSR_INLINE int32_t tsr_to_i32(double x) {
  if (!isfinite(x)) return 0;
  double t = fmod(trunc(x), 4294967296.0);
  if (t < 0) t += 4294967296.0;
  return (int32_t)(uint32_t)t;
}
TSR_INLINE double tsr_floordiv_f(double a, double b) { return floor(a / b); }
/* Not contracted into fma(-q, b, a): the interpreter rounds q * b before subtracting
   (with one rounding, floormod(FLT_MAX, 0.333f) is 1.5e22 instead of 0). Under
   -ffp-contract=fast neither GCC nor clang honours a pragma against it; a volatile does. */
TSR_INLINE double tsr_floormod_f(double a, double b) {
  volatile double qb = floor(a / b) * b;
  return a - qb;
}
TSR_INLINE double tsr_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
/* exp of -|x| only, so a large negative x keeps its (subnormal) result instead of 1/inf. */
TSR_INLINE float tsr_sigmoidf(float x) {
  float e = expf(-fabsf(x)), r = 1.0f / (1.0f + e);
  return x >= 0.0f ? r : e * r;
}
#ifdef TSR_MVEC
/* glibc's libmvec has these: GCC vectorizes loops that call them (compile.ts links it). */
float expf(float) __attribute__((__simd__("notinbranch")));
float logf(float) __attribute__((__simd__("notinbranch")));
#endif
#ifdef TSR_MVEC_ERF
/* float64 erf and tanh (float32 tanh is computed in double and rounded, the interpreter's rule). */
double erf(double) __attribute__((__simd__("notinbranch")));
double tanh(double) __attribute__((__simd__("notinbranch")));
#endif
/* float32 erf (GELU's) without double: x P(x^2) below 0.875, else 1 - exp(G(t) - x^2) with
   G(t) = log(erfc(x)) + x^2 fitted over [0.875, 4] in t = (x - 2.4375) / 1.5625 (least
   squares: G within 1.3e-8, erf's relative error within 1e-8 below 0.875), both computed and
   one selected so that loops vectorize. Within 3 ulp of erf in double rounded to float, over
   every float32 (exhaustive check); 2x faster than libmvec's double erf in a GELU loop. */
TSR_INLINE float tsr_erff(float x) {
  float a = fabsf(x), u = a * a;
  float p = -6.235146006e-04f;
  p = fmaf(p, u, 5.038736140e-03f);
  p = fmaf(p, u, -2.679630420e-02f);
  p = fmaf(p, u, 1.128260822e-01f);
  p = fmaf(p, u, -3.761256915e-01f);
  p = fmaf(p, u, 1.128379163e+00f);
  float c = a > 4.0f ? 4.0f : a, t = (c - 2.4375f) * 0.64f;
  float g = 5.703627239e-05f;
  g = fmaf(g, t, -3.208041695e-04f);
  g = fmaf(g, t, 1.214064888e-03f);
  g = fmaf(g, t, -4.193816075e-03f);
  g = fmaf(g, t, 1.371538442e-02f);
  g = fmaf(g, t, -4.355078863e-02f);
  g = fmaf(g, t, 1.420755362e-01f);
  g = fmaf(g, t, -5.622240273e-01f);
  g = fmaf(g, t, -1.534550886e+00f);
  float large = 1.0f - expf(fmaf(-c, c, g));
  return copysignf(a < 0.875f ? a * p : large, x);
}
/* Heap buffers come from a small per-thread cache of freed blocks (TVM's workspace pool in
   spirit): a block above malloc's mmap threshold is otherwise unmapped at free and faulted in
   again, page by page, at every call (a 512x512 matmul's 1 MiB packed tile: 256 faults, 1-3
   ms on a VM). A block carries its capacity in a 64-byte header. Blocks of TSR_MIN bytes or
   more are kept, at most TSR_SLOTS of them and TSR_KEEP bytes a thread, and reused for a
   request at least half their size; the rest is freed (malloc keeps small blocks itself). */
#define TSR_MIN ((size_t)64 << 10)
#define TSR_SLOTS 8
#define TSR_KEEP ((size_t)256 << 20)
static __thread void* tsr_cached[TSR_SLOTS];
static __thread size_t tsr_cached_bytes;
TSR_INLINE size_t tsr_cap(void* b) { return *(size_t*)b; }
TSR_INLINE void* tsr_alloc(int64_t bytes) {
  size_t n = bytes <= 0 ? 64 : ((size_t)bytes + 63) / 64 * 64;
  int best = -1;
  for (int i = 0; i < TSR_SLOTS; i++) {
    void* b = tsr_cached[i];
    if (b && tsr_cap(b) >= n && tsr_cap(b) / 2 <= n &&
        (best < 0 || tsr_cap(b) < tsr_cap(tsr_cached[best]))) {
      best = i;
    }
  }
  char* b;
  if (best >= 0) {
    b = (char*)tsr_cached[best];
    tsr_cached[best] = NULL;
    tsr_cached_bytes -= tsr_cap(b);
  } else {
    b = (char*)aligned_alloc(64, n + 64);
    if (b == NULL) return NULL;
    *(size_t*)b = n;
  }
  return b + 64;
}
TSR_INLINE void tsr_free(void* p) {
  if (p == NULL) return;
  char* b = (char*)p - 64;
  size_t n = tsr_cap(b);
  int slot = -1;
  for (int i = 0; i < TSR_SLOTS && slot < 0; i++) if (!tsr_cached[i]) slot = i;
  if (n < TSR_MIN || slot < 0 || tsr_cached_bytes + n > TSR_KEEP) {
    free(b);
    return;
  }
  tsr_cached[slot] = b;
  tsr_cached_bytes += n;
}
`;

export interface CKernelSource {
  source: string;
  /** The exported function's name. */
  entry: string;
  /** What each status the kernel can return beyond C_STATUS means (failed index checks). */
  statuses: Record<number, string>;
}

class CPrinter extends CStylePrinter {
  /** Buffers whose indices must be computed in int64. */
  private readonly wide = new Set<Buffer>();
  private parallelDepth = 0;
  /** The buffer whose index is being printed, and the messages of the checks printed so far. */
  private loading = "";
  private readonly statuses: string[] = [];
  /** The stages the profiler times, in the order of their slots in `tsr_prof`. */
  private profiled: string[] = [];
  /** Prototypes of the extern functions called, by name. */
  private readonly externs = new Map<string, string>();

  typeName(t: DType): string {
    return {
      float32: "float",
      float16: "_Float16",
      float64: "double",
      int32: "int32_t",
      int8: "int8_t",
      uint8: "uint8_t",
      int64: "int64_t",
      bool: "uint8_t",
    }[t];
  }

  constant(v: number, t: DType): Printed {
    if (t === "bool") return [v ? "1" : "0", P.atom];
    if (t === "int32" || t === "int8" || t === "uint8") {
      if (v === -2147483648) return ["(-2147483647 - 1)", P.atom];
      return [String(v), v < 0 ? P.unary : P.atom];
    }
    if (t === "int64") {
      if (v === -(2 ** 63)) return ["(-9223372036854775807LL - 1)", P.atom];
      return [`${BigInt(v)}LL`, v < 0 ? P.unary : P.atom];
    }
    const f = t === "float64" ? "" : "f";
    let s: string;
    if (Number.isNaN(v)) s = "NAN";
    else if (!Number.isFinite(v)) s = v > 0 ? "INFINITY" : "-INFINITY";
    else if (Object.is(v, -0)) s = `-0.0${f}`;
    else s = shortestFloat(v, t === "float64" ? (x) => x : Math.fround) + f;
    if (t === "float16") return [`(_Float16)${s}`, P.unary];
    return [s, s.startsWith("-") ? P.unary : P.atom];
  }

  override arith(text: string, p: number, t: DType): Printed {
    // _Float16 must round after every operation, as the interpreter's float16 does; int8
    // and uint8 are computed in int and wrapped back.
    return t === "float16" || t === "int8" || t === "uint8"
      ? [`(${this.typeName(t)})(${text})`, P.unary]
      : [text, p];
  }

  /** A call of `fn` computed in double and rounded to `t`, as scalar.ts computes it. */
  private viaDouble(fn: string, args: Expr[], t: DType): Printed {
    const a = args.map((x) => `(double)${this.operand(x, P.unary)}`).join(", ");
    return [`(${this.typeName(t)})${fn}(${a})`, P.unary];
  }

  binaryCall(e: Expr & { kind: "binary" }): Printed {
    const { op, a, b, dtype: t } = e;
    const call = (fn: string): Printed => [`${fn}(${this.expr(a)}, ${this.expr(b)})`, P.atom];
    if (t === "int8" || t === "uint8") {
      // Computed as int32 (which holds every result but -128 / -1) and wrapped back.
      const wide = this.binaryCall(new Binary(op, cast32(a), cast32(b), "int32"));
      return [`(${this.typeName(t)})(${wide[0]})`, P.unary];
    }
    if (t === "int32" || t === "int64") {
      const posConst = b.kind === "const" && b.value > 0;
      const w = t === "int64" ? "_i64" : "";
      const ct = posConst ? this.expr(b) : "";
      switch (op) {
        case "div":
          return posConst
            ? [`${this.operand(a, P.mul)} / ${ct}`, P.mul]
            : this.errCall(`tsr_div${w}`, a, b);
        case "mod":
          return posConst
            ? [`${this.operand(a, P.mul)} % ${ct}`, P.mul]
            : this.errCall(`tsr_mod${w}`, a, b);
        case "floordiv":
          return posConst
            ? [`(${this.typeName(t)})tsr_floordiv_pos(${this.expr(a)}, ${ct})`, P.unary]
            : this.errCall(`tsr_floordiv${w}`, a, b);
        case "floormod":
          return posConst
            ? [`(${this.typeName(t)})tsr_floormod_pos(${this.expr(a)}, ${ct})`, P.unary]
            : this.errCall(`tsr_floormod${w}`, a, b);
        case "min":
          return call(t === "int64" ? "tsr_min_i64" : "tsr_min_i32");
        case "max":
          return call(t === "int64" ? "tsr_max_i64" : "tsr_max_i32");
        case "pow":
          return call(t === "int64" ? "tsr_pow_i64" : "tsr_pow_i32");
      }
    }
    switch (op) {
      case "div":
        return this.arith(`${this.operand(a, P.mul)} / ${this.operand(b, P.mul + 1)}`, P.mul, t);
      case "min":
      case "max": {
        const fw = t === "float64" ? "f64" : "f32";
        const r: Printed = [`tsr_${op}_${fw}(${this.expr(a)}, ${this.expr(b)})`, P.atom];
        return t === "float16" ? [`(_Float16)${r[0]}`, P.unary] : r;
      }
      case "floordiv":
        return this.viaDouble("tsr_floordiv_f", [a, b], t);
      case "floormod":
        return this.viaDouble("tsr_floormod_f", [a, b], t);
      case "pow":
        return this.viaDouble("tsr_pow", [a, b], t);
      default:
        throw new Error(`C printer: float ${op}`);
    }
  }

  private errCall(fn: string, a: Expr, b: Expr): Printed {
    return [`${fn}(${this.expr(a)}, ${this.expr(b)}, &tsr_err)`, P.atom];
  }

  call(e: Expr & { kind: "call" }): Printed {
    const x = e.args[0], t = e.dtype;
    if (e.op === "checkIndex") return this.checkIndex(e.args);
    if (e.op === "isnan" || e.op === "isinf") {
      return [`(uint8_t)(${e.op}(${this.expr(x)}) != 0)`, P.unary];
    }
    if (e.op === "atan2") return this.viaDouble("atan2", e.args, t);
    if (t === "int64" && e.op === "abs") return [`tsr_abs_i64(${this.expr(x)})`, P.atom];
    if (isInt(t)) {
      if (e.op === "abs") {
        const r = `tsr_abs_i32(${this.expr(x)})`;
        return t === "int32" ? [r, P.atom] : [`(${this.typeName(t)})${r}`, P.unary];
      }
      if (e.op === "floor" || e.op === "ceil" || e.op === "round") return this.ex(x);
    }
    const f32 = (fn: string): Printed => {
      // double has the plain names: fabs, floor, rint, exp, ...
      if (t === "float64") fn = fn === "tsr_sigmoidf" ? "tsr_sigmoid" : fn.replace(/f$/, "");
      const r = `${fn}(${this.expr(x)})`;
      return t === "float16"
        ? [`(_Float16)${fn}((float)${this.operand(x, P.unary)})`, P.unary]
        : [r, P.atom];
    };
    switch (e.op) {
      case "abs":
        return f32("fabsf");
      case "floor":
        return f32("floorf");
      case "ceil":
        return f32("ceilf");
      case "round":
        return f32("rintf"); // round half to even in the default rounding mode
      case "sqrt":
        return f32("sqrtf"); // correctly rounded, so equal to rounding the double result
      case "rsqrt":
        return [`(${this.typeName(t)})(1.0 / sqrt((double)${this.operand(x, P.unary)}))`, P.unary];
      // Float exp and log (and sigmoid through exp) call the float functions, so that a
      // vectorized loop can use the C library's vector versions.
      case "exp":
      case "log":
        return isFloat(t) ? f32(`${e.op}f`) : this.viaDouble(e.op, [x], t);
      case "sigmoid":
        return isFloat(t) ? f32("tsr_sigmoidf") : this.viaDouble("tsr_sigmoid", [x], t);
      case "erf":
        return t === "float32" || t === "float16" ? f32("tsr_erff") : this.viaDouble("erf", [x], t);
      default:
        return this.viaDouble(e.op, [x], t);
    }
  }

  cast(e: Expr & { kind: "cast" }): Printed {
    const from = e.value.dtype, to = e.dtype;
    if (from === to) return this.ex(e.value);
    if (to === "bool") return [`(uint8_t)(${this.operand(e.value, P.eq)} != 0)`, P.unary];
    if (isInt(to) && isFloat(from)) {
      const v = `(double)${this.operand(e.value, P.unary)}`;
      if (to === "int64") return [`tsr_to_i64(${v})`, P.atom];
      return to === "int32"
        ? [`tsr_to_i32(${v})`, P.atom]
        : [`(${this.typeName(to)})tsr_to_i32(${v})`, P.unary];
    }
    return [`(${this.typeName(to)})${this.operand(e.value, P.unary)}`, P.unary];
  }

  select(e: Expr & { kind: "select" }): Printed {
    // C's ?: evaluates only the branch taken, as the interpreter's select does.
    return [
      `${this.operand(e.cond, P.or)} ? ${this.operand(e.t, P.or)} : ${this.operand(e.f, P.select)}`,
      P.select,
    ];
  }

  load(e: Expr & { kind: "bufferLoad" }): Printed {
    const outer = this.loading;
    this.loading = e.buffer.name;
    const index = this.index(e.buffer, e.indices);
    this.loading = outer;
    return [`${this.names.of(e.buffer)}[${index}]`, P.atom];
  }

  /** A failed index check returns a status of its own (from 16 up) naming buffer and range. */
  private checkIndex([index, extent, dim]: Expr[]): Printed {
    const what = `out-of-bounds load from '${this.loading}': index ${
      dim.kind === "const" ? dim.value : "?"
    } outside [0, ${String(extent)}), the declared shape of '${this.loading}' in that dimension`;
    let code = this.statuses.indexOf(what);
    if (code < 0) code = this.statuses.push(what) - 1;
    return [
      `tsr_check(${this.expr(index)}, ${this.expr(extent)}, &tsr_err, ${code + CHECK_STATUS})`,
      P.atom,
    ];
  }

  private index(b: Buffer, indices: Expr[]): string {
    if (indices.length !== 1) throw new Error(`C printer: buffer ${b.name} is not flattened`);
    const root = b.aliasOf ?? b;
    return this.wide.has(root) ? this.wideExpr(indices[0])[0] : this.expr(indices[0]);
  }

  /** An int32 index expression evaluated in int64, so that it cannot overflow. */
  private wideExpr(e: Expr): Printed {
    switch (e.kind) {
      case "const":
        return this.constant(e.value, "int32");
      case "var":
        return [`(int64_t)${this.names.of(e)}`, P.unary];
      case "binary": {
        const { op, a, b } = e;
        const sym = { add: "+", sub: "-", mul: "*" }[op as string];
        const w = (x: Expr, p: number) => {
          const [s, q] = this.wideExpr(x);
          return q >= p ? s : `(${s})`;
        };
        if (sym) {
          const p = sym === "*" ? P.mul : P.add;
          // Two literals would be multiplied in int: one of them must be int64.
          const left = a.kind === "const" && b.kind === "const"
            ? `(int64_t)${w(a, P.unary)}`
            : w(a, p);
          return [`${left} ${sym} ${w(b, p + 1)}`, p];
        }
        if (b.kind === "const" && b.value > 0) {
          if (op === "div" || op === "mod") {
            return [`${w(a, P.mul)} ${op === "div" ? "/" : "%"} ${b.value}`, P.mul];
          }
          if (op === "floordiv" || op === "floormod") {
            return [`tsr_${op}_pos(${this.wideExpr(a)[0]}, ${b.value})`, P.atom];
          }
        }
        if (op === "min" || op === "max") {
          return [`tsr_${op}_i64(${this.wideExpr(a)[0]}, ${this.wideExpr(b)[0]})`, P.atom];
        }
        break;
      }
      case "select":
        return [
          `${this.operand(e.cond, P.or)} ? ${this.wideExpr(e.t)[0]} : ${this.wideExpr(e.f)[0]}`,
          P.select,
        ];
    }
    return [`(int64_t)${this.operand(e, P.unary)}`, P.unary];
  }

  store(s: Stmt & { kind: "store" }): void {
    const t = s.buffer.dtype;
    const v = this.expr(s.value);
    const val = t === "bool" ? `(uint8_t)(${v})` : v;
    this.emit(`${this.names.of(s.buffer)}[${this.index(s.buffer, s.indices)}] = ${val};`);
  }

  letStmt(s: Stmt & { kind: "let" }): void {
    this.emit("{");
    this.depth++;
    this.emit(`const ${this.typeName(s.v.dtype)} ${this.names.of(s.v)} = ${this.expr(s.value)};`);
    this.stmt(s.body);
    this.depth--;
    this.emit("}");
  }

  barrier(): void {
    this.emit("/* barrier: a no-op on the CPU, where thread loops run in order */");
  }

  /**
   * A call of the user's C function, declared from the call's own argument types (it is
   * defined in another translation unit or library): inputs `const T*`, outputs `T*`, values
   * by their dtype. Its return value, if any, is ignored.
   */
  externCall(s: Stmt & { kind: "extern" }): void {
    const types = s.args.map((a) =>
      "shape" in a
        ? `${s.outs.includes(a) ? "" : "const "}${this.typeName(a.dtype)}*`
        : this.typeName(a.dtype)
    );
    const proto = `void ${s.fname}(${types.length > 0 ? types.join(", ") : "void"});`;
    const had = this.externs.get(s.fname);
    if (had !== undefined && had !== proto) {
      throw new TesseraError(
        `extern stage '${s.impl.stage}': C function '${s.fname}' is called with other argument ` +
          `types than before (${proto} vs ${had}); one C function has one signature`,
      );
    }
    this.externs.set(s.fname, proto);
    const args = s.args.map((a) => "shape" in a ? this.names.of(a) : this.expr(a));
    this.emit(`${s.fname}(${args.join(", ")});`);
  }

  forLoop(s: For): void {
    const stage = markedStage(s);
    if (stage !== null) {
      // A profiling mark: time the stage it wraps into its slot of tsr_prof.
      const slot = this.profiled.indexOf(stage);
      this.emit(`{ /* profiler: stage ${slot} */`);
      this.depth++;
      this.emit("const double tsr_t0 = tsr_now();");
      this.stmt(s.body);
      this.emit(`tsr_prof[${slot}] += tsr_now() - tsr_t0;`);
      this.depth--;
      this.emit("}");
      return;
    }
    const v = this.names.of(s.loopVar);
    const lo = this.expr(s.min);
    const hi = s.min.kind === "const" && s.min.value === 0
      ? this.expr(s.extent)
      : this.expr(simplify(new Binary("add", s.min, s.extent, "int32")));
    const header = `for (int32_t ${v} = ${lo}; ${v} < ${hi}; ++${v}) {`;
    const ext = s.extent.kind === "const" ? s.extent.value : null;
    let parallel = false;
    switch (s.forKind) {
      case "parallel":
        if (this.parallelDepth === 0) {
          this.emit("#pragma omp parallel for schedule(static)");
          parallel = true;
        } else this.emit("/* parallel inside a parallel loop: runs serially */");
        break;
      case "vectorized":
        if (independentIterations(s)) this.emit("#pragma omp simd");
        else this.emit("/* vectorize: iterations may overlap; left to the compiler */");
        break;
      case "unrolled":
        if (ext !== null && ext > 0 && ext <= 1024) this.emit(`#pragma GCC unroll ${ext}`);
        break;
      case "threadBinding":
        this.emit(`/* ${s.threadTag ?? "thread"}: one CPU thread runs every index in order */`);
        break;
    }
    this.emit(header);
    if (parallel) {
      // OpenMP outlines the body, and the range of its variable is lost on the way; with
      // -fwrapv, GCC then cannot prove `v*16 + i` does not wrap and gives up on contiguous
      // vector accesses in the body. Restating the range gets them back.
      this.depth++;
      this.emit(`if (${v} < ${lo} || ${v} >= ${hi}) __builtin_unreachable();`);
      this.depth--;
      this.parallelDepth++;
    }
    this.block(s.body);
    if (parallel) this.parallelDepth--;
    this.emit("}");
  }

  allocate(s: Stmt & { kind: "allocate" }): void {
    const b = s.buffer;
    const name = this.names.of(b);
    const ty = this.typeName(b.dtype);
    const size = simplify(
      b.shape.reduce((a: Expr, d) => new Binary("mul", a, d, "int32"), intConst(1)),
    );
    const elem = bytesOf(b.dtype);
    this.markWide(b, size);
    this.emit("{");
    this.depth++;
    // The element count is exact (the simplifier never folds it by wrapping) and computed in
    // int64: a product of int32 dimensions may pass 2^31.
    const { min, max } = constBound(size, new Map());
    if (min === max && max * elem <= STACK_LIMIT) {
      this.emit(`${ty} ${name}[${Math.max(1, max)}] __attribute__((aligned(64)));`);
      this.stmt(s.body);
    } else {
      const [count, p] = this.wideExpr(size);
      this.emit(
        `${ty}* restrict ${name} = (${ty}*)tsr_alloc(${
          p >= P.mul ? count : `(${count})`
        } * ${elem});`,
      );
      this.emit(`if (${name} == NULL) {`);
      this.emit("  tsr_fail(&tsr_err, 2);");
      this.emit("} else {");
      this.block(s.body);
      this.emit("}");
      this.emit(`tsr_free(${name});`);
    }
    this.depth--;
    this.emit("}");
  }

  /** Indices of `b` are computed in int64 unless its element count provably fits int32. */
  markWide(b: Buffer, size: Expr): void {
    const { max } = constBound(size, new Map());
    if (!(max <= 0x7fffffff)) this.wide.add(b);
  }

  func(f: PrimFunc): CKernelSource {
    // The exported symbol: `k_` keeps it apart from the helpers (`tsr_div`) and from libc.
    const entry = `k_${f.name.replace(/[^A-Za-z0-9_]/g, "_")}`;
    const params = f.params.map((p) => {
      const size = simplify(
        p.shape.reduce((a: Expr, d) => new Binary("mul", a, d, "int32"), intConst(1)),
      );
      this.markWide(p, size);
      const ro = f.outputs.includes(p) ? "" : "const ";
      return `${ro}${this.typeName(p.dtype)}* restrict ${this.names.of(p)}`;
    });
    for (const v of f.sizeVars) params.push(`int32_t ${this.names.of(v)}`);
    for (const v of f.scalars) params.push(`${this.typeName(v.dtype)} ${this.names.of(v)}`);
    this.profiled = profiledStages(f.body);
    if (this.profiled.length > 0) params.push("double* restrict tsr_prof");
    this.depth = 1;
    this.emit("int32_t tsr_err = 0;");
    this.stmt(f.body);
    this.emit("return tsr_err;");
    const body = this.lines.join("\n");
    const sig = params.length ? params.join(",\n    ") : "void";
    let prelude = this.profiled.length > 0 ? PRELUDE + PROFILE_PRELUDE : PRELUDE;
    if (this.externs.size > 0) {
      prelude += `\n/* extern functions (te.extern), named as their authors named them */\n` +
        [...this.externs.values()].join("\n") + "\n";
    }
    const source =
      `${prelude}\n/* kernel ${entry.slice(2)}: generated by Tessera from the loop IR */\n` +
      `int32_t ${entry}(\n    ${sig}) {\n${body}\n}\n`;
    const statuses = Object.fromEntries(this.statuses.map((m, k) => [k + CHECK_STATUS, m]));
    return { source, entry, statuses };
  }
}

/**
 * Whether a vectorized loop's iterations touch disjoint elements of every buffer they
 * write: each access to such a buffer uses the same index, and that index moves by a
 * nonzero constant when the loop variable moves by one. Then `omp simd` is safe; a
 * reduction vectorized over its own axis, say, is not, and is left to GCC.
 */
function independentIterations(s: For): boolean {
  const v = s.loopVar;
  const next = new Map<Var, Expr>([[v, new Binary("add", v, intConst(1), "int32")]]);
  const written = new Map<Buffer, string>();
  const accesses: Array<[Buffer, Expr]> = [];
  let ok = true;
  walkStmt(s.body, (x) => {
    if (x.kind === "for" || x.kind === "allocate" || x.kind === "barrier") ok = false;
    if (x.kind === "store") {
      const root = x.buffer.aliasOf ?? x.buffer;
      accesses.push([root, x.indices[0]]);
      written.set(root, exprKey(x.indices[0]));
    }
    const scan = (e: Expr) =>
      walkExpr(e, (y) => {
        if (y.kind === "bufferLoad") accesses.push([y.buffer.aliasOf ?? y.buffer, y.indices[0]]);
      });
    if (x.kind === "store") {
      scan(x.value);
      x.indices.forEach(scan);
    } else if (x.kind === "if") scan(x.cond);
    else if (x.kind === "let") scan(x.value);
  });
  if (!ok) return false;
  for (const [b, idx] of accesses) {
    const w = written.get(b);
    if (w === undefined) continue;
    if (exprKey(idx) !== w) return false;
    const step = simplify(new Binary("sub", substitute(idx, next), idx, "int32"));
    if (step.kind !== "const" || step.value === 0) return false;
  }
  return true;
}

const cast32 = (x: Expr): Expr => (x.kind === "const" ? intConst(x.value) : new Cast("int32", x));

/** Prints a flattened function as a C translation unit with one exported kernel. */
export function printC(f: PrimFunc): CKernelSource {
  return new CPrinter(new Names()).func(f);
}
