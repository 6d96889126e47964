/**
 * The WGSL printer: a flattened `PrimFunc` becomes a `WgslPlan`, one compute shader per root
 * statement (as TVM makes one kernel per root stage), dispatched in order. It shares
 * expression and statement printing with the C printer (`cstyle.ts`) and differs where GPUs
 * differ:
 *
 * - Loops bound to `blockIdx.*` read `workgroup_id`, loops bound to `threadIdx.*` read
 *   `local_invocation_id`; the workgroup size is the largest constant extent bound to each
 *   thread index, and a loop with a smaller extent is guarded. `blockIdx.x` beyond 65535
 *   workgroups folds into y.
 * - As in TVM, every invocation runs the whole shader and a thread-bound loop is its thread
 *   index; a loop nested in another bound to the same index is that same index or an
 *   ordinary loop in each thread, as lib/lower/gpu/threadDependence.ts decides. The
 *   interpreter instead runs thread loops one after another; to keep its meaning, the
 *   shader's uniform skeleton (loops, blockIdx guards, cooperative thread loops, sequences)
 *   is printed as it is, with the barriers lib/lower/gpu/threadSync.ts planned; conditions
 *   that may differ between threads are sunk to the leaves, and a leaf outside any loop
 *   bound to a thread axis the shader uses runs on thread 0 of that axis only (a
 *   reduction's final step after a cross-thread rfactor, say).
 * - Where a buffer lives: at the root, a storage buffer the runtime allocates; inside the
 *   shader, a private array or `var<workgroup>` memory with a slot per thread, as
 *   lib/lower/gpu/threadSlots.ts decides. Arrays inside a shader need constant sizes.
 * - Symbolic sizes come from one uniform struct; bool is stored as one u32 per element.
 *
 * Numerics follow the interpreter where WGSL lets them: int32 wraps, integer division
 * truncates and `floordiv`/`floormod` round toward -inf, `round` is half to even,
 * float-to-int casts follow ToInt32, integer division by zero sets an error flag the
 * runtime turns into a TesseraError (error_flags.ts), division by a literal zero, `pow`'s
 * special cases and signed zeros are the interpreter's, and float `floordiv`/`floormod`
 * correct the float32 quotient with an exact remainder. Differences (README, "Semantics
 * worth knowing"): transcendental functions have WGSL's accuracy (tests allow 1e-4
 * relative), `floordiv`/`floormod` are exact only where |a/b| < 2^24, and `select`
 * evaluates both branches — which cannot change a result,
 * since WGSL defines out-of-bounds reads to return some value instead of faulting and has no
 * traps, and the branch not taken is discarded.
 */
import { simplify } from "../../arith/simplify.ts";
import { TesseraError } from "../../error.ts";
import { type DType, isFloat, isInt } from "../../ir/dtype.ts";
import { Binary, Buffer, Cmp, type Expr, intConst, type Var } from "../../ir/expr.ts";
import type { For, PrimFunc, Stmt } from "../../ir/stmt.ts";
import { freeVars, walkExpr, walkStmt, walkStmtExprs } from "../../ir/visit.ts";
import { markedStage } from "../../lower/profileMarks.ts";
import { evalExact } from "../../arith/exact.ts";
import { CStylePrinter, Names, P, type Printed, shortestFloat } from "../cstyle.ts";
import { allocationHome } from "../../lower/gpu/threadSlots.ts";
import { planBarriers } from "../../lower/gpu/threadSync.ts";
import { vectorLoop, type VectorValue } from "../../lower/gpu/vectorLoop.ts";
import {
  accesses,
  cooperative,
  hasCooperative,
  threadDependent,
} from "../../lower/gpu/threadDependence.ts";
import { FLAG_INT_DIV_ZERO, flagsDecl, raiseFlag, recordCheck, usesFlags } from "./error_flags.ts";
import type { Sizes, WgslBufferSpec, WgslDispatch, WgslPlan } from "./plan.ts";

const MAX_GRID = 65535;
const AXES = ["x", "y", "z"] as const;

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
// a / b, with division by zero spelled out: llvmpipe's compiler folds \`x / 0.0\` with a
// literal (or inlined constant) zero to 0, where IEEE (and the interpreter) give inf or NaN.
fn tsr_fdiv(a: f32, b: f32) -> f32 {
  if (b != 0.0) { return a / b; }
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
function helpersFor(body: string): string {
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

type ThreadTag = `${"blockIdx" | "threadIdx"}.${"x" | "y" | "z"}`;

interface ShaderInfo {
  /** Workgroup size per threadIdx axis (1 when unused). */
  wg: [number, number, number];
  /** Extent bound to each blockIdx axis, or null when unused. */
  grid: Array<Expr | null>;
}

/** Thread loops in `s`: checks them and returns the workgroup size and grid extents. */
function threadInfo(s: Stmt, sizeVars: ReadonlySet<Var>, who: string): ShaderInfo {
  const wg: [number, number, number] = [1, 1, 1];
  const grid: Array<Expr | null> = [null, null, null];
  // `top`: nothing but blockIdx loops, lets and allocations encloses this statement.
  const visit = (x: Stmt, open: Set<string>, top: boolean) => {
    if (x.kind === "for" && x.forKind === "threadBinding") {
      const tag = x.threadTag as ThreadTag;
      if (tag.startsWith("blockIdx") && !top) {
        throw new TesseraError(
          `${who}: loop '${x.loopVar.name}' is bound to ${tag} inside another loop or ` +
            `statement; bind blockIdx only to the outermost loops of a root stage ` +
            `(workgroups run independently and cannot wait for each other)`,
        );
      }
      // A threadIdx loop inside another bound to the same index is that same index (a
      // cooperative fill); a workgroup cannot be inside itself.
      if (open.has(tag) && tag.startsWith("blockIdx")) {
        throw new TesseraError(
          `${who}: '${tag}' is bound by two nested loops ('${x.loopVar.name}' inside another)`,
        );
      }
      const d = AXES.indexOf(tag.slice(-1) as "x");
      if (tag.startsWith("threadIdx")) {
        if (x.extent.kind !== "const") {
          throw new TesseraError(
            `${who}: loop '${x.loopVar.name}' bound to ${tag} has extent ${String(x.extent)}; ` +
              `the workgroup size must be a constant (split it by a constant factor first)`,
          );
        }
        wg[d] = Math.max(wg[d], x.extent.value);
      } else {
        for (const v of freeVars(x.extent)) {
          if (!sizeVars.has(v)) {
            throw new TesseraError(
              `${who}: loop '${x.loopVar.name}' bound to ${tag} has extent ${String(x.extent)}, ` +
                `which depends on loop '${v.name}'; the grid must depend on sizes only`,
            );
          }
        }
        const prev = grid[d];
        grid[d] = prev === null ? x.extent : simplify(new Binary("max", prev, x.extent, "int32"));
      }
      visit(x.body, new Set([...open, tag]), top && tag.startsWith("blockIdx"));
      return;
    }
    if (x.kind === "for") visit(x.body, open, false);
    else if (x.kind === "if") {
      visit(x.then, open, false);
      if (x.otherwise) visit(x.otherwise, open, false);
    } else if (x.kind === "allocate" || x.kind === "let") visit(x.body, open, top);
    else if (x.kind === "seq") x.stmts.forEach((y) => visit(y, open, false));
  };
  visit(s, new Set(), true);
  return { wg, grid };
}

const elemBytes = (t: DType) => (t === "float16" ? 2 : 4);

class WgslPrinter extends CStylePrinter {
  /** Threads per axis in this shader (1: axis unused). */
  private wg: [number, number, number] = [1, 1, 1];
  /** Every loop variable in scope that is a thread index. */
  private readonly threadVars = new Set<Var>();
  /** The loop variable an enclosing loop binds to each threadIdx axis, and that loop. */
  private threadVar: Array<Var | null> = [null, null, null];
  private threadLoop: Array<For | null> = [null, null, null];
  /** Conditions that guard the leaves below (sunk out of the uniform skeleton). */
  private pending: Expr[] = [];
  /** Inside a leaf block: printed as plain code, no guards or barriers of our own. */
  private inLeaf = false;
  /** The array each allocated buffer currently means, where it lives, and its slot. */
  private readonly instances = new Map<
    Buffer,
    { name: string; slot: string | undefined; private: boolean }
  >();
  /** How many times each buffer has been allocated so far (copies get fresh names). */
  private readonly allocCount = new Map<Buffer, number>();
  /** Module-scope declarations, by name (a copied loop allocates the same buffer twice). */
  readonly workgroupVars = new Map<string, string>();
  workgroupBytes = 0;
  /** Each private array the shader declares, with its bytes (checked against a cap). */
  readonly privateArrays: Array<{ name: string; bytes: number }> = [];
  usesF16 = false;
  /** Messages of the index checks printed (shared by a plan's shaders; code k + 1 is k). */
  checks: string[] = [];
  /** The buffer whose index is being printed, for those messages. */
  private loading = "";
  /** The conditions under which the expression being printed is used (select branches). */
  private guards: string[] = [];
  private foldX = false;

  /**
   * `storageName` names the shader's storage bindings; `vectorView(b, lanes)` names a view of
   * the read-only binding `b` as `array<vecN<f32>>`, or says there is none (undefined).
   */
  constructor(
    names: Names,
    private readonly storageName: (b: Buffer) => string | undefined,
    private readonly vectorView: (b: Buffer, lanes: number) => string | undefined = () => undefined,
  ) {
    super(names);
  }

  typeName(t: DType): string {
    if (t === "float16") this.usesF16 = true;
    // int8 and uint8 are i32 values kept in range (`arith`), one word each in storage.
    const name = { float32: "f32", float16: "f16", int32: "i32", int8: "i32", uint8: "i32" }[
      t as string
    ] ?? (t === "bool" ? "bool" : undefined);
    if (name === undefined) throw new Error(`WGSL printer: ${t} (refused by planWgsl)`);
    return name;
  }

  /** int8/uint8 results wrapped back into their range after each i32 operation. */
  override arith(text: string, p: number, t: DType): Printed {
    // Not shifts: a constant operand would make `<< 24u` an overflowing const-expression.
    if (t === "int8") return [`((((${text}) + 128i) & 255i) - 128i)`, P.atom];
    if (t === "uint8") return [`((${text}) & 255i)`, P.atom];
    return [text, p];
  }

  constant(v: number, t: DType): Printed {
    if (t === "bool") return [v ? "true" : "false", P.atom];
    if (t === "int32" || t === "int8" || t === "uint8") {
      if (v === -2147483648) return ["(-2147483647i - 1i)", P.atom];
      return [`${v}i`, v < 0 ? P.unary : P.atom];
    }
    const ty = this.typeName(t);
    if (Number.isNaN(v)) return [`bitcast<f32>(0x7fc00000u)`, P.atom];
    if (!Number.isFinite(v)) {
      return [`bitcast<f32>(${v > 0 ? "0x7f800000u" : "0xff800000u"})`, P.atom];
    }
    const s = Object.is(v, -0) ? "-0.0" : shortestFloat(v, Math.fround);
    const text = t === "float16" ? `${ty}(${s})` : `${s}f`;
    return [text, s.startsWith("-") ? P.unary : P.atom];
  }

  binaryCall(e: Expr & { kind: "binary" }): Printed {
    const { op, a, b, dtype: t } = e;
    const call = (fn: string): Printed => [`${fn}(${this.expr(a)}, ${this.expr(b)})`, P.atom];
    if (t === "int8" || t === "uint8") {
      const r = this.binaryCall(new Binary(op, a, b, "int32"));
      return this.arith(r[0], r[1], t);
    }
    if (t === "int32") {
      const posConst = b.kind === "const" && b.value > 0;
      switch (op) {
        case "div":
          return posConst ? [`${this.operand(a, P.mul)} / ${b.value}i`, P.mul] : call("tsr_div");
        case "mod":
          return call("tsr_mod");
        case "floordiv":
          return call("tsr_floordiv");
        case "floormod":
          return call("tsr_floormod");
        case "min":
          return call("min");
        case "max":
          return call("max");
        case "pow":
          return call("tsr_powi");
      }
    }
    const f32 = (r: Printed): Printed => t === "float16" ? [`f16(${r[0]})`, P.atom] : r;
    const arg = (x: Expr) => t === "float16" ? `f32(${this.expr(x)})` : this.expr(x);
    switch (op) {
      case "div":
        if (b.kind === "const" && b.value === 0) {
          return f32([`tsr_fdiv(${arg(a)}, ${arg(b)})`, P.atom]);
        }
        return [`${this.operand(a, P.mul)} / ${this.operand(b, P.mul + 1)}`, P.mul];
      case "min":
        return f32([`tsr_minf(${arg(a)}, ${arg(b)})`, P.atom]);
      case "max":
        return f32([`tsr_maxf(${arg(a)}, ${arg(b)})`, P.atom]);
      case "floordiv":
        return f32([`tsr_floordivf(${arg(a)}, ${arg(b)})`, P.atom]);
      case "floormod":
        return f32([`tsr_floormodf(${arg(a)}, ${arg(b)})`, P.atom]);
      case "pow":
        return f32([`tsr_powf(${arg(a)}, ${arg(b)})`, P.atom]);
      default:
        throw new Error(`WGSL printer: float ${op}`);
    }
  }

  call(e: Expr & { kind: "call" }): Printed {
    const x = e.args[0], t = e.dtype;
    if (e.op === "checkIndex") {
      const [index, extent, dim] = e.args;
      const what = `out-of-bounds load from '${this.loading}': index ${
        dim.kind === "const" ? dim.value : "?"
      } outside [0, ${String(extent)}), the declared shape of '${this.loading}' in that dimension`;
      let code = this.checks.indexOf(what) + 1;
      if (code === 0) code = this.checks.push(what);
      // Code 0 records nothing: the check is under a select branch that was not taken.
      const live = this.guards.length
        ? `select(0u, ${code}u, ${this.guards.join(" && ")})`
        : `${code}u`;
      return [`tsr_check(${this.expr(index)}, ${this.expr(extent)}, ${live})`, P.atom];
    }
    if (e.op === "isnan" || e.op === "isinf") return [`tsr_${e.op}(f32(${this.expr(x)}))`, P.atom];
    if (e.op === "atan2") {
      const r = `tsr_atan2(f32(${this.expr(x)}), f32(${this.expr(e.args[1])}))`;
      return [t === "float16" ? `f16(${r})` : r, P.atom];
    }
    if (isInt(t)) {
      if (e.op === "abs") {
        return this.arith(
          `select(${this.operand(x, P.unary)}, -${this.operand(x, P.unary)}, ${
            this.operand(x, P.rel)
          } < 0)`,
          P.atom,
          t,
        );
      }
      if (e.op === "floor" || e.op === "ceil" || e.op === "round") return this.ex(x);
    }
    const fn: Record<string, string> = {
      exp: "exp",
      log: "log",
      sqrt: "sqrt",
      rsqrt: "inverseSqrt",
      tanh: "tsr_tanh",
      sigmoid: "tsr_sigmoid",
      abs: "abs",
      floor: "floor",
      ceil: "ceil",
      round: "round", // WGSL rounds half to even
      erf: "tsr_erf",
      sin: "tsr_sin",
      cos: "tsr_cos",
      tan: "tsr_tan",
      atan: "tsr_atan",
      exp2: "tsr_exp2",
      log2: "tsr_log2",
      log1p: "tsr_log1p",
      expm1: "tsr_expm1",
      sinh: "tsr_sinh",
      cosh: "tsr_cosh",
    };
    const name = fn[e.op];
    if (t === "float16" && name.startsWith("tsr_")) {
      return [`f16(${name}(f32(${this.expr(x)})))`, P.atom];
    }
    return [`${name}(${this.expr(x)})`, P.atom];
  }

  cast(e: Expr & { kind: "cast" }): Printed {
    const from = e.value.dtype, to = e.dtype;
    if (from === to) return this.ex(e.value);
    if (to === "bool") {
      if (isFloat(from)) return [`tsr_ne(f32(${this.expr(e.value)}), 0.0)`, P.atom];
      return [`(${this.operand(e.value, P.eq)} != ${this.constant(0, from)[0]})`, P.atom];
    }
    if (isInt(to) && isFloat(from)) {
      return this.arith(`tsr_to_i32(f32(${this.expr(e.value)}))`, P.atom, to);
    }
    // Between int types: all are i32 here; a narrower one wraps.
    if (isInt(to) && isInt(from)) return this.arith(this.expr(e.value), P.atom, to);
    if (from === "bool") {
      return [
        `select(${this.constant(0, to)[0]}, ${this.constant(1, to)[0]}, ${this.expr(e.value)})`,
        P.atom,
      ];
    }
    return [`${this.typeName(to)}(${this.expr(e.value)})`, P.atom];
  }

  /**
   * Float comparisons go through helpers that test NaN by its bits: a shader compiler may
   * assume no NaNs and compare as if ordered (NVIDIA's gave NaN != 1 as false).
   */
  override compare(e: Expr & { kind: "cmp" }): Printed {
    if (!isFloat(e.a.dtype)) return super.compare(e);
    const f = (x: Expr) => (x.dtype === "float32" ? this.expr(x) : `f32(${this.expr(x)})`);
    return [`tsr_${e.op}(${f(e.a)}, ${f(e.b)})`, P.atom];
  }

  select(e: Expr & { kind: "select" }): Printed {
    // WGSL's select evaluates both branches: an index check in the branch not taken must
    // not record a failure (the interpreter and C never evaluate that branch).
    const c = this.expr(e.cond);
    const branch = (x: Expr, live: string) => {
      this.guards.push(live);
      try {
        return this.expr(x);
      } finally {
        this.guards.pop();
      }
    };
    return [`select(${branch(e.f, `!(${c})`)}, ${branch(e.t, `(${c})`)}, ${c})`, P.atom];
  }

  load(e: Expr & { kind: "bufferLoad" }): Printed {
    const root = e.buffer.aliasOf ?? e.buffer;
    const outer = this.loading;
    this.loading = root.name;
    const text = `${this.bufName(root)}[${this.index(root, e.indices[0])}]`;
    this.loading = outer;
    if (root.dtype === "bool" && this.storageName(root) !== undefined) {
      return [`(${text} != 0u)`, P.atom];
    }
    return [text, P.atom];
  }

  store(s: Stmt & { kind: "store" }): void {
    const root = s.buffer.aliasOf ?? s.buffer;
    let v = this.expr(s.value);
    if (root.dtype === "bool" && this.storageName(root) !== undefined) v = `select(0u, 1u, ${v})`;
    const line = `${this.bufName(root)}[${this.index(root, s.indices[0])}] = ${v};`;
    this.leaf(() => this.emit(line));
  }

  letStmt(s: Stmt & { kind: "let" }): void {
    this.emit("{");
    this.depth++;
    this.emit(`let ${this.names.of(s.v)}: ${this.typeName(s.v.dtype)} = ${this.expr(s.value)};`);
    this.stmt(s.body);
    this.depth--;
    this.emit("}");
  }

  externCall(s: Stmt & { kind: "extern" }): void {
    // lib/codegen/wgsl/target.ts refuses these before printing; this is the backstop.
    throw new TesseraError(`extern stage '${s.impl.stage}': extern calls run on the C target only`);
  }

  /** A barrier the planning placed (threadSync.ts); one it did not need prints nothing. */
  barrier(s: Stmt & { kind: "barrier" }): void {
    if (!s.memory) return;
    const text = [
      s.memory.storage ? "storageBarrier();" : "",
      s.memory.workgroup ? "workgroupBarrier();" : "",
    ].filter(Boolean).join(" ");
    this.emit(text);
  }

  get multiThread(): boolean {
    return this.wg.some((n) => n > 1);
  }

  /** In the uniform part of a multi-thread shader, where barriers may go. */
  private get skeleton(): boolean {
    return this.multiThread && !this.inLeaf;
  }

  /**
   * Prints a subtree without thread loops so that it runs as in the interpreter: only where
   * the sunk conditions hold, and once per thread index it does not use (on thread 0 of every
   * axis the shader uses but no enclosing loop binds).
   */
  private leaf(print: () => void): void {
    if (!this.skeleton) return print();
    const conds = this.pending.map((c) => this.operand(c, P.and));
    for (let d = 0; d < 3; d++) {
      if (this.wg[d] > 1 && this.threadVar[d] === null) conds.push(`lid.${AXES[d]} == 0u`);
    }
    if (conds.length) {
      this.emit(`if (${conds.join(" && ")}) {`);
      this.depth++;
    }
    this.inLeaf = true;
    print();
    this.inLeaf = false;
    if (conds.length) {
      this.depth--;
      this.emit("}");
    }
  }

  /**
   * The skeleton of a multi-thread shader is uniform control flow: loops whose bounds no
   * thread index changes, blockIdx guards, and sequences with a barrier after each step that
   * writes memory. Conditions that may differ between threads are sunk to the leaves.
   */
  override stmt(s: Stmt): void {
    if (!this.skeleton) return super.stmt(s);
    switch (s.kind) {
      case "seq":
        for (const x of s.stmts) this.stmt(x);
        return;
      case "if": {
        if (!this.hasCooperative(s)) return this.leaf(() => super.stmt(s));
        if (s.otherwise) return super.stmt(s); // rare: no guard sinking through an else
        this.pending.push(s.cond);
        this.stmt(s.then);
        this.pending.pop();
        return;
      }
      default:
        super.stmt(s);
    }
  }

  forLoop(s: For): void {
    if (s.forKind === "vectorized") {
      const vec = this.vectorized(s);
      if (vec) {
        return this.skeleton
          ? this.leaf(() => vec.forEach((l) => this.emit(l)))
          : vec.forEach((l) => this.emit(l));
      }
    }
    const v = this.names.of(s.loopVar);
    const hi = s.min.kind === "const" && s.min.value === 0
      ? s.extent
      : simplify(new Binary("add", s.min, s.extent, "int32"));
    if (s.forKind === "threadBinding" && s.threadTag && !this.inLeaf && this.cooperative(s)) {
      const d = AXES.indexOf(s.threadTag.slice(-1) as "x");
      const block = s.threadTag.startsWith("blockIdx");
      const base = block
        ? (d === 0 && this.foldX ? "(wid.x + wid.y * nwg.x)" : `wid.${AXES[d]}`)
        : `lid.${AXES[d]}`;
      const idx = s.min.kind === "const" && s.min.value === 0
        ? `i32(${base})`
        : `i32(${base}) + ${this.operand(s.min, P.add)}`;
      this.emit("{");
      this.depth++;
      this.emit(`let ${v}: i32 = ${idx};`);
      if (block) {
        // Workgroup ids are uniform: a real branch, inside which barriers are allowed.
        this.emit(`if (${v} < ${this.expr(hi)}) {`);
        this.block(s.body);
        this.emit("}");
      } else {
        const savedPending = this.pending, savedVar = this.threadVar[d];
        const savedLoop = this.threadLoop[d];
        // A loop nested in another bound to the same index is the same hardware index (as in
        // TVM): thread t runs iteration t of the inner loop. In the interpreter the inner loop
        // ran in full for every valid outer index, so the outer loop's guards do not apply.
        if (savedVar) this.pending = this.pending.filter((c) => !freeVars(c).has(savedVar));
        if (!(s.extent.kind === "const" && s.extent.value === this.wg[d])) {
          this.pending = [...this.pending, new Cmp("lt", s.loopVar, hi)];
        }
        this.threadVar[d] = s.loopVar;
        this.threadLoop[d] = s;
        this.threadVars.add(s.loopVar);
        this.stmt(s.body);
        this.threadVars.delete(s.loopVar);
        this.threadVar[d] = savedVar;
        this.threadLoop[d] = savedLoop;
        this.pending = savedPending;
      }
      this.depth--;
      this.emit("}");
      return;
    }
    // A loop without thread loops inside, or one whose bounds differ between threads (no
    // barrier may sit in it), runs whole in each thread that needs it.
    if (this.skeleton && (!this.hasCooperative(s) || this.threadDependent(s))) {
      return this.leaf(() => this.plainLoop(s, v, hi));
    }
    this.plainLoop(s, v, hi);
  }

  /**
   * A vectorized loop as one `vecN<f32>` value and N stores, where lib/lower/gpu/vectorLoop.ts
   * found its vector form; null prints it as scalar code. An aligned load reads through a
   * vector view of its binding where `vectorView` has one.
   */
  private vectorized(s: For): string[] | null {
    const plan = vectorLoop(s);
    if (plan === null) return null;
    const n = plan.lanes, ty = `vec${n}<f32>`;
    const lanes = (loads: readonly Expr[]) => `${ty}(${loads.map((l) => this.expr(l)).join(", ")})`;
    const go = (x: VectorValue): string => {
      switch (x.kind) {
        case "splat":
          return `${ty}(${this.expr(x.value)})`;
        case "aligned": {
          const view = this.vectorView(x.buffer, n);
          return view !== undefined ? `${view}[${this.expr(x.word)}]` : lanes(x.loads);
        }
        case "lanes":
          return lanes(x.loads);
        case "binary": {
          const a = go(x.a), b = go(x.b);
          return x.op === "min" || x.op === "max"
            ? `tsr_${x.op}v${n}(${a}, ${b})`
            : `(${a} ${x.op} ${b})`;
        }
        case "neg":
          return `(-${go(x.a)})`;
        case "call":
          return `${x.fn}(${go(x.a)})`;
      }
    };
    const out = ["{", `  let tsr_vec: ${ty} = ${go(plan.value)};`];
    plan.indices.forEach((i, k) => {
      out.push(`  ${this.bufName(plan.buffer)}[${this.index(plan.buffer, i)}] = tsr_vec[${k}];`);
    });
    out.push("}");
    return out;
  }

  /** Whether a thread-bound loop runs as a thread index here (threadDependence.ts). */
  private cooperative(s: For): boolean {
    return cooperative(s, this.threadLoop);
  }

  private threadDependent(s: For): boolean {
    return threadDependent(s, this.threadVars);
  }

  private hasCooperative(s: Stmt): boolean {
    return hasCooperative(s, this.threadLoop);
  }

  private plainLoop(s: For, v: string, hi: Expr): void {
    this.emit(
      `for (var ${v}: i32 = ${this.expr(s.min)}; ${v} < ${this.expr(hi)}; ${v} = ${v} + 1) {`,
    );
    this.block(s.body);
    this.emit("}");
  }

  allocate(s: Stmt & { kind: "allocate" }): void {
    const b = s.buffer;
    const size = simplify(
      b.shape.reduce((a: Expr, d) => new Binary("mul", a, d, "int32"), intConst(1)),
    );
    if (size.kind !== "const") {
      throw new TesseraError(
        `'${b.name}' is allocated inside a GPU kernel with size ${String(size)}; arrays in a ` +
          `shader need a constant size (compute it at the root, or split by a constant first)`,
      );
    }
    const n = Math.max(1, size.value);
    const ty = this.typeName(b.dtype);
    // Each allocation is its own array, even of the same buffer (a loop copied by unrolling
    // or partitioning allocates it again, and the copies may need different homes).
    const seen = this.allocCount.get(b) ?? 0;
    this.allocCount.set(b, seen + 1);
    const name = seen === 0
      ? this.names.of(b)
      : this.names.of(new Buffer(b.name, b.dtype, b.shape, b.scope));
    // Which copy of it a thread uses, and where it lives (threadSlots.ts).
    const home = allocationHome(s, {
      wg: this.wg,
      threadVar: this.threadVar,
      threadLoop: this.threadLoop,
      skeleton: this.skeleton,
    });
    const saved = this.instances.get(b);
    let slot: string | undefined;
    const priv = home.private;
    if (priv) {
      this.emit("{");
      this.depth++;
      this.emit(`var ${name}: array<${ty}, ${n}>;`);
      this.privateArrays.push({ name: b.name, bytes: n * elemBytes(b.dtype) });
    } else {
      let copies = 1;
      const parts: string[] = [];
      for (const d of home.slotAxes) {
        parts.push(`i32(lid.${AXES[d]}) * ${n * copies}i`);
        copies *= this.wg[d];
      }
      if (parts.length) slot = parts.join(" + ");
      this.workgroupVars.set(name, `var<workgroup> ${name}: array<${ty}, ${n * home.copies}>;`);
      this.workgroupBytes += n * home.copies * elemBytes(b.dtype);
    }
    this.instances.set(b, { name, slot, private: priv });
    this.stmt(s.body);
    if (saved) this.instances.set(b, saved);
    else this.instances.delete(b);
    if (priv) {
      this.depth--;
      this.emit("}");
    }
  }

  /** The name of `b` here: the array of its innermost allocation, or its binding. */
  private bufName(b: Buffer): string {
    return this.instances.get(b)?.name ?? this.names.of(b);
  }

  /** The index into `b`, with its per-thread slot when it has one. */
  private index(b: Buffer, i: Expr): string {
    const slot = this.instances.get(b)?.slot;
    return slot ? `${slot} + ${this.operand(i, P.add + 1)}` : this.expr(i);
  }

  /** Prints one root statement as a shader body. */
  shader(s: Stmt, info: ShaderInfo, sizeDecls: string[]): string {
    this.wg = info.wg;
    this.threadVar = [null, null, null];
    this.threadLoop = [null, null, null];
    this.foldX = info.grid[0] !== null && info.grid[1] === null;
    this.depth = 1;
    for (const d of sizeDecls) this.emit(d);
    this.stmt(s);
    return this.lines.join("\n");
  }
}

/** Turns a flattened function into dispatches over storage buffers. */
export function planWgsl(f: PrimFunc): WgslPlan {
  const who = `kernel ${f.name} (webgpu)`;
  refuse64Bit(f, who);
  const buffers: WgslBufferSpec[] = [];
  const index = new Map<Buffer, number>();
  const sizeOf = (b: Buffer) => {
    const e = simplify(
      b.shape.reduce((a: Expr, d) => new Binary("mul", a, d, "int32"), intConst(1)),
    );
    return (sizes: Sizes) => {
      const v = evalExact(e, sizes);
      if (v === null) {
        throw new TesseraError(`${who}: cannot size buffer '${b.name}' (${String(e)})`);
      }
      return v;
    };
  };
  f.params.forEach((p, i) => {
    index.set(p, buffers.length);
    buffers.push({
      name: p.name,
      dtype: p.dtype,
      elements: sizeOf(p),
      param: i,
      written: f.outputs.includes(p),
    });
  });
  // Root allocations become storage buffers the runtime allocates; what is left is a
  // sequence of root statements, one shader each.
  let body: Stmt = f.body;
  const roots: Stmt[] = [];
  const stageOf = new Map<Stmt, string>();
  let marked: string | null = null;
  const peel = (s: Stmt) => {
    const stage = s.kind === "for" ? markedStage(s) : null;
    if (s.kind === "for" && stage !== null) {
      // A profiling mark runs once: its body's statements are dispatches of that stage.
      marked = stage;
      peel(s.body);
      marked = null;
      return;
    }
    if (s.kind === "allocate") {
      index.set(s.buffer, buffers.length);
      buffers.push({
        name: s.buffer.name,
        dtype: s.buffer.dtype,
        elements: sizeOf(s.buffer),
        param: null,
        written: true,
      });
      peel(s.body);
    } else if (s.kind === "seq") s.stmts.forEach(peel);
    else {
      roots.push(s);
      if (marked !== null) stageOf.set(s, marked);
    }
  };
  peel(body);
  body = f.body;

  const sizeVars = new Set(f.sizeVars);
  // Sizes and scalar arguments reach the shaders as the fields of one uniform.
  const uniformVars = [...f.sizeVars, ...f.scalars];
  const checks: string[] = [];
  const dispatches: WgslDispatch[] = roots.map((root, k) => {
    const info = threadInfo(root, sizeVars, who);
    const names = new Names();
    const { reads, writes } = accesses(root);
    // A buffer allocated inside this statement is the shader's own array, even when a copy
    // of a loop (partitioning) also allocates it at the root.
    const inner = new Set<Buffer>();
    walkStmt(root, (x) => {
      if (x.kind === "allocate") inner.add(x.buffer);
    });
    const used = [...new Set([...reads, ...writes])].filter((b) => index.has(b) && !inner.has(b));
    const storage = new Map(used.map((b) => [b, names.of(b)]));
    // Vector views of read-only float32 bindings, made as the printer asks for them, within
    // the 8 storage buffers every WebGPU adapter allows a shader.
    const views: Array<{ b: Buffer; lanes: 2 | 4; name: string }> = [];
    // One binding stays free for the error flags where an integer division or an index
    // check may need it.
    const room = mayRaise(root) ? 7 : 8;
    const vectorView = (b: Buffer, lanes: number) => {
      if (!storage.has(b) || writes.has(b) || b.dtype !== "float32") return undefined;
      const had = views.find((x) => x.b === b && x.lanes === lanes);
      if (had) return had.name;
      if (used.length + views.length >= room || (lanes !== 2 && lanes !== 4)) return undefined;
      const name = names.fresh(`${storage.get(b)}_v${lanes}`);
      views.push({ b, lanes, name });
      return name;
    };
    const p = new WgslPrinter(names, (b) => storage.get(b), vectorView);
    p.checks = checks;
    const sizeDecls = uniformVars.map((v) =>
      `let ${names.of(v)}: ${p.typeName(v.dtype)} = tsr_sizes.${names.of(v)};`
    );
    // Barriers are planned first (threadSync.ts); the printer prints them where they are.
    const synced = planBarriers(root, info.wg, (b) => storage.has(b));
    const text = p.shader(synced, info, sizeDecls);
    const bindings: WgslDispatch["bindings"] = [
      ...used.map((b) => ({
        buffer: index.get(b)!,
        access: writes.has(b) ? "read_write" as const : "read" as const,
      })),
      ...views.map((v) => ({ buffer: index.get(v.b)!, access: "read" as const })),
    ];
    const decl: string[] = [];
    if (p.usesF16 || used.some((b) => b.dtype === "float16")) decl.push("enable f16;");
    used.forEach((b, i) => {
      const elem = b.dtype === "bool" ? "u32" : p.typeName(b.dtype);
      const acc = writes.has(b) ? "read_write" : "read";
      decl.push(`@group(0) @binding(${i}) var<storage, ${acc}> ${storage.get(b)}: array<${elem}>;`);
    });
    views.forEach((v, i) => {
      decl.push(
        `@group(0) @binding(${used.length + i}) var<storage, read> ${v.name}: ` +
          `array<vec${v.lanes}<f32>>;`,
      );
    });
    if (uniformVars.length) {
      const fields = uniformVars.map((v) => `${names.of(v)}: ${p.typeName(v.dtype)},`);
      decl.push(`struct TsrSizes { ${fields.join(" ")} }`);
      decl.push(`@group(0) @binding(${bindings.length}) var<uniform> tsr_sizes: TsrSizes;`);
    }
    const helpers = helpersFor(text);
    const errorFlags = usesFlags(helpers);
    if (errorFlags) decl.push(flagsDecl(bindings.length + (uniformVars.length ? 1 : 0)));
    decl.push(...p.workgroupVars.values());
    const [wx, wy, wz] = info.wg;
    const source = [
      `// ${f.name.replace(/[^A-Za-z0-9_]/g, "_")}, dispatch ${
        k + 1
      } of ${roots.length}: generated by Tessera from the loop IR`,
      ...decl,
      "",
      helpers,
      `@compute @workgroup_size(${wx}, ${wy}, ${wz})`,
      "fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, " +
      "@builtin(num_workgroups) nwg: vec3<u32>) {",
      text,
      "}",
      "",
    ].join("\n");
    const gridExprs = info.grid;
    const foldX = gridExprs[0] !== null && gridExprs[1] === null;
    const grid = (sizes: Sizes): [number, number, number] => {
      const g = gridExprs.map((e) => {
        if (e === null) return 1;
        const v = evalExact(e, sizes);
        if (v === null) {
          throw new TesseraError(`${who}: cannot evaluate the grid extent ${String(e)}`);
        }
        return Math.max(0, v);
      });
      if (foldX && g[0] > MAX_GRID) return [MAX_GRID, Math.ceil(g[0] / MAX_GRID), g[2]];
      return [g[0], g[1], g[2]];
    };
    const profiled = stageOf.get(root);
    return {
      ...(profiled !== undefined ? { profiled } : {}),
      name: describeRoot(root),
      source,
      workgroupSize: info.wg,
      grid,
      bindings,
      workgroupStorageBytes: p.workgroupBytes,
      privateArrays: p.privateArrays,
      usesF16: p.usesF16,
      errorFlags,
    };
  });
  return { name: f.name, buffers, dispatches, sizeVars: uniformVars, checks };
}

/**
 * int64 and float64 are refused before anything reaches the GPU: WGSL has no 64-bit types.
 * The message names the tensor or the expression that has one.
 */
function refuse64Bit(f: PrimFunc, who: string): void {
  const wide = (t: DType) => t === "int64" || t === "float64";
  const why = (t: DType) =>
    `WGSL has no 64-bit integer or float type; cast it to ${
      t === "int64" ? "int32" : "float32"
    } in the computation, or use the "c" target`;
  for (const p of f.params) {
    if (wide(p.dtype)) {
      throw new TesseraError(`${who}: tensor '${p.name}' is ${p.dtype}: ${why(p.dtype)}`);
    }
  }
  walkStmt(f.body, (s) => {
    if (s.kind === "allocate" && wide(s.buffer.dtype)) {
      throw new TesseraError(
        `${who}: stage '${s.buffer.name}' is ${s.buffer.dtype}: ${why(s.buffer.dtype)}`,
      );
    }
  });
  walkStmtExprs(f.body, (e) =>
    walkExpr(e, (x) => {
      if (wide(x.dtype)) {
        throw new TesseraError(`${who}: ${String(x)} is ${x.dtype}: ${why(x.dtype)}`);
      }
    }));
}

/** Whether `s` divides int32 values or checks an index (its helpers may set error flags). */
function mayRaise(s: Stmt): boolean {
  let found = false;
  walkStmtExprs(s, (e) =>
    walkExpr(e, (x) => {
      if (x.kind === "binary" && isInt(x.dtype) && /div|mod/.test(x.op)) found = true;
      if (x.kind === "call" && x.op === "checkIndex") found = true;
    }));
  return found;
}

/** A name for a root statement in messages: the buffers it writes. */
function describeRoot(s: Stmt): string {
  const { writes } = accesses(s);
  return `writing ${[...writes].map((b) => b.name).join(", ") || "nothing"}`;
}
