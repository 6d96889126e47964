/**
 * The WGSL printer: one root statement of a flattened `PrimFunc` as the body of a compute
 * shader (dispatches.ts plans the dispatches and their bindings). It shares expression and
 * statement printing with the C printer (`cstyle.ts`) and prints what the passes of
 * lib/lower/gpu decided:
 *
 * - A thread-bound loop is its thread index (`workgroup_id`, `local_invocation_id`) where
 *   threadDependence.ts found it one, else an ordinary loop. The shader's uniform skeleton
 *   (loops, blockIdx guards, thread indices, sequences) is printed as it is, with the
 *   barriers threadSync.ts planned; each leaf it marked runs under the guard it gave (the
 *   conditions sunk to it, thread 0 of the axes no enclosing loop binds).
 * - A buffer allocated in the shader is a private array or `var<workgroup>` memory with a
 *   slot per thread, as threadSlots.ts decides. Arrays inside a shader need constant sizes.
 * - A vectorized loop is one `vecN<f32>` value where vectorLoop.ts found its vector form.
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
import { Binary, Buffer, type Expr, intConst } from "../../ir/expr.ts";
import { type For, seq, type Stmt } from "../../ir/stmt.ts";
import { CStylePrinter, Names, P, type Printed, shortestFloat } from "../cstyle.ts";
import type { VectorLoop, VectorValue } from "../../lower/gpu/vectorLoop.ts";
import type { SyncedShader } from "../../lower/gpu/threadSync.ts";

export interface ShaderInfo {
  /** Workgroup size per threadIdx axis (1 when unused). */
  wg: [number, number, number];
  /** Extent bound to each blockIdx axis, or null when unused. */
  grid: Array<Expr | null>;
}

const AXES = ["x", "y", "z"] as const;

const elemBytes = (t: DType) => (t === "float16" ? 2 : 4);

export class WgslPrinter extends CStylePrinter {
  /** Threads per axis in this shader (1: axis unused). */
  private wg: [number, number, number] = [1, 1, 1];
  /** The vectorized loops that are one vector value (vectorLoop.ts). */
  private vectors: ReadonlyMap<For, VectorLoop> = new Map();
  /** What barrier planning decided for this shader (threadSync.ts): leaves, indices, homes. */
  private plan: SyncedShader = {
    body: seq([]),
    leaves: new Map(),
    indices: new Set(),
    homes: new Map(),
  };
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
        // Only a nonzero constant divisor is divided plainly: llvmpipe folds a division by
        // a literal zero, and one of a zero numerator (x - x) by a run-time zero, to 0, where
        // IEEE (and the interpreter) give inf or NaN (the WGSL property test found the latter).
        if (b.kind !== "const" || b.value === 0 || !Number.isFinite(b.value)) {
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
          // P.unary + 1: a negated operand is parenthesized (`--x` does not parse in WGSL).
          `select(${this.operand(x, P.unary)}, -${this.operand(x, P.unary + 1)}, ${
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
    this.leaf(s, () => this.emit(line));
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
  private leaf(s: Stmt, print: () => void): void {
    if (!this.skeleton) return print();
    const guard = this.plan.leaves.get(s)!;
    const conds = guard.conds.map((c) => this.operand(c, P.and));
    for (const d of guard.firstThread) conds.push(`lid.${AXES[d]} == 0u`);
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
        if (this.plan.leaves.has(s)) return this.leaf(s, () => super.stmt(s));
        if (s.otherwise) return super.stmt(s); // rare: no guard sinking through an else
        // The condition was sunk to the leaves inside (threadSync.ts).
        this.stmt(s.then);
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
          ? this.leaf(s, () => vec.forEach((l) => this.emit(l)))
          : vec.forEach((l) => this.emit(l));
      }
    }
    const v = this.names.of(s.loopVar);
    const hi = s.min.kind === "const" && s.min.value === 0
      ? s.extent
      : simplify(new Binary("add", s.min, s.extent, "int32"));
    if (s.forKind === "threadBinding" && s.threadTag && !this.inLeaf && this.plan.indices.has(s)) {
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
        // Thread t runs iteration t; the guards that keep the others out are at the leaves.
        this.stmt(s.body);
      }
      this.depth--;
      this.emit("}");
      return;
    }
    // A loop without thread loops inside, or one whose bounds differ between threads (no
    // barrier may sit in it), runs whole in each thread that needs it.
    if (this.skeleton && this.plan.leaves.has(s)) {
      return this.leaf(s, () => this.plainLoop(s, v, hi));
    }
    this.plainLoop(s, v, hi);
  }

  /**
   * A vectorized loop as one `vecN<f32>` value and N stores, where lib/lower/gpu/vectorLoop.ts
   * found its vector form; null prints it as scalar code. An aligned load reads through a
   * vector view of its binding where `vectorView` has one.
   */
  private vectorized(s: For): string[] | null {
    const plan = this.vectors.get(s);
    if (plan === undefined) return null;
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
    const home = this.plan.homes.get(s) ?? { private: true, slotAxes: [], copies: 1 };
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
  shader(
    plan: SyncedShader,
    vectors: ReadonlyMap<For, VectorLoop>,
    info: ShaderInfo,
    sizeDecls: string[],
  ): string {
    this.plan = plan;
    this.vectors = vectors;
    this.wg = info.wg;
    this.foldX = info.grid[0] !== null && info.grid[1] === null;
    this.depth = 1;
    for (const d of sizeDecls) this.emit(d);
    this.stmt(plan.body);
    return this.lines.join("\n");
  }
}
