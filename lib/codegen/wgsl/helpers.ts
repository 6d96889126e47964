/**
 * The WGSL prelude: the helper functions generated shaders call where WGSL's own operations
 * differ from the interpreter's meaning (integer division and its rounding, NaN-aware
 * comparisons, min/max with signed zeros, pow's special cases, accurate transcendental
 * functions, float floordiv/floormod), and `helpersFor`, which picks the ones a shader uses.
 */
import { FLAG_INT_DIV_ZERO, raiseFlag, recordCheck } from "./error_flags.ts";

// Integer division by zero and a failed index check record what happened in the error flags
// the runtime reads back (error_flags.ts), and compute on with 0. Check code 0 records
// nothing (atomicMax with 0): the check sits in a select branch that was not taken.
const HELPERS = `fn tsr_check(i: i32, n: i32, code: u32) -> i32 {
  if (i < 0 || i >= n) { ${recordCheck("code")} return 0; }
  return i;
}
fn tsr_div(a: i32, b: i32) -> i32 {
  if (b == 0) { ${raiseFlag(FLAG_INT_DIV_ZERO)} return 0; }
  if (b == -1) { return -a; }
  return a / b;
}
fn tsr_mod(a: i32, b: i32) -> i32 {
  // Not \`a % b\`: Mesa's llvmpipe (through naga) computes i32 % as unsigned.
  if (b == 0) { ${raiseFlag(FLAG_INT_DIV_ZERO)} return 0; }
  if (b == -1) { return 0; }
  return a - (a / b) * b;
}
fn tsr_floordiv(a: i32, b: i32) -> i32 {
  if (b == 0) { ${raiseFlag(FLAG_INT_DIV_ZERO)} return 0; }
  let q = tsr_div(a, b);
  let r = a - q * b;
  if (r != 0 && (r ^ b) < 0) { return q - 1; }
  return q;
}
fn tsr_floormod(a: i32, b: i32) -> i32 {
  let r = tsr_mod(a, b);
  if (r != 0 && (r ^ b) < 0) { return r + b; }
  return r;
}
// NaN by its bits: a GPU's shader compiler may assume no NaNs and fold \`x != x\` to false
// (NVIDIA's does: max(2, NaN) was 2 and tanh(NaN) was -1 on an H200).
fn tsr_isnan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
// Float comparisons as IEEE (and the interpreter) define them with NaN: only != is true.
fn tsr_eq(a: f32, b: f32) -> bool { return !tsr_isnan(a) && !tsr_isnan(b) && a == b; }
fn tsr_ne(a: f32, b: f32) -> bool { return tsr_isnan(a) || tsr_isnan(b) || a != b; }
fn tsr_lt(a: f32, b: f32) -> bool { return !tsr_isnan(a) && !tsr_isnan(b) && a < b; }
fn tsr_le(a: f32, b: f32) -> bool { return !tsr_isnan(a) && !tsr_isnan(b) && a <= b; }
fn tsr_gt(a: f32, b: f32) -> bool { return !tsr_isnan(a) && !tsr_isnan(b) && a > b; }
fn tsr_ge(a: f32, b: f32) -> bool { return !tsr_isnan(a) && !tsr_isnan(b) && a >= b; }
// Math.min / Math.max: NaN if either is NaN, and -0 is below +0 (min(0, -0) is -0).
fn tsr_neg0(a: f32) -> bool { return (bitcast<u32>(a) >> 31u) == 1u; }
fn tsr_minf(a: f32, b: f32) -> f32 { if (tsr_isnan(a) || tsr_isnan(b)) { return a + b; } return select(b, a, a < b || (a == b && tsr_neg0(a))); }
fn tsr_maxf(a: f32, b: f32) -> f32 { if (tsr_isnan(a) || tsr_isnan(b)) { return a + b; } return select(b, a, a > b || (a == b && !tsr_neg0(a))); }
fn tsr_minv2(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> { return vec2<f32>(tsr_minf(a.x, b.x), tsr_minf(a.y, b.y)); }
fn tsr_maxv2(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> { return vec2<f32>(tsr_maxf(a.x, b.x), tsr_maxf(a.y, b.y)); }
fn tsr_minv3(a: vec3<f32>, b: vec3<f32>) -> vec3<f32> { return vec3<f32>(tsr_minf(a.x, b.x), tsr_minf(a.y, b.y), tsr_minf(a.z, b.z)); }
fn tsr_maxv3(a: vec3<f32>, b: vec3<f32>) -> vec3<f32> { return vec3<f32>(tsr_maxf(a.x, b.x), tsr_maxf(a.y, b.y), tsr_maxf(a.z, b.z)); }
fn tsr_minv4(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> { return vec4<f32>(tsr_minv2(a.xy, b.xy), tsr_minv2(a.zw, b.zw)); }
fn tsr_maxv4(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> { return vec4<f32>(tsr_maxv2(a.xy, b.xy), tsr_maxv2(a.zw, b.zw)); }
fn tsr_to_i32(x: f32) -> i32 {
  if (tsr_isnan(x) || abs(x) > 3.4e38) { return 0; }
  let t = trunc(x);
  if (abs(t) < 2147483648.0) { return i32(t); }
  var r = t - floor(t / 4294967296.0) * 4294967296.0;
  if (r >= 2147483648.0) { r = r - 4294967296.0; }
  return i32(r);
}
// Math.pow's special cases (ECMAScript, not C: pow(1, NaN) and pow(-1, inf) are NaN).
fn tsr_powf(a: f32, b: f32) -> f32 {
  let inf = bitcast<f32>(0x7f800000u);
  if (b == 0.0) { return 1.0; }
  if (tsr_isnan(a) || tsr_isnan(b)) { return bitcast<f32>(0x7fc00000u); }
  if (abs(b) == inf) {
    if (abs(a) == 1.0) { return bitcast<f32>(0x7fc00000u); }
    return select(0.0, inf, (abs(a) > 1.0) == (b > 0.0));
  }
  // b * 0.5 is exact; every float32 of magnitude 2^24 or more is even.
  let odd = b == floor(b) && fract(b * 0.5) != 0.0;
  if (a == 0.0 || abs(a) == inf) {
    let r = select(0.0, inf, (b > 0.0) == (a != 0.0));
    return select(r, -r, odd && tsr_neg0(a));
  }
  if (a < 0.0) {
    if (b != floor(b)) { return bitcast<f32>(0x7fc00000u); }
    let r = pow(-a, b);
    return select(r, -r, odd);
  }
  return pow(a, b);
}
fn tsr_powi(a: i32, b: i32) -> i32 {
  if (b < 0) { return select(0, select(1, select(-1, 1, (b & 1) == 0), a == -1), a == 1 || a == -1); }
  var r = 1;
  var base = a;
  var e = b;
  loop {
    if (e == 0) { break; }
    if ((e & 1) == 1) { r = r * base; }
    base = base * base;
    e = e >> 1u;
  }
  return r;
}
fn tsr_erf(x: f32) -> f32 {
  // Abramowitz & Stegun 7.1.26, absolute error below 1.5e-7; erf(-0) is -0.
  if (x == 0.0) { return x; }
  let s = sign(x);
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-a * a);
  return s * y;
}
fn tsr_tanh(x: f32) -> f32 {
  if (tsr_isnan(x) || x == 0.0) { return x; }
  return tanh(clamp(x, -15.0, 15.0));
}
fn tsr_sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
fn tsr_isinf(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u; }
// WGSL promises sin and cos only in [-pi, pi]: reduce by 2 pi first, in three parts whose
// first has few bits (k * part is exact for |k| < 2^12); NaN and infinities give NaN.
fn tsr_reduce2pi(x: f32) -> f32 {
  let k = round(x * 0.15915494);
  return ((x - k * 6.28125) - k * 0.0019353072) - k * 2.3849761e-9;
}
fn tsr_sin(x: f32) -> f32 {
  if (tsr_isnan(x) || tsr_isinf(x)) { return bitcast<f32>(0x7fc00000u); }
  if (x == 0.0) { return x; }
  return sin(tsr_reduce2pi(x));
}
fn tsr_cos(x: f32) -> f32 {
  if (tsr_isnan(x) || tsr_isinf(x)) { return bitcast<f32>(0x7fc00000u); }
  return cos(tsr_reduce2pi(x));
}
fn tsr_tan(x: f32) -> f32 {
  if (x == 0.0) { return x; }
  return tsr_sin(x) / tsr_cos(x);
}
// llvmpipe's atan is 2e-5 off relatively near 0: its series there (error below 3e-11).
fn tsr_atan(x: f32) -> f32 {
  if (tsr_isnan(x) || x == 0.0) { return x; }
  if (abs(x) < 0.0625) { let x2 = x * x; return x * (1.0 - x2 * (1.0 / 3.0 - x2 * (0.2 - x2 / 7.0))); }
  return atan(x);
}
fn tsr_atan2(y: f32, x: f32) -> f32 {
  if (tsr_isnan(y) || tsr_isnan(x)) { return bitcast<f32>(0x7fc00000u); }
  return atan2(y, x);
}
fn tsr_exp2(x: f32) -> f32 { if (tsr_isnan(x)) { return x; } return exp2(x); }
fn tsr_log2(x: f32) -> f32 {
  if (tsr_isnan(x) || x < 0.0) { return bitcast<f32>(0x7fc00000u); }
  if (x == 0.0) { return bitcast<f32>(0xff800000u); }
  return log2(x);
}
// WGSL's log is only promised to 2^-21 absolute near 1, so log(1 + x) would lose a small x:
// below |x| = 0.5, 2 atanh(s) with s = x / (2 + x), as its odd series (|s| <= 1/3).
fn tsr_log1p(x: f32) -> f32 {
  if (tsr_isnan(x) || x < -1.0) { return bitcast<f32>(0x7fc00000u); }
  if (x == -1.0) { return bitcast<f32>(0xff800000u); }
  if (tsr_isinf(x) || x == 0.0) { return x; }
  if (abs(x) >= 0.5) { return log(1.0 + x); }
  let s = x / (2.0 + x);
  let s2 = s * s;
  let p = 1.0 + s2 * (1.0 / 3.0 + s2 * (0.2 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0 + s2 * (1.0 / 11.0 + s2 * (1.0 / 13.0 + s2 * (1.0 / 15.0 + s2 / 17.0)))))));
  return 2.0 * s * p;
}
// exp(x) - 1: below |x| = 0.5 its Taylor series (no cancellation), exp(x) - 1 beyond.
fn tsr_expm1(x: f32) -> f32 {
  if (tsr_isnan(x) || x == 0.0) { return x; }
  if (x > 88.8) { return bitcast<f32>(0x7f800000u); }
  if (abs(x) >= 0.5) { return exp(x) - 1.0; }
  var t = 1.0;
  for (var k = 11.0; k >= 2.0; k = k - 1.0) { t = 1.0 + x * t / k; }
  return x * t;
}
// Through expm1 near 0 (no cancellation), exp(|x| - ln 2) where exp(|x|) alone overflows.
fn tsr_sinh(x: f32) -> f32 {
  if (tsr_isnan(x) || x == 0.0) { return x; }
  let a = abs(x);
  if (a > 88.0) { return sign(x) * exp(a - 0.6931472); }
  return 0.5 * (tsr_expm1(x) - tsr_expm1(-x));
}
fn tsr_cosh(x: f32) -> f32 {
  if (tsr_isnan(x)) { return x; }
  let a = abs(x);
  if (a > 88.0) { return exp(a - 0.6931472); }
  let e = exp(a);
  return 0.5 * e + 0.5 / e;
}
// a / b, with division by zero and the sign of a zero quotient spelled out: llvmpipe's
// compiler folds \`x / 0.0\` with a literal (or inlined constant) zero to 0, and a zero
// numerator's quotient to +0, where IEEE (and the interpreter) give inf, NaN or -0.
fn tsr_fdiv(a: f32, b: f32) -> f32 {
  if (b != 0.0) {
    let q = a / b;
    if (q != 0.0) { return q; }
    return bitcast<f32>((bitcast<u32>(a) ^ bitcast<u32>(b)) & 0x80000000u);
  }
  if (tsr_isnan(a) || a == 0.0) { return bitcast<f32>(0x7fc00000u); }
  return bitcast<f32>(((bitcast<u32>(a) ^ bitcast<u32>(b)) & 0x80000000u) | 0x7f800000u);
}
// The error of the float32 product a * b = p: p + e is exact (Dekker; |a|, |b| < 2^100).
fn tsr_mul_err(a: f32, b: f32, p: f32) -> f32 {
  let ca = 4097.0 * a;
  let ah = ca - (ca - a);
  let al = a - ah;
  let cb = 4097.0 * b;
  let bh = cb - (cb - b);
  let bl = b - bh;
  return ((ah * bh - p) + ah * bl + al * bh) + al * bl;
}
// floor(a / b) as the interpreter computes it (in float64, then rounded). The float32
// quotient can round up to an integer (1 / 0.33333334 is 3.0); the exact remainder
// a - q*b, through Dekker's product, says whether q is one too large or small. Exact where
// |a / b| < 2^24 and 2^-60 <= |b| <= 2^100; elsewhere floor of the float32 quotient.
fn tsr_floordivf(a: f32, b: f32) -> f32 {
  var q = floor(tsr_fdiv(a, b));
  if (!(abs(q) < 16777216.0 && abs(b) >= 8.7e-19 && abs(b) <= 1.2e30)) { return q; }
  for (var k = 0; k < 2; k = k + 1) {
    let p = q * b;
    let r = (a - p) - tsr_mul_err(q, b, p);
    if (r != 0.0 && (r < 0.0) != (b < 0.0)) { q = q - 1.0; } else if (abs(r) >= abs(b)) { q = q + 1.0; }
  }
  return q;
}
// a - floor(a / b) * b with the remainder computed exactly and rounded once, as the
// interpreter's float64 does, in the range where tsr_floordivf is exact.
fn tsr_floormodf(a: f32, b: f32) -> f32 {
  if (b == 0.0) { return bitcast<f32>(0x7fc00000u); }
  let q = tsr_floordivf(a, b);
  if (!(abs(q) < 16777216.0 && abs(b) >= 8.7e-19 && abs(b) <= 1.2e30)) { return a - q * b; }
  let p = q * b;
  return (a - p) - tsr_mul_err(q, b, p);
}
`;

/** The helper functions `body` calls, and the ones they call, in prelude order. */
export function helpersFor(body: string): string {
  const fns = HELPERS.split(/\n(?=fn )/);
  const name = (f: string) => /^fn (\w+)/.exec(f)![1];
  const need = new Set<string>();
  let text = body;
  for (let changed = true; changed;) {
    changed = false;
    for (const f of fns) {
      if (!need.has(name(f)) && new RegExp(`\\b${name(f)}\\(`).test(text)) {
        need.add(name(f));
        text += f;
        changed = true;
      }
    }
  }
  return fns.filter((f) => need.has(name(f))).join("\n");
}
