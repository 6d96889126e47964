/**
 * The reference interpreter: the definition of what a loop-IR program means. Every backend
 * and every schedule transformation is tested against it, so it favours being strict and
 * plain over being clever: all arithmetic goes through `scalar.ts` (bit-for-bit the same as
 * the constant folder), every buffer access is bounds-checked, fresh allocations are filled
 * with poison, and anything left over from an earlier stage (tensor reads, reductions,
 * variables used outside their scope) is an error. To be usable on real sizes it compiles
 * the IR once into JavaScript closures over a flat slot array for variables and then runs
 * those, instead of walking the tree on every iteration.
 *
 * int64 values are BigInts (scalar.ts), carried by the same closures as every other value
 * (typed as numbers, so that the int32 and float32 paths stay plain number arithmetic). The
 * IR is typed, so a BigInt only ever reaches an int64 consumer: int64 arithmetic, a
 * comparison of int64s, a cast from int64, a select, a let, or a store to an int64 buffer.
 *
 * A buffer with `aliasOf` (a flat view made by storage flattening) has no storage of its own:
 * it reads and writes the storage of the buffer it aliases (a parameter's array or an
 * allocation in scope), bounds-checked against its own shape.
 *
 * All loops run serially in order, whatever their kind. For thread-bound loops this means
 * each stage's threads run to completion before the next stage's loop starts, which is
 * exactly what a barrier between the stages guarantees on a GPU; so a program that is
 * correct on the GPU gives the same result here (a missing barrier is not detected).
 */
import { TesseraError } from "../error.ts";
import { arraysOf, bindArguments } from "../runtime/args.ts";
import { bitsToF16, f16ToBits, NDArray } from "../runtime/ndarray.ts";
import type { DType } from "./dtype.ts";
import { type Buffer, type Expr, intConst, type Var } from "./expr.ts";
import { evalBinary, evalBinary64, evalCall, evalCast, evalCmp, fit } from "./scalar.ts";
import type { PrimFunc, Stmt } from "./stmt.ts";

/** Storage; a BigInt64Array (int64) passes as one of these: see the header. */
type Mem = Float32Array | Int32Array | Uint8Array | Float16Array | Int8Array | Float64Array;
type NumFn = () => number;
type BigFn = () => bigint;
const asNum = (f: BigFn): NumFn => f as unknown as NumFn;
const asBig = (f: NumFn): BigFn => f as unknown as BigFn;
type Run = () => void;

/** Runtime state of one buffer: its storage and its evaluated shape and strides. */
interface BufState {
  data: Mem;
  shape: number[];
  strides: number[];
}

/**
 * Poison for fresh allocations: NaN for floats, and for int32 and bool a value no correct
 * program computes by accident, so that reading an element nobody wrote shows up in a test
 * instead of silently reading 0.
 */
export const INT32_POISON = 0x7eadbeef;

/** The largest temporary the interpreter makes (4 GiB of float32); see the allocation. */
export const MAX_TEMP_ELEMENTS = 2 ** 30;
export const BOOL_POISON = 0xaa;
export const INT8_POISON = -0x56;
export const INT64_POISON = 0x7eadbeef7eadbeefn;

function allocMem(dtype: DType, n: number): Mem {
  switch (dtype) {
    case "float32":
      return new Float32Array(n).fill(NaN);
    case "float16": {
      // Values are kept rounded to half precision by `fit`, so float32 storage is exact
      // when the platform has no Float16Array.
      const F16 = (globalThis as { Float16Array?: typeof Float16Array }).Float16Array;
      return F16 ? new F16(n).fill(NaN) : new Float32Array(n).fill(NaN);
    }
    case "int32":
      return new Int32Array(n).fill(INT32_POISON);
    case "float64":
      return new Float64Array(n).fill(NaN);
    case "int8":
      return new Int8Array(n).fill(INT8_POISON);
    case "uint8":
      return new Uint8Array(n).fill(BOOL_POISON);
    case "int64":
      return new BigInt64Array(n).fill(INT64_POISON) as unknown as Mem;
    case "bool":
      return new Uint8Array(n).fill(BOOL_POISON);
  }
}

const rowMajor = (shape: number[]): number[] => {
  const st = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    st[d] = s;
    s *= shape[d];
  }
  return st;
};

/** Elements a buffer needs: one past the largest offset reachable inside its shape. */
function extentOf(shape: number[], strides: number[]): number {
  if (shape.some((d) => d === 0)) return 0;
  let last = 0;
  for (let d = 0; d < shape.length; d++) last += (shape[d] - 1) * strides[d];
  return last + 1;
}

class Compiler {
  readonly slots = new Map<Var, number>();
  readonly env: Float64Array;
  /** int64 variables (lets), by the same slots. */
  readonly bigEnv: bigint[] = [];
  /** How many enclosing scopes bind each variable (0: not bound here). */
  private readonly bound = new Map<Var, number>();
  readonly bufSlots = new Map<Buffer, number>();
  readonly bufs: BufState[] = [];
  private readonly live = new Map<Buffer, number>();
  /** Alias views seen in the program, by the buffer whose storage they share. */
  private readonly aliases = new Map<Buffer, Set<Buffer>>();
  /** The buffer whose indices are being compiled, for the message of a failed checkIndex. */
  private loading: Buffer | null = null;

  constructor(readonly fname: string, nslots: number) {
    this.env = new Float64Array(nslots);
  }

  slotOf(v: Var): number {
    let s = this.slots.get(v);
    if (s === undefined) {
      s = this.slots.size;
      this.slots.set(v, s);
    }
    return s;
  }

  bind(v: Var): number {
    this.bound.set(v, (this.bound.get(v) ?? 0) + 1);
    return this.slotOf(v);
  }

  unbind(v: Var): void {
    this.bound.set(v, this.bound.get(v)! - 1);
  }

  bufSlot(b: Buffer): number {
    let s = this.bufSlots.get(b);
    if (s === undefined) {
      s = this.bufs.length;
      this.bufSlots.set(b, s);
      this.bufs.push({ data: new Float32Array(0), shape: [], strides: [] });
    }
    return s;
  }

  openBuffer(b: Buffer): number {
    this.live.set(b, (this.live.get(b) ?? 0) + 1);
    return this.bufSlot(b);
  }

  closeBuffer(b: Buffer): void {
    this.live.set(b, this.live.get(b)! - 1);
  }

  /**
   * Compiles the states of the alias views of `b`, whose storage is opened here: call it
   * after the scope of `b` was compiled (so every view is known) and with that scope's
   * variables bound. The result points each view at `b`'s current storage.
   */
  aliasSetup(b: Buffer): (() => void) | null {
    const views = this.aliases.get(b);
    if (!views || views.size === 0) return null;
    const bufs = this.bufs, target = this.bufSlot(b);
    const each = [...views].map((v) => {
      const slot = this.bufSlot(v);
      const shape = v.shape.map((x) => this.expr(x));
      const strides = v.strides ? v.strides.map((x) => this.expr(x)) : null;
      if (strides && strides.length !== shape.length) {
        this.fail(
          `buffer '${v.name}' has ${shape.length} dimensions but ${strides.length} strides`,
        );
      }
      return () => {
        const sh = shape.map((f) => f());
        sh.forEach((d, i) => {
          if (!(Number.isInteger(d) && d >= 0)) {
            this.fail(`view '${v.name}' of '${b.name}': dimension ${i} has size ${d}`);
          }
        });
        const sd = strides ? strides.map((f) => f()) : rowMajor(sh);
        bufs[slot] = { data: bufs[target].data, shape: sh, strides: sd };
      };
    });
    return () => {
      for (const f of each) f();
    };
  }

  /** The slots of `b`'s alias views, so that an allocation can save and restore them. */
  aliasSlots(b: Buffer): number[] {
    return [...(this.aliases.get(b) ?? [])].map((v) => this.bufSlot(v));
  }

  fail(msg: string): never {
    throw new TesseraError(`evaluate(${this.fname}): ${msg}`);
  }

  expr(e: Expr): NumFn {
    const env = this.env;
    if (e.dtype === "int64" && e.kind !== "bufferLoad" && e.kind !== "select") {
      return asNum(this.expr64(e));
    }
    switch (e.kind) {
      case "const": {
        const v = fit(e.dtype, e.value);
        return () => v;
      }
      case "var": {
        if (!this.bound.get(e)) {
          this.fail(
            `variable '${e.name}' is used outside the scope of any loop, let or size ` +
              `variable that binds it`,
          );
        }
        const s = this.slotOf(e);
        return () => env[s];
      }
      case "binary": {
        const a = this.expr(e.a), b = this.expr(e.b);
        const { op, dtype } = e;
        // Hot cases inlined; each is exactly what evalBinary computes.
        if (dtype === "int32") {
          if (op === "add") return () => (a() + b()) | 0;
          if (op === "sub") return () => (a() - b()) | 0;
          if (op === "mul") return () => Math.imul(a(), b());
        } else if (dtype === "float32") {
          if (op === "add") return () => Math.fround(a() + b());
          if (op === "sub") return () => Math.fround(a() - b());
          if (op === "mul") return () => Math.fround(a() * b());
        }
        return () => {
          const x = a();
          return evalBinary(op, dtype, x, b());
        };
      }
      case "cmp": {
        const a = this.expr(e.a), b = this.expr(e.b);
        const op = e.op;
        if (op === "lt") return () => (a() < b() ? 1 : 0);
        return () => {
          const x = a();
          return evalCmp(op, x, b());
        };
      }
      case "logical": {
        const a = this.expr(e.a), b = this.expr(e.b);
        return e.op === "and"
          ? () => (a() !== 0 && b() !== 0 ? 1 : 0)
          : () => (a() !== 0 || b() !== 0 ? 1 : 0);
      }
      case "not": {
        const a = this.expr(e.a);
        return () => (a() !== 0 ? 0 : 1);
      }
      case "neg": {
        const a = this.expr(e.a);
        const dtype = e.dtype;
        return () => fit(dtype, -a());
      }
      case "call": {
        if (e.op === "checkIndex") return this.checkIndex(e.args);
        const args = e.args.map((x) => this.expr(x));
        const { op, dtype } = e;
        if (args.length === 1) {
          const a = args[0];
          return () => evalCall(op, dtype, [a()]);
        }
        return () => evalCall(op, dtype, args.map((f) => f()));
      }
      case "select": {
        const c = this.expr(e.cond), t = this.expr(e.t), f = this.expr(e.f);
        return () => (c() !== 0 ? t() : f());
      }
      case "cast": {
        const v = this.expr(e.value);
        const to = e.dtype, from = e.value.dtype;
        if (to === from) return v;
        return () => evalCast(to, from, v()) as number;
      }
      case "bufferLoad":
        return this.load(e.buffer, e.indices);
      case "tensorRead":
        return this.fail(
          `found a read of tensor '${e.tensor.name}' (a TensorRead); the program is not ` +
            `lowered: tensor reads must become buffer loads before interpretation`,
        );
      case "reduce":
        return this.fail(
          `found a ${e.combiner.name} reduction (a Reduce); the program is not lowered: ` +
            `reductions must become loops before interpretation`,
        );
    }
  }

  /** An int64 expression, as a closure giving a BigInt. */
  private expr64(e: Expr): BigFn {
    switch (e.kind) {
      case "const": {
        const v = BigInt(e.value);
        return () => v;
      }
      case "var": {
        if (!this.bound.get(e)) {
          this.fail(`variable '${e.name}' is used outside the scope of any let that binds it`);
        }
        const s = this.slotOf(e), big = this.bigEnv;
        return () => big[s];
      }
      case "binary": {
        const a = asBig(this.expr(e.a)), b = asBig(this.expr(e.b));
        const op = e.op;
        if (op === "add") return () => BigInt.asIntN(64, a() + b());
        return () => {
          const x = a();
          return evalBinary64(op, x, b());
        };
      }
      case "neg": {
        const a = asBig(this.expr(e.a));
        return () => BigInt.asIntN(64, -a());
      }
      case "call": {
        if (e.op !== "abs") return this.fail(`${e.op} of int64 is not defined`);
        const a = asBig(this.expr(e.args[0]));
        return () => {
          const x = a();
          return BigInt.asIntN(64, x < 0n ? -x : x);
        };
      }
      case "cast": {
        const v = this.expr(e.value), from = e.value.dtype;
        return () => evalCast("int64", from, v()) as bigint;
      }
      default:
        return this.fail(`an int64 ${e.kind} expression is not defined`);
    }
  }

  private checkBuffer(b: Buffer, indices: Expr[], what: string): number {
    if (b.aliasOf) {
      let root = b.aliasOf;
      while (root.aliasOf) root = root.aliasOf;
      if (root.dtype !== b.dtype) {
        this.fail(
          `${what} buffer '${b.name}', a ${b.dtype} view of ${root.dtype} buffer '${root.name}'`,
        );
      }
      if (!this.live.get(root)) {
        this.fail(
          `${what} buffer '${b.name}', a view of '${root.name}', which is neither a parameter ` +
            `nor inside its Allocate`,
        );
      }
      let views = this.aliases.get(root);
      if (!views) this.aliases.set(root, views = new Set());
      views.add(b);
    } else if (!this.live.get(b)) {
      this.fail(
        `${what} buffer '${b.name}', which is neither a parameter nor inside its Allocate`,
      );
    }
    const bs = this.bufSlot(b);
    const bad = indices.findIndex((x) => x.dtype !== "int32");
    if (bad >= 0) {
      this.fail(
        `${what} buffer '${b.name}': index ${bad} has dtype ${indices[bad].dtype}, not int32`,
      );
    }
    if (indices.length !== b.shape.length) {
      this.fail(
        `${what} buffer '${b.name}' with ${indices.length} indices, but it has ` +
          `${b.shape.length} dimensions`,
      );
    }
    return bs;
  }

  private oob(b: Buffer, st: BufState, idx: number[], what: string): never {
    const shape = `[${st.shape.join(", ")}]`;
    const dim = idx.findIndex((x, d) => !(x >= 0 && x < st.shape[d]));
    const why = dim >= 0
      ? `index ${dim} is ${idx[dim]}, outside [0, ${st.shape[dim]})`
      : `the offset is outside the ${st.data.length} allocated elements`;
    return this.fail(
      `out-of-bounds ${what} ${b.name}[${idx.join(", ")}] of buffer '${b.name}' with shape ` +
        `${shape}: ${why}`,
    );
  }

  /** An index lowering could not prove inside the declared shape: checked here, always. */
  private checkIndex([index, extent, dim]: Expr[]): NumFn {
    const ix = this.expr(index), ext = this.expr(extent);
    const d = dim.kind === "const" ? dim.value : -1;
    const name = this.loading?.name ?? "(no buffer)";
    return () => {
      const i = ix(), n = ext();
      if (!(i >= 0 && i < n)) {
        this.fail(
          `out-of-bounds load from '${name}': index ${d} is ${i}, outside [0, ${n}), the ` +
            `declared shape of '${name}' in that dimension`,
        );
      }
      return i;
    };
  }

  private load(b: Buffer, indices: Expr[]): NumFn {
    const bs = this.checkBuffer(b, indices, "load from");
    const bufs = this.bufs;
    const outer = this.loading;
    this.loading = b;
    const ix = indices.map((x) => this.expr(x));
    this.loading = outer;
    if (ix.length === 1) {
      const [f0] = ix;
      return () => {
        const st = bufs[bs];
        const i0 = f0();
        const off = i0 * st.strides[0];
        if (!(i0 >= 0 && i0 < st.shape[0] && off < st.data.length)) {
          this.oob(b, st, [i0], "load");
        }
        return st.data[off];
      };
    }
    if (ix.length === 2) {
      const [f0, f1] = ix;
      return () => {
        const st = bufs[bs];
        const i0 = f0(), i1 = f1();
        const sh = st.shape, sd = st.strides;
        const off = i0 * sd[0] + i1 * sd[1];
        if (
          !(i0 >= 0 && i0 < sh[0] && i1 >= 0 && i1 < sh[1] && off >= 0 && off < st.data.length)
        ) {
          this.oob(b, st, [i0, i1], "load");
        }
        return st.data[off];
      };
    }
    return () => {
      const st = bufs[bs];
      const idx = ix.map((f) => f());
      const off = this.offset(b, st, idx, "load");
      return st.data[off];
    };
  }

  private offset(b: Buffer, st: BufState, idx: number[], what: string): number {
    let off = 0;
    for (let d = 0; d < idx.length; d++) {
      const i = idx[d];
      if (!(i >= 0 && i < st.shape[d])) this.oob(b, st, idx, what);
      off += i * st.strides[d];
    }
    if (!(off >= 0 && off < st.data.length)) this.oob(b, st, idx, what);
    return off;
  }

  stmt(s: Stmt): Run {
    const env = this.env;
    switch (s.kind) {
      case "for": {
        const min = this.expr(s.min), extent = this.expr(s.extent);
        const v = s.loopVar;
        if (v.dtype !== "int32") {
          this.fail(`loop variable '${v.name}' has dtype ${v.dtype}; loop variables are int32`);
        }
        const slot = this.bind(v);
        const body = this.stmt(s.body);
        this.unbind(v);
        return () => {
          const lo = min(), end = lo + extent();
          const saved = env[slot];
          for (let i = lo; i < end; i++) {
            env[slot] = i;
            body();
          }
          env[slot] = saved;
        };
      }
      case "store":
        return this.store(s.buffer, s.indices, s.value);
      case "if": {
        const c = this.expr(s.cond), t = this.stmt(s.then);
        const o = s.otherwise ? this.stmt(s.otherwise) : null;
        return o
          ? () => {
            if (c() !== 0) t();
            else o();
          }
          : () => {
            if (c() !== 0) t();
          };
      }
      case "allocate": {
        const b = s.buffer;
        if (b.aliasOf) {
          this.fail(
            `Allocate of buffer '${b.name}', a view of '${b.aliasOf.name}'; views allocate nothing`,
          );
        }
        const shape = b.shape.map((x) => this.expr(x));
        const strides = b.strides ? b.strides.map((x) => this.expr(x)) : null;
        if (strides && strides.length !== shape.length) {
          this.fail(
            `buffer '${b.name}' has ${shape.length} dimensions but ${strides.length} strides`,
          );
        }
        const bs = this.openBuffer(b);
        const body = this.stmt(s.body);
        this.closeBuffer(b);
        const setViews = this.aliasSetup(b);
        const viewSlots = setViews ? this.aliasSlots(b) : [];
        const bufs = this.bufs;
        return () => {
          const sh = shape.map((f) => f());
          sh.forEach((d, i) => {
            if (!(Number.isInteger(d) && d >= 0)) {
              this.fail(`allocation of '${b.name}': dimension ${i} has size ${d}`);
            }
          });
          const sd = strides ? strides.map((f) => f()) : rowMajor(sh);
          const saved = bufs[bs];
          const savedViews = viewSlots.map((v) => bufs[v]);
          const n = extentOf(sh, sd);
          if (n > MAX_TEMP_ELEMENTS) {
            this.fail(
              `allocation of '${b.name}' (shape [${sh.join(", ")}]) needs ${n} elements, more ` +
                `than the interpreter's limit of ${MAX_TEMP_ELEMENTS} (2^30) for a temporary: it ` +
                `poisons every element, so that would touch all of that memory; use smaller sizes ` +
                `or a schedule that keeps less (computeAt), or run the kernel on the "c" target`,
            );
          }
          let data: Mem;
          try {
            data = allocMem(b.dtype, n);
          } catch (e) {
            if (!(e instanceof RangeError)) throw e;
            return this.fail(
              `allocation of '${b.name}' (shape [${sh.join(", ")}], ${n} ${b.dtype} elements) ` +
                `failed: ${e.message}; JavaScript could not allocate that much memory`,
            );
          }
          bufs[bs] = { data, shape: sh, strides: sd };
          try {
            setViews?.();
            body();
          } finally {
            bufs[bs] = saved;
            viewSlots.forEach((v, k) => bufs[v] = savedViews[k]);
          }
        };
      }
      case "let": {
        const value = this.expr(s.value);
        const slot = this.bind(s.v);
        const body = this.stmt(s.body);
        this.unbind(s.v);
        if (s.v.dtype === "int64") {
          const big = this.bigEnv, v64 = asBig(value);
          return () => {
            const saved = big[slot];
            big[slot] = v64();
            body();
            big[slot] = saved;
          };
        }
        return () => {
          const saved = env[slot];
          env[slot] = value();
          body();
          env[slot] = saved;
        };
      }
      case "barrier":
        return () => {};
      case "extern":
        return this.externCall(s);
      case "seq": {
        const xs = s.stmts.map((x) => this.stmt(x));
        if (xs.length === 2) {
          const [a, b] = xs;
          return () => {
            a();
            b();
          };
        }
        return () => {
          for (const x of xs) x();
        };
      }
    }
  }

  /**
   * An extern stage runs the TypeScript implementation its author gave, over arrays that
   * share the buffers' storage (inputs as copies, so that it cannot change them).
   */
  private externCall(s: Stmt & { kind: "extern" }): Run {
    const fn = s.impl.interpret as
      | ((ins: NDArray[], outs: NDArray[], ...scalars: number[]) => void)
      | null;
    if (!fn) {
      return this.fail(
        `extern stage '${s.impl.stage}' calls C function '${s.fname}', which the interpreter ` +
          `cannot run; pass a TypeScript implementation: te.extern(shapes, inputs, body, ` +
          `{ interpret: (ins, outs, ...scalars) => { /* write outs */ } })`,
      );
    }
    const bufs = this.bufs;
    const slot = (b: Buffer) =>
      this.checkBuffer(b, b.shape.map(() => intConst(0)), "extern call of");
    const slots = [...s.ins, ...s.outs].map(slot);
    const dtypes = [...s.ins, ...s.outs].map((b) => b.dtype);
    const shapes = s.shapes.map((sh) => sh.map((x) => this.expr(x)));
    const values = s.args.filter((a): a is Expr => !("shape" in a)).map((e) => this.expr(e));
    const nIn = s.ins.length;
    return () => {
      const arrays = slots.map((bs, k) => {
        const sh = shapes[k].map((f) => f());
        const n = sh.reduce((a, b) => a * b, 1);
        const data = bufs[bs].data;
        const view = k < nIn ? data.slice(0, n) : data.subarray(0, n);
        return new NDArray(sh, dtypes[k], view as NDArray["data"]);
      });
      fn(arrays.slice(0, nIn), arrays.slice(nIn), ...values.map((f) => f()));
    };
  }

  private store(b: Buffer, indices: Expr[], value: Expr): Run {
    const bs = this.checkBuffer(b, indices, "store to");
    if (value.dtype !== b.dtype) {
      this.fail(
        `store of a ${value.dtype} value to ${b.dtype} buffer '${b.name}'; cast the value first`,
      );
    }
    const bufs = this.bufs;
    const ix = indices.map((x) => this.expr(x));
    const val = this.expr(value);
    if (ix.length === 1) {
      const [f0] = ix;
      return () => {
        const st = bufs[bs];
        const i0 = f0();
        const off = i0 * st.strides[0];
        if (!(i0 >= 0 && i0 < st.shape[0] && off < st.data.length)) {
          this.oob(b, st, [i0], "store");
        }
        st.data[off] = val();
      };
    }
    if (ix.length === 2) {
      const [f0, f1] = ix;
      return () => {
        const st = bufs[bs];
        const i0 = f0(), i1 = f1();
        const sh = st.shape, sd = st.strides;
        const off = i0 * sd[0] + i1 * sd[1];
        if (
          !(i0 >= 0 && i0 < sh[0] && i1 >= 0 && i1 < sh[1] && off >= 0 && off < st.data.length)
        ) {
          this.oob(b, st, [i0, i1], "store");
        }
        st.data[off] = val();
      };
    }
    return () => {
      const st = bufs[bs];
      const idx = ix.map((f) => f());
      const off = this.offset(b, st, idx, "store");
      st.data[off] = val();
    };
  }
}

/**
 * Runs `func` on `args` (one per parameter, in order), writing its outputs into the arrays
 * in place. Sizes are taken from the arrays' shapes; any disagreement between them and the
 * parameters' declared shapes is a TesseraError naming the argument and the dimension.
 */
export function evaluate(func: PrimFunc, all: ReadonlyArray<NDArray | number>): void {
  const fname = func.name;
  const fail = (msg: string): never => {
    throw new TesseraError(`evaluate(${fname}): ${msg}`);
  };
  const values = bindArguments(func, all, `evaluate(${fname})`);
  const args = arraysOf(func, all) as NDArray[];
  const argName = (i: number) =>
    `argument ${func.signature.indexOf(func.params[i]) + 1} '${func.params[i].name}'`;

  // The slot array must exist before closures capture it; count the variables first.
  const vars = new Set<Var>(values.keys());
  for (const p of func.params) {
    for (const e of [...p.shape, ...(p.strides ?? [])]) collectExprVars(e, vars);
  }
  collectVars(func.body, vars);
  const comp = new Compiler(fname, vars.size);
  for (const [v, value] of values) {
    comp.env[comp.bind(v)] = value;
  }
  // Params alias the arrays' storage, except raw-bits float16, which is decoded around the run.
  const copyBack: Array<() => void> = [];
  func.params.forEach((p, i) => {
    if (p.aliasOf) {
      fail(`parameter '${p.name}' is a view of '${p.aliasOf.name}'; pass the buffer itself`);
    }
    const bs = comp.openBuffer(p);
    const a = args[i];
    let data: Mem;
    if (a.data instanceof Uint16Array) {
      const raw = a.data;
      const f = Float32Array.from(raw, bitsToF16);
      copyBack.push(() => {
        for (let k = 0; k < f.length; k++) raw[k] = f16ToBits(f[k]);
      });
      data = f;
    } else data = a.data as Mem;
    const shape = [...a.shape];
    const strides = p.strides ? p.strides.map((s) => comp.expr(s)()) : rowMajor(shape);
    if (p.strides) {
      if (strides.length !== shape.length) {
        fail(`parameter '${p.name}' has ${shape.length} dimensions but ${strides.length} strides`);
      }
      if (extentOf(shape, strides) > data.length) {
        fail(
          `${argName(i)} has ${data.length} elements but the parameter's strides ` +
            `[${strides.join(", ")}] reach element ${extentOf(shape, strides) - 1}`,
        );
      }
    }
    comp.bufs[bs] = { data, shape, strides };
  });

  const run = comp.stmt(func.body);
  // Views of parameters see the arrays' storage for the whole run.
  for (const p of func.params) comp.aliasSetup(p)?.();
  run();
  for (const f of copyBack) f();
}

function collectExprVars(e: Expr, out: Set<Var>): void {
  const ex = (x: Expr) => collectExprVars(x, out);
  switch (e.kind) {
    case "var":
      out.add(e);
      return;
    case "const":
      return;
    case "binary":
    case "cmp":
    case "logical":
      ex(e.a);
      ex(e.b);
      return;
    case "not":
    case "neg":
      ex(e.a);
      return;
    case "call":
      e.args.forEach(ex);
      return;
    case "select":
      ex(e.cond);
      ex(e.t);
      ex(e.f);
      return;
    case "cast":
      ex(e.value);
      return;
    case "bufferLoad":
      e.indices.forEach(ex);
      if (e.buffer.aliasOf) collectBufferVars(e.buffer, out);
      return;
    case "tensorRead":
      e.indices.forEach(ex);
      return;
    case "reduce":
      ex(e.source);
      ex(e.condition);
      return;
  }
}

function collectBufferVars(b: Buffer, out: Set<Var>): void {
  for (const e of [...b.shape, ...(b.strides ?? [])]) collectExprVars(e, out);
}

/** Every variable a statement binds or mentions, so the slot array can be sized up front. */
function collectVars(s: Stmt, out: Set<Var>): void {
  const ex = (x: Expr) => collectExprVars(x, out);
  switch (s.kind) {
    case "for":
      out.add(s.loopVar);
      ex(s.min);
      ex(s.extent);
      collectVars(s.body, out);
      return;
    case "store":
      s.indices.forEach(ex);
      ex(s.value);
      if (s.buffer.aliasOf) collectBufferVars(s.buffer, out);
      return;
    case "if":
      ex(s.cond);
      collectVars(s.then, out);
      if (s.otherwise) collectVars(s.otherwise, out);
      return;
    case "allocate":
      s.buffer.shape.forEach(ex);
      s.buffer.strides?.forEach(ex);
      collectVars(s.body, out);
      return;
    case "let":
      out.add(s.v);
      ex(s.value);
      collectVars(s.body, out);
      return;
    case "barrier":
      return;
    case "extern":
      s.args.forEach((a) => "shape" in a ? collectBufferVars(a, out) : ex(a));
      s.shapes.forEach((sh) => sh.forEach(ex));
      [...s.ins, ...s.outs].forEach((b) => collectBufferVars(b, out));
      return;
    case "seq":
      s.stmts.forEach((x) => collectVars(x, out));
  }
}
