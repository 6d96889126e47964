/**
 * Random tensor programs for property tests: elementwise chains, reductions (built-in and
 * user-defined reducers, with `where`), matmul and batch matmul, conv-like windows with
 * padding and strides, multi-stage producers (softmax-like), reductions inside expressions
 * (lifted into stages), and tuple reductions and two-output computes. Sizes are small so the
 * direct evaluator stays fast; some programs use symbolic sizes bound at call time.
 */
import { type DType, type Expr, te, type Tensor, type Var } from "../../mod.ts";
import { type Choices, rng } from "./choices.ts";
import { loopNames, nameFor, withParams } from "./names.ts";

export interface Program {
  family: string;
  inputs: Tensor[];
  outputs: Tensor[];
  /** Concrete values for the symbolic sizes. */
  sizes: Map<Var, number>;
  dtype: DType;
  text: string[];
  /** Scalar arguments (te.vars used as values) and the values passed at the call. */
  scalars?: [Var, number][];
}

/** The arguments in call order: inputs, scalars, outputs. */
export function argsOf(p: Program): (Tensor | Var)[] {
  return [...p.inputs, ...(p.scalars ?? []).map(([v]) => v), ...p.outputs];
}

type Dim = number | Var;

function dims(
  c: Choices,
  rank: number,
  p: { sizes: Map<Var, number>; symbolic: boolean },
  max = 7,
): Dim[] {
  return Array.from({ length: rank }, (_, d) => {
    const n = c.int(1, max);
    if (!p.symbolic || !c.chance(50)) return n;
    const v = te.var(nameFor(c, `n${d}`));
    p.sizes.set(v, n);
    return v;
  });
}

/**
 * Input dtypes, float32 most often. The others meet by the README's promotion rules
 * (uint8 with int8 as int32, int64 with float32 as float64, ...), which the program
 * follows rather than restates: each stage's ops are chosen by the dtype its body has.
 */
const DTYPES: readonly DType[] = [
  "float32",
  "float32",
  "float32",
  "float32",
  "int32",
  "int32",
  "uint8",
  "int8",
  "int64",
  "float64",
];
const isFloat = (t: DType) => t.startsWith("float");

const FLOAT_BIN = ["add", "sub", "mul", "max", "min", "selgt", "atan2", "safediv"] as const;
// Math functions get arguments inside their domain and where they are well conditioned
// (see unop), so that targets stay within the README's tolerances.
const FLOAT_UN = ["tanh", "sigmoid", "abs", "neg", "affine", "exp", "clamp"] as const;
const MATH = [
  "sin",
  "cos",
  "tan",
  "atan",
  "exp2",
  "log2",
  "log1p",
  "expm1",
  "sinh",
  "cosh",
] as const;
const INT_BIN = ["add", "sub", "mul", "max", "min", "selgt"] as const;
const INT_UN = ["floordiv", "floormod", "div", "mod", "neg", "affine", "abs", "clamp"] as const;

function binop(op: string, a: Expr, b: Expr): Expr {
  switch (op) {
    case "add":
      return a.add(b);
    case "sub":
      return a.sub(b);
    case "mul":
      return a.mul(b);
    case "max":
      return te.max(a, b);
    case "min":
      return te.min(a, b);
    case "atan2":
      // x > 0: away from the branch cut on the negative axis, where a rounding apart flips ±pi.
      return te.atan2(a, te.abs(b).add(0.5));
    case "safediv": {
      // floor(b) of an input in [-1, 1) is -1 or 0: a / 0 is ±inf or NaN half the time, and
      // isnan/isinf map those to a number.
      const q = a.div(te.floor(b));
      return te.select(te.isnan(q).or(te.isinf(q)), 0.25, q);
    }
    default:
      return te.select(a.gt(b), a, b.neg());
  }
}

function unop(op: string, a: Expr): Expr {
  const float = isFloat(a.dtype);
  switch (op) {
    case "tanh":
      return te.tanh(a);
    case "sigmoid":
      return te.sigmoid(a);
    case "abs":
      return te.abs(a);
    case "neg":
      return a.neg();
    case "exp":
      return te.exp(te.min(a, 3));
    // Trig arguments stay far inside WebGPU's |x| <= 2e4, where an upstream rounding
    // difference of one ulp stays below the tolerance.
    case "sin":
      return te.sin(te.clamp(a, -4, 4));
    case "cos":
      return te.cos(te.clamp(a, -4, 4));
    case "tan":
      return te.tan(te.clamp(a, -1, 1));
    case "atan":
      return te.atan(a);
    case "exp2":
      return te.exp2(te.min(a, 8));
    case "log2":
      return te.log2(te.abs(a).add(0.5));
    case "log1p":
      return te.log1p(te.abs(a));
    case "expm1":
      return te.expm1(te.min(a, 4));
    case "sinh":
      return te.sinh(te.clamp(a, -4, 4));
    case "cosh":
      return te.cosh(te.clamp(a, -4, 4));
    case "clamp":
      // Literals take the operand's type and must fit it (uint8 has no -5).
      return a.dtype === "uint8" ? te.clamp(a, 3, 100) : te.clamp(a, -5, float ? 0.5 : 5);
    case "affine":
      return float ? a.mul(0.5).add(1) : a.mul(3).sub(2);
    case "floordiv":
      return a.floordiv(3);
    case "floormod":
      return a.floormod(3);
    case "div":
      return a.div(2);
    default:
      return a.mod(3);
  }
}

/** A float scaled before it becomes an int, so the int is not always 0. */
function castTo(to: DType, a: Expr): Expr {
  return te.cast(to, isFloat(a.dtype) && !isFloat(to) ? a.mul(50) : a);
}

/** A float32 or int32 scalar argument (a `te.var` used as a value) and the value to pass. */
function scalarArg(c: Choices, r: () => number): [Var, number] {
  const float = c.chance(60);
  const v = te.var(nameFor(c, float ? "bias" : "offset"), float ? "float32" : "int32");
  return [v, float ? Math.fround(r() * 4 - 2) : Math.floor(r() * 11) - 5];
}

/**
 * Chains of elementwise stages over inputs of one or two dtypes: binary ops (promoting),
 * unary math, casts to any dtype, and now and then a scalar argument as an operand.
 */
export function elementwise(c: Choices, symbolic: boolean): Program {
  const sizes = new Map<Var, number>();
  const dx = c.one(DTYPES), dy = c.chance(70) ? dx : c.one(DTYPES);
  const shape = dims(c, c.int(1, 3), { sizes, symbolic });
  const X = te.placeholder(shape, dx, nameFor(c, "X"));
  const Y = te.placeholder(shape, dy, nameFor(c, "Y"));
  const text = [`X: [${shape.map(String)}] ${dx}, Y: ${dy}`];
  const scalars: [Var, number][] = [];
  if (c.chance(20)) {
    scalars.push(scalarArg(c, rng(c.pick(1000))));
    text.push(`scalar ${scalars[0][0].name}: ${scalars[0][0].dtype} = ${scalars[0][1]}`);
  }
  let prev: Tensor = X;
  const n = c.int(1, 3);
  for (let s = 0; s < n; s++) {
    const p = prev;
    const float = isFloat(p.dtype);
    const what = c.pick(10);
    let f: (...i: Expr[]) => Expr, desc: string;
    if (what < 4) {
      let op: string = c.one(float ? FLOAT_BIN : INT_BIN);
      const other = c.chance(50) ? Y : X;
      const scalar = scalars.length > 0 && c.chance(40);
      // safediv divides by floor of a float input; atan2 wants floats on both sides.
      if ((op === "safediv" || op === "atan2") && (scalar || !isFloat(other.dtype))) op = "add";
      f = (...i) => binop(op, p(...i), scalar ? scalars[0][0] : other(...i));
      desc = `${op}(${p.name}, ${scalar ? scalars[0][0].name : other.name})`;
    } else if (what < 8) {
      const op = c.one(float ? (c.chance(60) ? MATH : FLOAT_UN) : INT_UN);
      f = (...i) => unop(op, p(...i));
      desc = `${op}(${p.name})`;
    } else {
      const to = c.one(DTYPES);
      f = (...i) => castTo(to, p(...i));
      desc = `cast(${to}, ${p.name})`;
    }
    prev = te.compute(shape, withParams(loopNames(c, shape.length), f), nameFor(c, `S${s}`));
    text.push(`S${s}: ${prev.dtype} = ${desc}`);
  }
  return {
    family: "elementwise",
    inputs: [X, Y],
    outputs: [prev],
    sizes,
    dtype: prev.dtype,
    text,
    scalars,
  };
}

export function reduction(c: Choices, symbolic: boolean): Program {
  const sizes = new Map<Var, number>();
  const dtype = c.one(DTYPES);
  const rank = c.int(2, 3);
  const shape = dims(c, rank, { sizes, symbolic });
  const X = te.placeholder(shape, dtype, nameFor(c, "X"));
  const kind = c.one(["sum", "max", "min", "prod", "sumsq", "where"] as const);
  const nred = c.int(1, rank - 1);
  const outShape = shape.slice(0, rank - nred);
  const ks = shape.slice(rank - nred).map((d, i) => te.reduceAxis(d, nameFor(c, `k${i}`)));
  const sumsq = te.commReducer((a, b) => a.add(b), 0, "sumsq");
  // Floats are reduced through a math function now and then.
  const math = isFloat(dtype) && c.chance(40) ? c.one(MATH) : null;
  const R = te.compute(outShape, (...i) => {
    const x = math ? unop(math, X(...i, ...ks)) : X(...i, ...ks);
    switch (kind) {
      case "sum":
        return te.sum(x, ks);
      case "max":
        return te.max(x, ks);
      case "min":
        return te.min(x, ks);
      case "prod":
        return te.prod(isFloat(dtype) ? x.mul(0.5).add(1) : x.floormod(3).sub(1), ks);
      case "sumsq":
        return sumsq(x.mul(x), ks);
      default:
        return te.sum(x, ks, ks[0].lt(2).or(ks[0].eq(4)));
    }
  }, nameFor(c, "R"));
  const text = [
    `X: [${shape.map(String)}] ${dtype}`,
    `R = ${kind}${math ? ` of ${math}(X)` : ""} over last ${nred} axes`,
  ];
  let out = R;
  if (c.chance(50)) {
    out = te.compute(outShape, (...i) => R(...i).mul(2).add(1), "D");
    text.push("D = R*2 + 1");
  } else if (c.chance(30)) {
    const to = c.one(DTYPES);
    out = te.compute(outShape, (...i) => castTo(to, R(...i)), "D");
    text.push(`D = cast(${to}, R)`);
  }
  return { family: "reduction", inputs: [X], outputs: [out], sizes, dtype: out.dtype, text };
}

export function matmul(c: Choices, symbolic: boolean): Program {
  const sizes = new Map<Var, number>();
  const [m, k, n] = dims(c, 3, { sizes, symbolic }, 9);
  const batch = c.chance(30) ? c.int(1, 3) : 0;
  const pre = batch ? [batch] : [];
  const A = te.placeholder([...pre, m, k], "float32", nameFor(c, "A"));
  const B = te.placeholder([...pre, k, n], "float32", nameFor(c, "B"));
  const r = te.reduceAxis(k, nameFor(c, "r"));
  const [bn, in_, jn] = loopNames(c, 3);
  const C = batch
    ? te.compute(
      [batch, m, n],
      withParams([bn, in_, jn], (b: Expr, i: Expr, j: Expr) =>
        te.sum(A(b, i, r).mul(B(b, r, j)), [r])),
      nameFor(c, "C"),
    )
    : te.compute(
      [m, n],
      withParams([in_, jn], (i: Expr, j: Expr) => te.sum(A(i, r).mul(B(r, j)), [r])),
      nameFor(c, "C"),
    );
  const text = [`C = A[${[...pre, m, k].map(String)}] @ B[${[...pre, k, n].map(String)}]`];
  let out = C;
  if (c.chance(40)) {
    out = te.compute(C.shape, (...i) => te.max(C(...i), 0), "relu");
    text.push("relu = max(C, 0)");
  }
  return { family: "matmul", inputs: [A, B], outputs: [out], sizes, dtype: "float32", text };
}

export function conv(c: Choices): Program {
  const H = c.int(2, 8), W = c.int(2, 8), stride = c.int(1, 2), pad = c.int(0, 1);
  const R = Math.min(c.int(1, 3), H + 2 * pad), S = Math.min(c.int(1, 3), W + 2 * pad);
  const OH = Math.floor((H + 2 * pad - R) / stride) + 1;
  const OW = Math.floor((W + 2 * pad - S) / stride) + 1;
  const X = te.placeholder([H, W], "float32", "X");
  const K = te.placeholder([R, S], "float32", "K");
  const ry = te.reduceAxis(R, "ry"), rx = te.reduceAxis(S, "rx");
  const text = [`conv X[${H},${W}] K[${R},${S}] stride ${stride} pad ${pad}`];
  let input: Tensor = X;
  if (c.chance(50)) {
    // Padding as a stage of its own, so schedules can inline or attach it.
    input = te.compute([H + 2 * pad, W + 2 * pad], (y, x) => {
      const inside = y.ge(pad).and(y.lt(H + pad)).and(x.ge(pad)).and(x.lt(W + pad));
      return te.select(inside, X(y.sub(pad), x.sub(pad)), 0);
    }, "Xpad");
    const Y = te.compute(
      [OH, OW],
      (y, x) =>
        te.sum(input(y.mul(stride).add(ry), x.mul(stride).add(rx)).mul(K(ry, rx)), [ry, rx]),
      "Y",
    );
    text.push("with a padding stage");
    return {
      family: "conv",
      inputs: [X, K],
      outputs: [Y],
      sizes: new Map(),
      dtype: "float32",
      text,
    };
  }
  const Y = te.compute([OH, OW], (y, x) => {
    const iy = y.mul(stride).add(ry).sub(pad), ix = x.mul(stride).add(rx).sub(pad);
    const inside = iy.ge(0).and(iy.lt(H)).and(ix.ge(0)).and(ix.lt(W));
    return te.sum(te.select(inside, X(iy, ix), 0).mul(K(ry, rx)), [ry, rx]);
  }, "Y");
  return { family: "conv", inputs: [X, K], outputs: [Y], sizes: new Map(), dtype: "float32", text };
}

export function multistage(c: Choices, symbolic: boolean): Program {
  const sizes = new Map<Var, number>();
  const [m, n] = dims(c, 2, { sizes, symbolic });
  const X = te.placeholder([m, n], "float32", "X");
  const B = te.compute([m, n], (i, j) => X(i, j).mul(2).add(1), "B");
  const k1 = te.reduceAxis(n, "k1");
  const M = te.compute([m], (i) => te.max(B(i, k1), [k1]), "M");
  const E = te.compute([m, n], (i, j) => te.exp(B(i, j).sub(M(i))), "E");
  const k2 = te.reduceAxis(n, "k2");
  const S = te.compute([m], (i) => te.sum(E(i, k2), [k2]), "S");
  const Y = te.compute([m, n], (i, j) => E(i, j).div(S(i)), "Y");
  return {
    family: "multistage",
    inputs: [X],
    outputs: [Y],
    sizes,
    dtype: "float32",
    text: [`softmax of B = 2X+1, X: [${m}, ${n}]`],
  };
}

/**
 * Reductions inside expressions, lifted by te.compute into stages of their own: a scaled sum,
 * max - min over one shared axis, a row normalization, and softmax with a nested one.
 */
export function inlineReduction(c: Choices, symbolic: boolean): Program {
  const sizes = new Map<Var, number>();
  const dtype: DType = c.chance(25) ? "int32" : "float32";
  const [m, n] = dims(c, 2, { sizes, symbolic });
  const X = te.placeholder([m, n], dtype, nameFor(c, "X"));
  const k = te.reduceAxis(n, nameFor(c, "k"));
  const k2 = te.reduceAxis(n, nameFor(c, "k2"));
  const kind = c.one(
    dtype === "int32" ? ["scaled", "range", "center"] as const : [
      "scaled",
      "range",
      "center",
      "softmax",
    ] as const,
  );
  const [iN, jN] = loopNames(c, 2);
  const name = nameFor(c, "Y");
  const Y = kind === "scaled"
    ? te.compute([m], withParams([iN], (i: Expr) => te.sum(X(i, k), [k]).mul(3).add(X(i, 0))), name)
    : kind === "range"
    ? te.compute(
      [m],
      withParams([iN], (i: Expr) => te.max(X(i, k), [k]).sub(te.min(X(i, k), [k]))),
      name,
    )
    : kind === "center"
    ? te.compute(
      [m, n],
      withParams([iN, jN], (i: Expr, j: Expr) => X(i, j).mul(2).sub(te.max(X(i, k), [k]))),
      name,
    )
    : te.compute(
      [m, n],
      withParams([iN, jN], (i: Expr, j: Expr) =>
        te.exp(X(i, j).sub(te.max(X(i, k), [k]))).div(
          te.sum(te.exp(X(i, k2).sub(te.max(X(i, k), [k]))), [k2]),
        )),
      name,
    );
  const text = [`X: [${m}, ${n}] ${dtype}`, `Y = ${kind} with inline reductions`];
  return { family: "inline-reduction", inputs: [X], outputs: [Y], sizes, dtype, text };
}

/** Tuple reductions (argmax, argmin, a user's (sum, max) pair) and two-output computes. */
export function tupleReduction(c: Choices, symbolic: boolean): Program {
  const sizes = new Map<Var, number>();
  const dtype: DType = c.chance(40) ? "int32" : "float32";
  const [m, n] = dims(c, 2, { sizes, symbolic });
  const X = te.placeholder([m, n], dtype, nameFor(c, "X"));
  const k = te.reduceAxis(n, nameFor(c, "k"));
  const kind = c.one(["argmax", "argmin", "sumMax", "twoOutputs"] as const);
  const name = nameFor(c, "T");
  const sumMax = te.commReducer(
    (a: Expr[], b: Expr[]) => [a[0].add(b[0]), te.max(a[1], b[1])],
    (t: DType[]) => [0, t[1] === "int32" ? -2147483648 : -Infinity],
    "sumMax",
  );
  const outs: Tensor[] = kind === "twoOutputs"
    ? te.compute([m, n], (i, j) => [X(i, j).add(1), te.max(X(i, j), 0).mul(X(i, j))], name)
    : te.compute([m], (i) => {
      const x = X(i, k);
      return kind === "sumMax" ? sumMax([x, x.mul(2)], [k]) : te[kind](x, [k]);
    }, name);
  const text = [`X: [${m}, ${n}] ${dtype}`, `[${outs.map((t) => t.name)}] = ${kind}`];
  return { family: "tuple", inputs: [X], outputs: outs, sizes, dtype, text };
}

/**
 * A recurrence (te.scan) over rows: 1-2 states of [m, n], each row an elementwise update of
 * the previous rows (and of the other state's), sometimes reading the input X or a producer
 * P = 2X + 1 that schedules may attach inside the update; now and then a stage after the
 * scan. Updates avoid general products: a serial chain of rows compounds each rounding
 * difference (an FMA on C) through every later row.
 */
export function scan(c: Choices, symbolic: boolean): Program {
  const sizes = new Map<Var, number>();
  const dtype = c.one(["float32", "float32", "float32", "int32", "uint8", "float64"] as const);
  const [m, n] = dims(c, 2, { sizes, symbolic });
  const X = te.placeholder([m, n], dtype, nameFor(c, "X"));
  const P = c.chance(40) ? te.compute([m, n], (t, i) => X(t, i).mul(2).add(1), "P") : X;
  const nstates = c.int(1, 2);
  const states = Array.from(
    { length: nstates },
    (_, k) => te.placeholder([m, n], dtype, nameFor(c, `S${k}`)),
  );
  const text = [`X: [${m}, ${n}] ${dtype}${P === X ? "" : ", P = 2X + 1"}`];
  const inits = states.map((_, k) => {
    const zero = c.chance(30);
    text.push(`init ${k}: ${zero ? "0" : "X[0, i]"}`);
    return te.compute(
      [1, n],
      (_, i) => zero ? te.cast(dtype, 0) : X(0, i),
      nameFor(c, `init${k}`),
    );
  });
  const updates = states.map((S, k) => {
    const op = c.one(["add", "sub", "max", "min", "selgt", "half"] as const);
    const other = states[c.pick(nstates)];
    const reads = c.chance(70);
    const [tN, iN] = loopNames(c, 2);
    const f = (t: Expr, i: Expr) => {
      const prev = S(t.sub(1), i);
      // Ints halve by floordiv (0.5 next to an int would be float32); floats exactly.
      const v = op === "half"
        ? (isFloat(dtype) ? prev.mul(0.5) : prev.floordiv(2))
        : binop(op, prev, other(t.sub(1), i));
      return reads ? v.add(P(t, i)) : v;
    };
    text.push(
      `update ${k}: ${op}(${S.name}[t-1]${op === "half" ? "" : `, ${other.name}[t-1]`})${
        reads ? ` + ${P.name}[t]` : ""
      }`,
    );
    return te.compute([m, n], withParams([tN, iN], f), nameFor(c, `U${k}`));
  });
  const outs = te.scan(inits, updates, states, [X], nameFor(c, "scan"));
  let outputs = outs;
  if (c.chance(30)) {
    outputs = [te.compute([m, n], (t, i) => outs[0](t, i).add(outs.at(-1)!(t, i)), "D")];
    text.push(`D = ${outs[0].name} + ${outs.at(-1)!.name}`);
  }
  return { family: "scan", inputs: [X], outputs, sizes, dtype, text };
}

export function randomProgram(c: Choices): Program {
  const symbolic = c.chance(30);
  switch (c.pick(9)) {
    case 0:
    case 7:
      return elementwise(c, symbolic);
    case 1:
      return reduction(c, symbolic);
    case 2:
      return matmul(c, symbolic);
    case 3:
      return conv(c);
    case 4:
      return inlineReduction(c, symbolic);
    case 5:
      return tupleReduction(c, symbolic);
    case 6:
      return scan(c, symbolic);
    default:
      return multistage(c, symbolic);
  }
}

// Reads outside a tensor's declared shape (issue 11). Kept apart from randomProgram: these
// programs are wrong on purpose, and tests/bounds_property_test.ts checks how they fail.

export interface OobProgram extends Program {
  oob: {
    /** The tensor read outside its shape. */
    tensor: string;
    /**
     * "lower": provably outside, so te.lower must reject it naming `tensor`, whatever the
     * schedule; "sizes": the sizes bound at call time put it outside, which only a run can
     * tell; "data": a gather, outside or not as the index data says.
     */
    when: "lower" | "sizes" | "data";
  };
}

/**
 * A row-wise program whose last stage reads the producer `P = 2X + 1` (or `X` itself) at an
 * offset, over a shifted reduction, over a longer symbolic domain, or through an index
 * tensor. P is a stage of its own so that schedules inline, attach or cache what is read.
 */
export function outOfBounds(c: Choices): OobProgram {
  const sizes = new Map<Var, number>();
  const rows = c.int(1, 3), len = c.int(2, 7);
  const kind = c.one(["shift", "reduce", "sizes", "gather"] as const);
  let n: Dim = len, m: Dim = len;
  if (kind === "sizes") {
    n = te.var("n");
    m = te.var("m");
  }
  const X = te.placeholder([rows, n], "float32", "X");
  const P = te.compute([rows, n], (r, i) => X(r, i).mul(2).add(1), "P");
  const src = c.chance(70) ? P : X;
  const inputs = [X];
  const text = [`X: [${rows}, ${n}] float32, P = 2X + 1`];
  let Y: Tensor, when: OobProgram["oob"]["when"] = "lower";
  if (kind === "shift") {
    const s = c.one([1, 2, -1]);
    Y = te.compute([rows, len], (r, i) => src(r, i.add(s)).add(X(r, i)), "Y");
    text.push(`Y[r, i] = ${src.name}[r, i + ${s}] + X[r, i]`);
  } else if (kind === "reduce") {
    const from = c.one([1, -1]);
    const k = te.reduceAxis(from > 0 ? len : [-1, len], "k");
    const idx = (r: Expr) => from > 0 ? src(r, k.add(1)) : src(r, k);
    Y = te.compute([rows], (r) => te.sum(idx(r), [k]), "Y");
    text.push(
      `Y[r] = sum over k ${from > 0 ? "in [0, len)" : "in [-1, len-1)"} ${src.name}[r, ${
        from > 0 ? "k + 1" : "k"
      }]`,
    );
  } else if (kind === "sizes") {
    when = "sizes";
    // Y's length m reaches past n: by one or two, after a shift of up to two.
    const s = c.int(0, 2);
    sizes.set(n as Var, len);
    sizes.set(m as Var, Math.max(1, len - s + c.int(1, 2)));
    const W = te.placeholder([m], "float32", "W");
    inputs.push(W);
    Y = te.compute([rows, m], (r, i) => src(r, i.add(s)).add(W(i)), "Y");
    text.push(
      `W: [m], Y[r, i] = ${src.name}[r, i + ${s}] + W[i], m = ${sizes.get(m as Var)}, n = ${len}`,
    );
  } else {
    when = "data";
    const I = te.placeholder([c.int(1, 6)], "int32", "I");
    inputs.push(I);
    // Wrapped into [0, len], the index is outside only where it lands on len; guarded, never
    // (a guard a target evaluates eagerly must not report the branch it does not take).
    const how = c.one(["plain", "wrapped", "guarded"] as const);
    Y = te.compute([rows, I.shape[0]], (r, i) => {
      if (how === "plain") return src(r, I(i));
      if (how === "wrapped") return src(r, I(i).floormod(len + 1));
      return te.select(I(i).ge(0).and(I(i).lt(len)), src(r, I(i)), -1);
    }, "Y");
    text.push(`I: [${I.shape[0]}] int32 in [-8, 8], Y[r, i] = ${src.name}[r, I[i]] (${how})`);
  }
  return {
    family: `oob-${kind}`,
    inputs,
    outputs: [Y],
    sizes,
    dtype: "float32",
    text,
    oob: { tensor: src.name, when },
  };
}
