/**
 * Shared by the C backend's tests: compiled kernels go to one cache directory for all test
 * runs on this machine (under the system temp dir) instead of the user's cache. Every test
 * file in a `deno test --parallel` run shares one environment, so they must agree on one
 * directory; a fixed one also makes reruns fast (the cache key is the whole source and
 * flags, so a hit is always the right library) and leaves no pile of temp dirs behind.
 */
import { tmpdir } from "node:os";

export function useTestCache(): string {
  const dir = Deno.env.get("TESSERA_CACHE_DIR") ?? `${tmpdir()}/tessera-test-cache`;
  Deno.env.set("TESSERA_CACHE_DIR", dir);
  return dir;
}
