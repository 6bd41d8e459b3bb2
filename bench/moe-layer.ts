// One MoE layer, float32, random weights, at decode (1 token) and small-batch prefill (16, 64,
// 256 tokens), on moec (plan + runtime on the WASM kernels), onnxruntime-node and
// onnxruntime-web (com.microsoft::MoE), all with the same weights and the same hidden states.
// Every engine's output is checked against a float64 computation of the layer (and moec's
// against onnxruntime's) before it is timed.
//
//   node --experimental-strip-types bench/moe-layer.ts --shape olmoe --engines moec,ort-node:1,ort-node:2,ort-web:1 [--out FILE]
//
// Decode iterations walk through 256 different hidden states, so each step routes to its own
// experts and reads their weights from memory (as a real decode step does), instead of
// re-reading the same 8 experts from cache.
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { buildMoeOnnx, expertProj, fillUniform, randomLayer, referenceMoe, relError, type MoeLayerWeights } from "./onnx/moe-model.ts";
import { ortNode, ortWeb, type OrtLayer } from "./onnx/ort.ts";
import { compileSource, layerSource, moecKernels, moecModel } from "./moec.ts";
import { measure, type Stats } from "./timing.ts";

export const SHAPES = {
  olmoe: {
    label: "OLMoE-1B-7B layer",
    experts: 64,
    k: 8,
    hidden: 2048,
    inter: 1024,
  },
  qwen3: {
    label: "Qwen3-30B-A3B layer",
    experts: 128,
    k: 8,
    hidden: 2048,
    inter: 768,
  },
  tiny: {
    label: "tiny layer (smoke test)",
    experts: 8,
    k: 2,
    hidden: 64,
    inter: 32,
  },
} as const;
export type ShapeName = keyof typeof SHAPES;

export const TOKENS = [1, 16, 64, 256] as const;
const ROWS = 256; // distinct hidden states (= the .moe program's vocabulary)
const TOLERANCE = 1e-4; // max |a − b| / max |b|

export interface EngineResult {
  readonly engine: string;
  readonly label: string;
  /** Checks before timing: relative error against float64 and against moec's output. */
  readonly errVsFloat64: number;
  readonly errVsMoec: number | null;
  readonly ok: boolean;
  /** Tokens → timing (absent when the check failed). */
  readonly times: Record<number, Stats>;
  readonly setupSeconds: number;
}

export interface LayerReport {
  readonly shape: ShapeName;
  readonly label: string;
  readonly experts: number;
  readonly k: number;
  readonly hidden: number;
  readonly inter: number;
  /** Bytes one decode step must read: router, the k chosen experts' weights, input and output. */
  readonly decodeBytes: number;
  /** Mean number of distinct experts the measured prefill batches touch (for their floors). */
  readonly expertsTouched: Record<number, number>;
  readonly engines: EngineResult[];
}

interface Engine {
  readonly label: string;
  /** Output [T, hidden] for hidden-state rows [row0, row0 + T). */
  run(row0: number, T: number): Promise<Float32Array> | Float32Array;
  release(): Promise<void> | void;
}

function moecReader(w: MoeLayerWeights, x: Float32Array) {
  return (name: string, into: Float32Array) => {
    if (name === "embed.weight") return into.set(x);
    if (name === "mlp.gate.weight") return into.set(w.router);
    const m = /^mlp\.experts\.(\d+)\.(gate_proj|up_proj|down_proj)\.weight$/.exec(name);
    if (!m) throw new Error(`unexpected weight ${name}`);
    const e = Number(m[1]);
    if (m[2] === "down_proj") return into.set(w.fc2.subarray(e * w.hidden * w.inter, (e + 1) * w.hidden * w.inter));
    expertProj(w, e, m[2] === "gate_proj" ? 0 : 1, into);
  };
}

async function makeEngine(spec: string, w: MoeLayerWeights, x: Float32Array, onnx: () => ReturnType<typeof buildMoeOnnx>): Promise<Engine> {
  const d = w.hidden;
  const mt = /^moec(64)?(?::(\d+))?$/.exec(spec);
  if (mt) {
    const kernels = await moecKernels(Number(mt[2] ?? 1), mt[1] === "64");
    const graph = compileSource("moe-layer.moe", layerSource(w.experts, w.k, d, w.inter, ROWS));
    const model = await moecModel(graph, moecReader(w, x), kernels, ROWS, ROWS);
    return {
      label: kernels.label,
      run(row0, T) {
        model.reset();
        return model.forward(Array.from({ length: T }, (_, t) => row0 + t));
      },
      release: () => model.dispose(),
    };
  }
  const m = /^ort-(node|web):(\d+)$/.exec(spec);
  if (!m) throw new Error(`unknown engine ${spec} (moec[:THREADS], moec64[:THREADS] (64-bit memory), ort-node:THREADS, ort-web:THREADS)`);
  const threads = Number(m[2]);
  const s: OrtLayer = m[1] === "node" ? await ortNode(onnx(), threads) : await ortWeb(onnx(), threads);
  return {
    label: s.name,
    run: (row0, T) => s.run(x.subarray(row0 * d, (row0 + T) * d), T, d),
    release: () => s.release(),
  };
}

/** Distinct experts chosen by a batch (float64 routing, as in referenceMoe). */
function expertsChosen(w: MoeLayerWeights, x: Float32Array, row0: number, T: number): number {
  const { experts: E, hidden: d, k } = w;
  const used = new Set<number>();
  for (let t = row0; t < row0 + T; t++) {
    const logits = Array.from({ length: E }, (_, e) => {
      let s = 0;
      for (let i = 0; i < d; i++) s += w.router[e * d + i]! * x[t * d + i]!;
      return [s, e] as const;
    });
    logits
      .sort((a, b) => b[0] - a[0])
      .slice(0, k)
      .forEach(([, e]) => used.add(e));
  }
  return used.size;
}

export async function runLayer(shape: ShapeName, engineSpecs: readonly string[], log: (s: string) => void, seconds = 1): Promise<LayerReport> {
  const sh = SHAPES[shape];
  const t0 = performance.now();
  const w = randomLayer(sh.experts, sh.k, sh.hidden, sh.inter, 1234);
  const x = fillUniform(new Float32Array(ROWS * sh.hidden), 4321, 1); // hidden states, std 1
  log(
    `${sh.label}: random weights ${((4 * (w.router.length + w.fc1.length + w.fc2.length)) / 2 ** 30).toFixed(2)} GiB in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  let onnxModel: ReturnType<typeof buildMoeOnnx> | null = null;
  const onnx = () => (onnxModel ??= buildMoeOnnx(w, { external: true }));

  // The float64 answers the checks use: the first 4 tokens of the 16-token batch, and one decode token.
  const CHECK_T = 16;
  const ref16 = referenceMoe(w, x, 0, 4);
  const refDecode = referenceMoe(w, x, 37, 38);
  let moec16: Float32Array | null = null;

  const engines: EngineResult[] = [];
  for (const spec of engineSpecs) {
    const s0 = performance.now();
    const eng = await makeEngine(spec, w, x, onnx);
    const setupSeconds = (performance.now() - s0) / 1000;
    const y16 = await eng.run(0, CHECK_T);
    const yDecode = await eng.run(37, 1);
    const errVsFloat64 = Math.max(relError(y16.subarray(0, 4 * sh.hidden), ref16), relError(yDecode, refDecode));
    let errVsMoec: number | null = null;
    if (spec.startsWith("moec") && moec16 === null) moec16 = y16.slice();
    else if (moec16) errVsMoec = relError(y16, moec16);
    const ok = errVsFloat64 < TOLERANCE && (errVsMoec === null || errVsMoec < TOLERANCE);
    log(
      `  ${eng.label}: set up in ${setupSeconds.toFixed(1)} s; error vs float64 ${errVsFloat64.toExponential(2)}${errVsMoec === null ? "" : `, vs moec ${errVsMoec.toExponential(2)}`}${ok ? "" : "  CHECK FAILED: not timed"}`,
    );
    const times: Record<number, Stats> = {};
    if (ok) {
      for (const T of TOKENS) {
        // Decode walks through the 256 hidden states; prefill batches start at row 0.
        // Decode gets twice the time: it is the number that matters most and the shortest call.
        const st = await measure((i) => (T === 1 ? eng.run(i % ROWS, 1) : eng.run(0, T)), { seconds: T === 1 ? 2 * seconds : seconds });
        times[T] = st;
        log(`    T=${String(T).padStart(3)}: median ${st.median.toFixed(2)} ms (p10 ${st.p10.toFixed(2)}, p90 ${st.p90.toFixed(2)}, n=${st.n})`);
      }
    }
    await eng.release();
    engines.push({
      engine: spec,
      label: eng.label,
      errVsFloat64,
      errVsMoec,
      ok,
      times,
      setupSeconds,
    });
  }

  const expertBytes = 4 * 3 * sh.hidden * sh.inter;
  const decodeBytes = 4 * sh.experts * sh.hidden + sh.k * expertBytes + 2 * 4 * sh.hidden;
  const expertsTouched: Record<number, number> = { 1: sh.k };
  for (const T of TOKENS) if (T > 1) expertsTouched[T] = expertsChosen(w, x, 0, T);
  return {
    shape,
    label: sh.label,
    experts: sh.experts,
    k: sh.k,
    hidden: sh.hidden,
    inter: sh.inter,
    decodeBytes,
    expertsTouched,
    engines,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      shape: { type: "string", default: "olmoe" },
      engines: {
        type: "string",
        default: "moec,ort-node:1,ort-node:2,ort-web:1",
      },
      seconds: { type: "string", default: "1" },
      out: { type: "string" },
    },
  });
  if (!(values.shape! in SHAPES)) throw new Error(`--shape ${values.shape}: one of ${Object.keys(SHAPES).join(", ")}`);
  const report = await runLayer(values.shape as ShapeName, values.engines!.split(","), (s) => console.error(s), Number(values.seconds));
  if (values.out) writeFileSync(values.out, JSON.stringify(report, null, 2));
  else console.log(JSON.stringify(report, null, 2));
}
