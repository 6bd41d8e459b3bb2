// The `js` backend as the runtime sees it: the TypeScript kernels, in every JS engine.
import type { RuntimeBackend } from "../../runtime/backend.js";
import { STORAGE_FORMATS } from "../../runtime/plan/formats.js";
import { jsDevice } from "./device.js";

export const jsBackend = {
  target: "js",
  summary: "the kernels in TypeScript (float64 accumulation): every JS engine; slow, a second opinion",
  capabilities: { formats: STORAGE_FORMATS, threads: false, memory64: true, hosts: ["node", "browser", "deno"] },
  files: [],
  available: () => true,
  device: async () => jsDevice(),
} as const satisfies RuntimeBackend;
