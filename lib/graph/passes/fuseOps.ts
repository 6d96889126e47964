/**
 * Operator fusion by TVM's post-dominator rules (relay/relax `FuseOps`, GraphPartitioner):
 * each node's immediate post-dominator is found over its consumers (a node whose value is a
 * graph output has none: it must be materialized), and a node is fused into the group of its
 * post-dominator when every node on the paths between them allows it:
 *   - out-elementwise-fusable (matmul, conv): when the relation to the post-dominator is
 *     elementwise and the paths are at most broadcast (epilogues: bias, relu, residual add);
 *   - elementwise or broadcast: into a post-dominator reached through injective ops that is
 *     itself injective, a reduction or an out-elementwise-fusable group (producers fuse into
 *     consumers, and into reductions as their prologue);
 *   - injective: in a second phase (so convolutions finish fusing first), along injective
 *     paths only;
 *   - reductions and opaque nodes are never fused into what follows them.
 * Groups are capped at `maxGroupSize` nodes. The result is a partition of the graph's nodes
 * into groups, each later merged into one `te` program (fusedProgram.ts).
 */
import type { Graph, Node, Value } from "../ir.ts";
import { maxPattern, nodePattern, type Pattern, rank } from "../patterns.ts";

export interface FusedGroup {
  /** Position in execution order. */
  readonly id: number;
  /** Its nodes, in the graph's (topological) order. */
  readonly nodes: readonly Node[];
  /** Values read from outside the group (graph inputs, params, other groups' outputs). */
  readonly inputs: readonly Value[];
  /** Values read after the group or returned by the graph. */
  readonly outputs: readonly Value[];
  /** The most general pattern among its nodes. */
  readonly pattern: Pattern;
  /** A readable name: `fused_conv2d_add_relu`. */
  readonly name: string;
}

/** A graph with its nodes partitioned into fused groups, in execution order. */
export interface Partition {
  readonly graph: Graph;
  readonly groups: readonly FusedGroup[];
  /** Each node's own pattern. */
  readonly patterns: ReadonlyMap<Node, Pattern>;
}

export interface FuseOptions {
  /** The most nodes in one group (TVM's max_fuse_depth); default 32. */
  maxGroupSize?: number;
  /** Disable fusion: every node its own group (the unfused baseline). */
  disable?: boolean;
}

interface Edge {
  node: number;
  pattern: Pattern;
}

export function fuseOps(g: Graph, opts: FuseOptions = {}): Partition {
  const maxSize = opts.maxGroupSize ?? 32;
  const nodes = g.nodes;
  const index = new Map<Node, number>(nodes.map((n, i) => [n, i]));
  const patterns = new Map<Node, Pattern>(nodes.map((n) => [n, nodePattern(n)]));
  const pat = (i: number) => patterns.get(nodes[i])!;
  const outputs = new Set(g.outputs);
  // Consumers of each node, with the edge's pattern: the consumer's, except that a broadcast
  // consumer reading an input of its own output shape is elementwise along that edge.
  const consumers: Edge[][] = nodes.map(() => []);
  nodes.forEach((n, j) => {
    n.inputs.forEach((v) => {
      const i = v.producer ? index.get(v.producer) : undefined;
      if (i === undefined || consumers[i].some((e) => e.node === j)) return;
      let p = pat(j);
      const same = v.shape.length === n.outputs[0].shape.length &&
        v.shape.every((d, k) => d === n.outputs[0].shape[k]);
      if (p === "broadcast" && same) p = "elementwise";
      consumers[i].push({ node: j, pattern: p });
    });
  });
  const extern = nodes.map((n) => n.outputs.some((v) => outputs.has(v)));

  // The post-dominator tree: parent (or -1 for none), depth, and the relation's pattern.
  const parent = new Array<number>(nodes.length).fill(-1);
  const depth = new Array<number>(nodes.length).fill(1);
  const domPattern = new Array<Pattern>(nodes.length).fill("opaque");
  const lca = (a: number, b: number, p: Pattern): [number, Pattern] => {
    while (a !== b) {
      if (a < 0 || b < 0) return [-1, p];
      if (depth[a] < depth[b]) {
        p = maxPattern(p, domPattern[b]);
        b = parent[b];
      } else if (depth[a] > depth[b]) {
        p = maxPattern(p, domPattern[a]);
        a = parent[a];
      } else {
        p = maxPattern(p, maxPattern(domPattern[a], domPattern[b]));
        a = parent[a];
        b = parent[b];
      }
    }
    return [a, p];
  };
  for (let i = nodes.length - 1; i >= 0; i--) {
    if (extern[i] || consumers[i].length === 0) continue;
    let [a, p] = [consumers[i][0].node, consumers[i][0].pattern];
    for (const e of consumers[i].slice(1)) [a, p] = lca(a, e.node, maxPattern(p, e.pattern));
    parent[i] = a;
    depth[i] = a < 0 ? 1 : depth[a] + 1;
    domPattern[i] = p;
  }

  // Union-find over groups.
  const up = nodes.map((_, i) => i);
  const size = nodes.map(() => 1);
  const gpat = nodes.map((_, i) => pat(i));
  const root = (i: number): number => (up[i] === i ? i : (up[i] = root(up[i])));
  const merge = (child: number, into: number) => {
    const c = root(child), p = root(into);
    if (c === p) return;
    up[c] = p;
    size[p] += size[c];
    gpat[p] = maxPattern(gpat[p], gpat[c]);
  };
  /** Nodes strictly between src and sink (by consumer edges), sink excluded. */
  const between = (src: number, sink: number): number[] => {
    const seen = new Set<number>();
    const go = (i: number) => {
      if (i === sink || seen.has(i)) return;
      seen.add(i);
      consumers[i].forEach((e) => go(e.node));
    };
    go(src);
    return [...seen];
  };
  const checkPath = (src: number, sink: number, ok: (p: Pattern, isSink: boolean) => boolean) => {
    const mid = between(src, sink).filter((i) => i !== src);
    return mid.every((i) => ok(gpat[root(i)], false)) && ok(gpat[root(sink)], true);
  };
  const fusedSize = (src: number, sink: number) => {
    const roots = new Set(between(src, sink).map(root));
    roots.delete(root(sink));
    return [...roots].reduce((a, r) => a + size[r], size[root(sink)]);
  };
  const le = (p: Pattern, q: Pattern) => rank(p) <= rank(q);

  if (!opts.disable) {
    for (const phase of [0, 1]) {
      for (let i = 0; i < nodes.length; i++) {
        const gp = gpat[root(i)];
        const sink = parent[i];
        if (gp === "opaque" || sink < 0) continue;
        if (root(i) === root(sink)) continue;
        if (fusedSize(i, sink) > maxSize) continue;
        let fuse = false;
        if (gp === "outEWiseFusable") {
          fuse = phase === 0 && domPattern[i] === "elementwise" &&
            checkPath(i, sink, (p) => le(p, "broadcast"));
        } else if (le(gp, "broadcast")) {
          fuse = (le(domPattern[i], "injective") || domPattern[i] === "commReduce") &&
            checkPath(i, sink, (p, isSink) => isSink ? p !== "opaque" : le(p, "injective"));
        } else if (gp === "injective") {
          fuse = phase === 1 && checkPath(i, sink, (p) => le(p, "injective"));
        }
        if (fuse) { for (const j of between(i, sink)) merge(j, sink); }
      }
    }
  }

  // Groups in execution order: a topological order of the groups (the first ready group by
  // its first node's position each time), since a group's members may interleave with other
  // nodes in the graph's order.
  const members = new Map<number, Node[]>();
  nodes.forEach((n, i) => {
    const r = root(i);
    if (!members.has(r)) members.set(r, []);
    members.get(r)!.push(n);
  });
  const pending = [...members.values()];
  const done = new Set<Node>();
  const lists: Node[][] = [];
  while (pending.length > 0) {
    const k = pending.findIndex((l) => {
      const own = new Set(l);
      return l.every((n) =>
        n.inputs.every((v) => !v.producer || done.has(v.producer) || own.has(v.producer))
      );
    });
    if (k < 0) throw new Error("internal: fused groups depend on each other in a cycle");
    const [l] = pending.splice(k, 1);
    l.forEach((n) => done.add(n));
    lists.push(l);
  }
  const groupOf = new Map<Node, number>();
  lists.forEach((l, k) => l.forEach((n) => groupOf.set(n, k)));
  const readers = g.users();
  const groups = lists.map((list, id): FusedGroup => {
    const own = new Set(list.flatMap((n) => n.outputs));
    const inputs: Value[] = [];
    for (const n of list) {
      for (const v of n.inputs) if (!own.has(v) && !inputs.includes(v)) inputs.push(v);
    }
    const outs = [...own].filter((v) =>
      outputs.has(v) || (readers.get(v) ?? []).some((r) => groupOf.get(r) !== id)
    );
    const pattern = list.map((n) => patterns.get(n)!).reduce(maxPattern);
    const name = `fused_${list.map((n) => n.op).join("_")}`.slice(0, 48);
    return { id, nodes: list, inputs, outputs: outs, pattern, name };
  });
  return { graph: g, groups, patterns };
}
