/**
 * Whether this process is a Jupyter kernel, and the part of `Deno.jupyter` Tessera uses.
 * Outside `deno jupyter` merely reading `Deno.jupyter` throws, so the lookup is guarded; the
 * namespace is typed here by hand so that nothing depends on how a Deno release types it.
 */

export interface JupyterDisplayOptions {
  raw?: boolean;
  display_id?: string;
  update?: boolean;
}

export interface JupyterApi {
  display(obj: unknown, options?: JupyterDisplayOptions): Promise<void>;
  broadcast(msgType: string, content: Record<string, unknown>): Promise<void>;
}

/** The kernel's API when running inside `deno jupyter`, else null. */
export function jupyter(): JupyterApi | null {
  try {
    const j = (Deno as unknown as { jupyter?: Partial<JupyterApi> }).jupyter;
    return j && typeof j.broadcast === "function" && typeof j.display === "function"
      ? j as JupyterApi
      : null;
  } catch {
    return null;
  }
}

export function inJupyter(): boolean {
  return jupyter() !== null;
}
