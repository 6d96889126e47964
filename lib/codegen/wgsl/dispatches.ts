/**
 * Dispatch planning for WebGPU: a flattened `PrimFunc` becomes a `WgslPlan`, one compute
 * shader per root statement (as TVM makes one kernel per root stage), dispatched in order.
 * Root allocations become storage buffers the runtime allocates; loops bound to `blockIdx.*`
 * read `workgroup_id` and loops bound to `threadIdx.*` read `local_invocation_id`; the
 * workgroup size is the largest constant extent bound to each thread index (a loop with a
 * smaller extent is guarded), and `blockIdx.x` beyond 65535 workgroups folds into y. Each
 * shader's barriers are planned (lib/lower/gpu/threadSync.ts) and it is printed
 * (printer.ts) with its bindings: the storage buffers it touches, vector views of read-only
 * float32 ones where a vector load asks for one (within the 8 bindings every adapter
 * allows), one uniform struct of sizes and scalars, and the error flags where a helper may
 * raise one. int64 and float64 are refused first: WGSL has neither.
 */
import { simplify } from "../../arith/simplify.ts";
import { evalExact } from "../../arith/exact.ts";
import { TesseraError } from "../../error.ts";
import { type DType, isInt } from "../../ir/dtype.ts";
import { Binary, type Buffer, type Expr, intConst, type Var } from "../../ir/expr.ts";
import type { For, PrimFunc, Stmt } from "../../ir/stmt.ts";
import { freeVars, walkExpr, walkStmt, walkStmtExprs } from "../../ir/visit.ts";
import { accesses } from "../../lower/gpu/threadDependence.ts";
import { planShader } from "../../lower/gpu/threadSync.ts";
import { type VectorLoop, vectorLoop } from "../../lower/gpu/vectorLoop.ts";
import { markedStage } from "../../lower/profileMarks.ts";
import { Names } from "../cstyle.ts";
import { flagsDecl, usesFlags } from "./error_flags.ts";
import { helpersFor } from "./helpers.ts";
import type { Sizes, WgslBufferSpec, WgslDispatch, WgslPlan } from "./plan.ts";
import { type ShaderInfo, WgslPrinter } from "./printer.ts";

const MAX_GRID = 65535;
const AXES = ["x", "y", "z"] as const;

type ThreadTag = `${"blockIdx" | "threadIdx"}.${"x" | "y" | "z"}`;

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
    // The passes decide (threadSync.ts: barriers, leaves, thread indices, homes;
    // vectorLoop.ts: vector loops), the printer prints.
    const synced = planShader(root, info.wg, (b) => storage.has(b));
    const vectors = new Map<For, VectorLoop>();
    walkStmt(synced.body, (x) => {
      const v = x.kind === "for" && x.forKind === "vectorized" ? vectorLoop(x) : null;
      if (v) vectors.set(x as For, v);
    });
    const text = p.shader(synced, vectors, info, sizeDecls);
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
