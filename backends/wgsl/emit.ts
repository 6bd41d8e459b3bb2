// The WGSL emitter: `kernels.wgsl`, every program the device compiles, each in its default
// binding pattern (one binding per pointer parameter), for reading and for validation. The
// device prints the same sources itself (programs.ts) for the binding patterns a plan needs.
import { listingPattern, PROGRAMS, source } from "./programs.js";

export function wgslListing(): string {
  return PROGRAMS.map((p) => `// ===== ${p.name} =====\n${source(p, listingPattern(p))}`).join("\n");
}

export async function buildWgslFile(name: string): Promise<Uint8Array> {
  if (name !== "kernels.wgsl") throw new Error(`the webgpu backend has no file ${name}`);
  return new TextEncoder().encode(wgslListing());
}
