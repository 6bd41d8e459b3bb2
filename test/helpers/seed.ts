// A fresh seed per test run (printed; MOEC_SEED=… reproduces a run), and per-test generators
// derived from it and the test's name, so each test's data depends only on the seed and its name.
import { seededRandom } from "../../runtime/sampling.js";

export function runSeed(suite: string): number {
  const seed = process.env["MOEC_SEED"] !== undefined ? Number(process.env["MOEC_SEED"]) : Math.floor(Math.random() * 2 ** 31);
  console.log(`${suite}: seed ${seed} (rerun with MOEC_SEED=${seed})`);
  return seed;
}

/** mulberry32 seeded from `seed` and `name`. */
export function namedRandom(seed: number, name: string): () => number {
  let h = seed ^ 0x9e3779b9;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x85ebca6b) ^ (h >>> 13);
  return seededRandom(h >>> 0);
}
