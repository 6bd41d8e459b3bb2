// The example page's logic: WebGPU where the browser has an adapter, else the WASM bundle.
// URL parameters: webgpu, wasm (bundle folders, default ./webgpu/ and ./wasm/), ids (prompt
// token ids, comma-separated), n (tokens to generate), backend=wasm (force the fallback).
const q = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const ids = (q.get("ids") ?? "1,2,3,4").split(",").map(Number);
const n = Number(q.get("n") ?? 16);

/** Why WebGPU cannot be used here, or null. */
async function webgpuMissing() {
  if (q.get("backend") === "wasm") return "the wasm backend was asked for";
  if (!("gpu" in navigator)) return "this browser has no WebGPU (navigator.gpu)";
  const adapter = await navigator.gpu.requestAdapter();
  return adapter ? null : "WebGPU offered no adapter";
}

try {
  const why = await webgpuMissing();
  const folder = why ? (q.get("wasm") ?? "./wasm/") : (q.get("webgpu") ?? "./webgpu/");
  const { loadModel } = await import(new URL("model.js", new URL(folder, location.href)).href);
  $("status").textContent = "loading weights";
  const model = await loadModel({ maxContext: Math.max(64, ids.length + n), onProgress: (p) => ($("status").textContent = `loading weights: ${Math.round((100 * p.loadedBytes) / Math.max(1, p.totalBytes))}%`) });
  $("backend").textContent = model.kernels + (why ? ` (fallback: ${why})` : "");
  $("status").textContent = "generating";
  const out = [];
  let t0 = 0;
  for await (const t of model.generate(ids, { maxNewTokens: n })) {
    // tokens/s of decode: timed from the first generated token (the prompt's pass is prefill)
    if (out.length === 0) t0 = performance.now();
    out.push(t);
    $("tokens").textContent = out.join(" ");
    if (out.length > 1) $("speed").textContent = `${(((out.length - 1) * 1000) / (performance.now() - t0)).toFixed(1)} tokens/s`;
  }
  await model.dispose();
  $("status").textContent = `done: ${out.length} tokens`;
  document.body.dataset.result = JSON.stringify({ backend: model.kernels, fallback: why, tokens: out });
} catch (e) {
  $("status").textContent = `error: ${e.message}`;
  document.body.dataset.result = JSON.stringify({ error: e.message });
}
