// Per-expert mixed precision (`--quantize budget=B`), as MC# chooses it: each routed expert
// gets one storage format from a ladder (q8_0 … q2_k) so that the experts' weights average at
// most B bits per weight, minimising the output error the quantization causes, weighted by how
// often each expert is chosen.
//
// Statistics come from one calibration pass of the reference interpreter over float32 weights:
// for every routed expert, the tokens routed to it (n_e), and for every candidate format q its
// output error on those tokens with its weights quantized to q, all else float32:
//   err(e, q) = Σ_t w_t² ‖expert_q(x_t) − expert(x_t)‖²   (w_t the token's mixing weight)
// The cost of giving e the format q is its expected frequency times its expected error per token,
// both shrunk toward its layer's (expectedCosts: a short calibration pass is noisy). A multiple-choice knapsack,
// solved exactly by dynamic programming over the bit budget in 1/20000 steps, picks the
// formats. Other quantizable weights (attention, shared experts, embeddings, the output head)
// take q8_0.
import type { Graph, Node, ExpertGroupAttr } from "../ir/graph.js";
import { STORAGE_FORMATS, bitsPerWeight, type StorageFormat } from "../../runtime/plan/formats.js";
import { expertTensor } from "../../runtime/moe/experts.js";
import { decodeWeight } from "../../runtime/weights/decode.js";
import { ReferenceSession, type ExpertRun, type WeightStore } from "../reference/interpreter.js";
import { encodeWeight } from "./encode.js";
import { fitFormat, type QuantizeSpec } from "./scheme.js";
import { expectedTensors } from "../weights/expected.js";
import type { BoundWeights } from "../weights/bound.js";
import { RunError } from "../run/load.js";

/** The formats an expert may get, most bits first (those the formats table has). */
export const LADDER: readonly StorageFormat[] = (["q8_0", "q6_k", "q5_k", "q4_k", "q3_k", "q2_k"] as string[]).filter((f): f is StorageFormat => STORAGE_FORMATS.includes(f as StorageFormat));
/** Quantizable weights outside the routed experts. */
export const OTHERS: StorageFormat = "q8_0";
const STEPS = 20000;

interface Unit {
  /** "layer 3 expert 17" (experts sharing a stacked tensor form one unit). */
  readonly label: string;
  readonly layer: number | null;
  readonly experts: number[];
  readonly names: readonly string[];
  readonly shapes: readonly (readonly number[])[];
  readonly size: number;
  tokens: number;
  /** Σ w²‖Δy‖² per ladder format. */
  readonly err: number[];
}

export interface MixedChoice {
  readonly spec: QuantizeSpec;
  /** For --json and the report: each unit's tokens, chosen format and errors. */
  readonly report: {
    readonly budget: number;
    readonly expertBitsPerWeight: number;
    readonly others: StorageFormat;
    readonly ladder: readonly StorageFormat[];
    readonly calibrationTokens: number;
    readonly experts: readonly { label: string; tokens: number; format: StorageFormat; bits: number; error: readonly number[] }[];
  };
}

/** The routed experts as units, each with its weight names (from the graph's MoE nodes). */
function expertUnits(graph: Graph): Map<string, Unit> {
  const units = new Map<string, Unit>();
  for (const n of graph.nodes) {
    if (n.op !== "moe") continue;
    const groups = n.attrs["experts"] as unknown as ExpertGroupAttr[];
    let first = 0;
    groups.forEach((g, gi) => {
      const body = n.subgraphs[`expert${gi}`];
      if (body) {
        const params = [...expectedTensors(body)].filter(([, t]) => t.shape.length >= 2);
        for (let local = 0; local < g.count; local++) {
          const ts = params.map(([name, t]) => expertTensor(name, t.shape, { global: first + local, local, count: g.count }));
          const key = unitKey(n, first + local);
          const names = ts.map((t) => t.name);
          const merged = [...units.values()].find((u) => u.names.some((x) => names.includes(x)));
          if (merged) {
            merged.experts.push(first + local);
            units.set(key, merged);
            continue;
          }
          units.set(key, { label: `${n.layer !== null ? `layer ${n.layer}` : n.name} expert ${first + local}`, layer: n.layer, experts: [first + local], names, shapes: ts.map((t) => t.shape), size: ts.reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0), tokens: 0, err: LADDER.map(() => 0) });
        }
      }
      first += g.count;
    });
  }
  return units;
}

const unitKey = (n: Node, expert: number) => `${n.id}/${expert}`;

/**
 * Every routed expert in `format`, the other quantizable weights in OTHERS: the uniform scheme a
 * budget is compared with at the same expert size (a plain `--quantize q3_k` also stores the
 * attention and embeddings in q3_k, so its error is not the experts' alone).
 */
export function expertsSpec(graph: Graph, format: StorageFormat): QuantizeSpec {
  const formats = new Map<string, StorageFormat>();
  for (const u of expertUnits(graph).values()) for (const n of u.names) formats.set(n, format);
  return { kind: "assign", formats, others: OTHERS, text: `experts=${format}` };
}

/** Bits per weight a unit takes in ladder format q (each tensor in q, or its fallback). */
function unitBits(u: Unit, q: StorageFormat): number {
  let bits = 0;
  u.shapes.forEach((s) => (bits += bitsPerWeight(fitFormat(q, s[s.length - 1]!), s[s.length - 1]) * s.reduce((a, b) => a * b, 1)));
  return bits / u.size;
}

/** Measures the statistics on the calibration ids and solves the budget. */
export async function solveBudget(graph: Graph, weights: BoundWeights, _target: string, budget: number, ids: readonly number[], _threads: number): Promise<MixedChoice> {
  const units = expertUnits(graph);
  if (units.size === 0) throw new RunError(`--quantize budget=${budget}: ${graph.name} has no routed experts to give bits to; use a uniform scheme (int4, q4_k, …)`);
  // The float32 weights (the calibration pass runs on the host).
  const base = new Map<string, Float32Array>();
  for (const [name] of expectedTensors(graph)) base.set(name, await weights.readF32(name));
  const unitOf = new Map<string, Unit>();
  for (const u of new Set(units.values())) for (const n of u.names) unitOf.set(n, u);
  const quantized = LADDER.map((q) => {
    const cache = new Map<string, Float32Array>();
    const store: WeightStore = {
      get(name) {
        const u = unitOf.get(name);
        const w = base.get(name);
        if (!u || !w) return w;
        let d = cache.get(name);
        if (!d) {
          const shape = u.shapes[u.names.indexOf(name)]!;
          const f = fitFormat(q, shape[shape.length - 1]!);
          d = decodeWeight(f, encodeWeight(f, w, shape), shape);
          cache.set(name, d);
        }
        return d;
      },
    };
    return store;
  });
  const observe = (r: ExpertRun) => {
    const u = units.get(unitKey(r.node, r.expert.global));
    if (!u) return;
    u.tokens += r.weights.length;
    const d = r.out.shape[r.out.shape.length - 1]!;
    quantized.forEach((store, qi) => {
      const y = r.rerun(store);
      let e = 0;
      for (let t = 0; t < r.weights.length; t++) {
        let s = 0;
        for (let k = 0; k < d; k++) s += (y.data[t * d + k]! - r.out.data[t * d + k]!) ** 2;
        e += r.weights[t]! ** 2 * s;
      }
      u.err[qi]! += e;
    });
  };
  const session = new ReferenceSession(graph, { get: (n) => base.get(n) }, observe);
  session.forward(Int32Array.from(ids));
  return solve([...new Set(units.values())], budget, ids.length);
}

/**
 * Each unit's cost per ladder format: its expected share of the tokens times its expected error
 * per token. A calibration pass of a few dozen tokens sees each expert a handful of times, so
 * both are shrunk toward the layer's (empirical Bayes with a prior worth one average expert's
 * tokens, n̄): tokens (n_e + n̄) / 2, error per token (err_e + n̄·m_L) / (n_e + n̄), m_L the layer's
 * error per token. Without it the knapsack chased the noise of the counts (on the benchmark's
 * 'small' model, 128 held-out ids: budget=4.5 at 0.34 logit error against 0.19 with it, every
 * expert in q4_k 0.18). An expert never seen takes half an average expert's tokens at the layer's error.
 */
function expectedCosts(units: readonly Unit[]): number[][] {
  const layers = new Map<number | null, { units: number; tokens: number; err: number[] }>();
  for (const u of units) {
    const l = layers.get(u.layer) ?? { units: 0, tokens: 0, err: LADDER.map(() => 0) };
    l.units++;
    l.tokens += u.tokens;
    u.err.forEach((e, q) => (l.err[q]! += e));
    layers.set(u.layer, l);
  }
  return units.map((u) => {
    const l = layers.get(u.layer)!;
    const mean = l.tokens / l.units;
    return u.err.map((e, q) => {
      const layerPerToken = l.tokens > 0 ? l.err[q]! / l.tokens : 0;
      const perToken = u.tokens + mean > 0 ? (e + mean * layerPerToken) / (u.tokens + mean) : 0;
      return ((u.tokens + mean) / 2) * perToken;
    });
  });
}

/** The knapsack: formats per unit minimising Σ cost under the bit budget. */
export function solve(units: readonly Unit[], budget: number, calibrationTokens: number): MixedChoice {
  const cost = expectedCosts(units);
  const bits = units.map((u) => LADDER.map((q) => unitBits(u, q)));
  const total = units.reduce((s, u) => s + u.size, 0);
  const cap = budget * total;
  const delta = cap / STEPS;
  const wt = units.map((u, i) => bits[i]!.map((b) => Math.ceil((b * u.size) / delta)));
  const minBits = units.reduce((s, u, i) => s + Math.min(...bits[i]!) * u.size, 0) / total;
  if (units.some((_, i) => Math.min(...wt[i]!) > STEPS) || minBits > budget) {
    throw new RunError(`--quantize budget=${budget}: the experts cannot be stored in ${budget} bits per weight; the fewest bits the formats their rows fit give is ${minBits.toFixed(3)} (ladder ${LADDER.join(", ")}); raise the budget`);
  }
  // best[c]: least cost with capacity c; choice[i][c]: the format unit i took there.
  let best = new Float64Array(STEPS + 1).fill(0);
  const choice = units.map(() => new Int8Array(STEPS + 1).fill(-1));
  for (let i = 0; i < units.length; i++) {
    const next = new Float64Array(STEPS + 1).fill(Infinity);
    for (let c = 0; c <= STEPS; c++) {
      for (let q = 0; q < LADDER.length; q++) {
        const w = wt[i]![q]!;
        if (w > c) continue;
        const v = best[c - w]! + cost[i]![q]!;
        if (v < next[c]!) {
          next[c] = v;
          choice[i]![c] = q;
        }
      }
    }
    best = next;
  }
  // Walk back from the full capacity.
  let c = STEPS;
  const picked = new Array<number>(units.length);
  for (let i = units.length - 1; i >= 0; i--) {
    const q = choice[i]![c]!;
    picked[i] = q;
    c -= wt[i]![q]!;
  }
  const formats = new Map<string, StorageFormat>();
  units.forEach((u, i) => u.names.forEach((n) => formats.set(n, LADDER[picked[i]!]!)));
  const used = units.reduce((s, u, i) => s + bits[i]![picked[i]!]! * u.size, 0) / total;
  return {
    spec: { kind: "assign", formats, others: OTHERS, text: `budget=${budget}` },
    report: {
      budget,
      expertBitsPerWeight: used,
      others: OTHERS,
      ladder: LADDER,
      calibrationTokens,
      experts: units.map((u, i) => ({ label: u.label, tokens: u.tokens, format: LADDER[picked[i]!]!, bits: bits[i]![picked[i]!]!, error: u.err })),
    },
  };
}
