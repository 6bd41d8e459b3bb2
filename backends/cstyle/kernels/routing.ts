// Token-choice routing as route() in runtime/moe/routing.ts, on devices without f64: two
// programs of the route_topk kernel. `select` gives each token a thread that scores its E
// router logits, picks its k experts (group-limited when asked) and their weights, and writes
// them to `work`; `sort` (one workgroup) counts each expert's tokens, writes the E+1 offsets,
// and lays the assignments out by expert, tokens ascending within each — the layout every
// device's route_topk produces. Scores are computed in f32 where route() uses f64: the
// difference x − max is kept exact as a pair (hi, lo) and sums are compensated, so weights
// stay within 1e-6 of route()'s (test/conformance checks it) and the chosen experts are the
// same unless two scores tie to within f32 rounding (sigmoid scores without a selection bias
// are ranked by their logits, so saturation near 1 makes no ties there).
import { blocks, type Dialect, type Helper, type Program } from "../dialect.js";
import { EXP } from "../math.js";

/** Most experts per token and groups per router these programs take (registers). */
export const MAX_K = 32;
export const MAX_GROUPS = 64;

const NEG_INF = (c: Dialect) => c.bits("f32", c.u(0xff800000));
const isNegInf = (c: Dialect, v: string) => `${c.bits("u32", v)} == ${c.u(0xff800000)}`;
/** A softmax share of a −∞ logit: 0, or NaN when every logit is −∞ (the sum is 0: 0/0 as in route()). */
const zeroShare = (c: Dialect, sum: string) => c.select(`${sum} == ${c.f(0)}`, c.bits("f32", c.u(0x7fc00000)), c.f(0));

/** exp(a − b) for f32 a, b, with the difference carried exactly as hi + lo (two-sum). */
const EXP_DIFF: Helper = {
  name: "m_exp_diff",
  uses: [EXP],
  print: (c) =>
    c.fn("m_exp_diff", [["a", "f32"], ["b", "f32"]], "f32", [
      c.let("hi", "f32", c.keep("a - b")),
      c.let("bb", "f32", c.keep("hi - a")),
      c.let("lo", "f32", `${c.keep(`a - ${c.keep("hi - bb")}`)} + ${c.keep("-b - bb")}`),
      `return m_exp(hi) * (${c.f(1)} + lo);`,
    ]),
};

/** The f32 logits at and beyond which route()'s 1 / (1 + Math.exp(−x)) is exactly 1, and exactly 0. */
const SIGMOID_ONE = 36.73680114746094;
const SIGMOID_ZERO = -709.78271484375;

/** The per-token score of expert i, its selection value (score + selection bias) and its rank value. */
function scoreFns(c: Dialect): string[] {
  return [
    c.fn("r_score", [["row", "i32"], ["i", "i32"], ["m", "f32"], ["s", "f32"]], "f32", [
      c.let("x", "f32", c.ld("logits", "row + i")),
      c.let("sc", "i32", c.arg("scoring")),
      ...c.if("sc == 0", [...c.if(isNegInf(c, "x"), [`return ${zeroShare(c, "s")};`]), "return m_exp_diff(x, m) / s;"]),
      ...c.if("sc == 1", [...c.if(isNegInf(c, "x"), [`return ${c.f(0)};`]), `return ${c.f(1)} / (${c.f(1)} + m_exp(-x));`]),
      "return x;",
    ]),
    c.fn("r_sel", [["row", "i32"], ["i", "i32"], ["m", "f32"], ["s", "f32"]], "f32", [
      c.let("v", "f32", "r_score(row, i, m, s)"),
      ...c.if(`${c.arg("bias_set")} != 0`, [`return v + ${c.ld("bias", "i")};`]),
      "return v;",
    ]),
    // What the experts are ranked by. Sigmoid scores without a selection bias rank as their
    // logits do, clamped where route()'s float64 sigmoid is exactly 1 or 0 (so those still tie):
    // an f32 sigmoid is 1 from x ≈ 16.6 on, and would tie logits that route() tells apart.
    c.fn("r_rank", [["row", "i32"], ["i", "i32"], ["m", "f32"], ["s", "f32"]], "f32", [
      ...c.if(`${c.arg("scoring")} == 1 && ${c.arg("bias_set")} == 0`, [
        `return ${c.math("min", c.math("max", c.ld("logits", "row + i"), c.f(SIGMOID_ZERO)), c.f(SIGMOID_ONE))};`,
      ]),
      "return r_sel(row, i, m, s);",
    ]),
  ];
}

const SCORE: Helper = { name: "r_score", uses: [EXP_DIFF, EXP], print: (c) => scoreFns(c).join("\n") };

/** Softmax statistics of a row: the largest finite logit (0 if none) and Σ exp(x − m), compensated. */
function softmaxStats(c: Dialect, row: string, from: string, to: string, m: string, s: string, value: (i: string) => string): string[] {
  return [
    c.var(m, "f32", NEG_INF(c)),
    c.var(`${m}_any`, "bool", "false"),
    ...c.for("i", from, to, [c.let("x", "f32", value("i")), ...c.if(`!(${isNegInf(c, "x")})`, [`${m} = ${c.select(`${m}_any`, c.math("max", m, "x"), "x")};`, `${m}_any = true;`])]),
    ...c.if(`!${m}_any`, [`${m} = ${c.f(0)};`]),
    c.var(s, "f32", c.f(0)),
    c.var(`${s}_c`, "f32", c.f(0)),
    ...c.for("i", from, to, [
      c.let("x", "f32", value("i")),
      ...c.if(`!(${isNegInf(c, "x")})`, [
        c.let("e", "f32", `m_exp_diff(x, ${m})`),
        c.let("yk", "f32", c.keep(`e - ${s}_c`)),
        c.let("tk", "f32", c.keep(`${s} + yk`)),
        `${s}_c = ${c.keep(`${c.keep(`tk - ${s}`)} - yk`)};`,
        `${s} = tk;`,
      ]),
    ]),
    `// row ${row}`,
  ];
}

/** Token `t`'s experts and weights into `work` (t an i32 variable in scope, below T). */
export function selectToken(c: Dialect): string[] {
  return [
    c.let("E", "i32", c.arg("E")),
    c.let("k", "i32", c.arg("k")),
    c.let("row", "i32", "t * E"),
    c.let("sc", "i32", c.arg("scoring")),
    c.let("A", "i32", `${c.arg("T")} * k`),
    c.array("chosen", "i32", MAX_K),
    c.array("wts", "f32", MAX_K),
    ...softmaxStats(c, "row", c.i(0), "E", "m", "s", (i) => c.ld("logits", `row + ${i}`)),
    ...c.if("sc == 3", sparsemixer(c), [
      // Group-limited selection: keep the topk_groups best groups (ties: lower index).
      c.var("keep0", "u32", c.u(0xffffffff)),
      c.var("keep1", "u32", c.u(0xffffffff)),
      c.let("G", "i32", c.arg("groups")),
      ...c.if("G > 1", [
        "keep0 = 0u; keep1 = 0u;".replace(/0u/g, c.u(0)),
        c.let("size", "i32", "E / G"),
        c.array("gs", "f32", MAX_GROUPS),
        ...c.for("g", c.i(0), "G", [
          c.var("b1", "f32", NEG_INF(c)),
          c.var("b2", "f32", NEG_INF(c)),
          c.var("n", "i32", c.i(0)),
          ...c.for("i", "g * size", "(g + 1) * size", [
            // max: the best rank value (monotone in the score); top2_sum adds selection values.
            c.let("v", "f32", c.select(`${c.arg("group_scoring")} == 0`, "r_rank(row, i, m, s)", "r_sel(row, i, m, s)")),
            ...c.if("n == 0 || v > b1", ["b2 = b1;", "b1 = v;"], [...c.if("n == 1 || v > b2", ["b2 = v;"])]),
            "n = n + 1;",
          ]),
          `gs[g] = ${c.select(`${c.arg("group_scoring")} == 0`, "b1", c.select("size > 1", "b1 + b2", `b1 + ${c.f(0)}`))};`,
        ]),
        ...c.for("r", c.i(0), c.arg("topk_groups"), [
          c.var("best", "i32", c.i(-1)),
          ...c.for("g", c.i(0), "G", [
            c.let("taken", "bool", `((${c.select("g < 32", "keep0", "keep1")} >> ${c.cast("u32", "g & 31")}) & ${c.u(1)}) != ${c.u(0)}`),
            ...c.if("!taken && (best < 0 || gs[g] > gs[best])", ["best = g;"]),
          ]),
          ...c.if("best >= 0", [...c.if("best < 32", [`keep0 = keep0 | (${c.u(1)} << ${c.cast("u32", "best")});`], [`keep1 = keep1 | (${c.u(1)} << ${c.cast("u32", "best - 32")});`])]),
        ]),
      ]),
      c.let("gsize", "i32", c.select("G > 1", "E / G", "E")),
      // Top-k by selection value, ties to the lower index.
      ...c.for("r", c.i(0), "k", [
        c.var("best", "i32", c.i(-1)),
        c.var("bv", "f32", c.f(0)),
        ...c.for("i", c.i(0), "E", [
          c.let("g", "i32", "i / gsize"),
          c.let("allowed", "bool", `((${c.select("g < 32", "keep0", "keep1")} >> ${c.cast("u32", "g & 31")}) & ${c.u(1)}) != ${c.u(0)}`),
          c.var("taken", "bool", "false"),
          ...c.for("q", c.i(0), "r", [...c.if("chosen[q] == i", ["taken = true;"])]),
          ...c.if("allowed && !taken", [c.let("v", "f32", "r_rank(row, i, m, s)"), ...c.if("best < 0 || v > bv", ["best = i;", "bv = v;"])]),
        ]),
        "chosen[r] = best;",
      ]),
      // Weights: the scores of the chosen, or a softmax over their logits (softmax_topk).
      ...c.if("sc == 2", [
        ...softmaxStats(c, "row", c.i(0), "k", "m2", "s2", (q) => c.ld("logits", `row + chosen[${q}]`)),
        ...c.for("q", c.i(0), "k", [
          c.let("x", "f32", c.ld("logits", "row + chosen[q]")),
          `wts[q] = ${c.select(isNegInf(c, "x"), zeroShare(c, "s2"), "m_exp_diff(x, m2) / s2")};`,
        ]),
      ], [...c.for("q", c.i(0), "k", ["wts[q] = r_score(row, chosen[q], m, s);"])]),
      ...c.if(`${c.arg("renormalize")} != 0`, [
        c.var("sum", "f32", c.f(0)),
        ...c.for("q", c.i(0), "k", ["sum = sum + wts[q];"]),
        `sum = sum + ${c.f(1e-20)};`,
        ...c.for("q", c.i(0), "k", ["wts[q] = wts[q] / sum;"]),
      ]),
    ]),
    ...c.for("q", c.i(0), "k", [c.sti("work", "t * k + q", "chosen[q]"), c.st("work", "A + t * k + q", `wts[q] * ${c.arg("scale")}`)]),
  ];
}

export const SELECT_HELPERS: Helper[] = [SCORE, EXP_DIFF, EXP];

export const routeSelect: Program = {
  name: "route_topk.select",
  kernel: "route_topk",
  threads: 64,
  writes: ["work"],
  helpers: SELECT_HELPERS,
  grid: (a) => blocks(a("T"), 64),
  body: (c) => [c.let("t", "i32", `${c.group} * 64 + ${c.tid}`), ...c.if(`t >= ${c.arg("T")}`, ["return;"]), ...selectToken(c)],
};

/** Phi-3.5-MoE's sparsemixer (k = 2): two masked-softmax picks. */
function sparsemixer(c: Dialect): string[] {
  const pick = (r: number, exclude: string) => [
    c.var(`best${r}`, "i32", c.i(-1)),
    c.var(`th${r}`, "f32", c.f(0)),
    ...c.for("i", c.i(0), "E", [
      c.let("v", "f32", c.select(`i == ${exclude}`, NEG_INF(c), c.ld("logits", "row + i"))),
      ...c.if(`best${r} < 0 || v > th${r}`, [`best${r} = i;`, `th${r} = v;`]),
    ]),
    // gated_i = −∞ where (threshold − x_i)/max(|x_i|, threshold) > 2·eps, else the masked logit
    ...softmaxStats(c, "row", c.i(0), "E", `gm${r}`, `gsum${r}`, (i) => `sm_gated(row, ${i}, ${exclude}, th${r})`),
    c.let(`gb${r}`, "f32", `sm_gated(row, best${r}, ${exclude}, th${r})`),
    `chosen[${r}] = best${r};`,
    `wts[${r}] = ${c.select(isNegInf(c, `gb${r}`), zeroShare(c, `gsum${r}`), `m_exp_diff(gb${r}, gm${r}) / gsum${r}`)};`,
  ];
  return [...pick(0, c.i(-1)), ...pick(1, "best0")];
}

const SM_GATED: Helper = {
  name: "sm_gated",
  print: (c) =>
    c.fn("sm_gated", [["row", "i32"], ["i", "i32"], ["exclude", "i32"], ["th", "f32"]], "f32", [
      c.let("x", "f32", c.ld("logits", "row + i")),
      c.let("masked", "f32", c.select("i == exclude", NEG_INF(c), "x")),
      c.let("factor", "f32", c.math("max", c.math("abs", "x"), "th")),
      ...c.if(`(th - x) / factor > ${c.f(2)} * ${c.arg("eps")}`, [`return ${NEG_INF(c)};`]),
      "return masked;",
    ]),
};
SELECT_HELPERS.push(SM_GATED);

/** One workgroup: per-expert counts, the E+1 offsets, and the assignments laid out by expert. */
export const routeSort: Program = {
  name: "route_topk.sort",
  kernel: "route_topk",
  threads: 256,
  writes: ["counts", "tok_out", "w_out"],
  grid: () => 1,
  body: (c) => sortBody(c),
};

/** One workgroup of 256 threads: offsets and the assignments by expert from `work`. */
export function sortBody(c: Dialect): string[] {
  return [
    c.let("E", "i32", c.arg("E")),
    c.let("k", "i32", c.arg("k")),
    c.let("A", "i32", `${c.arg("T")} * k`),
    ...c.for("e", c.tid, "E", [
      c.var("n", "i32", c.i(0)),
      ...c.for("a", c.i(0), "A", [...c.if(`${c.ldi("work", "a")} == e`, ["n = n + 1;"])]),
      c.sti("counts", "e + 1", "n"),
    ], c.i(256)),
    c.barrier(),
    ...c.if(`${c.tid} == 0`, [
      c.sti("counts", c.i(0), c.i(0)),
      c.var("run", "i32", c.i(0)),
      ...c.for("e", c.i(0), "E", ["run = run + " + c.ldi("counts", "e + 1") + ";", c.sti("counts", "e + 1", "run")]),
    ]),
    c.barrier(),
    ...c.for("e", c.tid, "E", [
      c.var("p", "i32", c.ldi("counts", "e")),
      ...c.for("a", c.i(0), "A", [
        ...c.if(`${c.ldi("work", "a")} == e`, [c.sti("tok_out", "p", "a / k"), c.st("w_out", "p", c.ld("work", "A + a")), "p = p + 1;"]),
      ]),
    ], c.i(256)),
  ];
}
