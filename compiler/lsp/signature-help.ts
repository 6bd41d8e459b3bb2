// Signature help inside a call to a built-in or a block: the signature, with the argument
// at the cursor (positional index, or the keyword being written) highlighted.
import type { SignatureHelp } from "vscode-languageserver";
import { BUILTINS } from "../sema/builtins.js";
import type { Analysis } from "./analysis.js";
import { enclosingCall, tokenBefore } from "./context.js";
import { builtinSignature, formatParamSig, typeSource } from "./describe.js";
import * as T from "../syntax/tokens.js";

export function signatureHelp(a: Analysis, offset: number): SignatureHelp | null {
  const tokens = a.allTokens.filter((t) => t.tokenType !== T.LineComment && t.tokenType !== T.BlockComment);
  const i = tokenBefore(tokens, offset);
  if (i < 0) return null;
  const call = enclosingCall(tokens, i);
  if (!call) return null;
  const b = BUILTINS.get(call.callee);
  const def = a.resolution.defs.get(call.callee)?.def;
  let label: string;
  let params: string[];
  let names: string[];
  let positional: number;
  if (def) {
    params = def.params.filter(Boolean).map((p) => `${p.name}: ${typeSource(p.type, a.text)}`);
    names = def.params.filter(Boolean).map((p) => p.name);
    positional = names.length;
    label = `${call.callee}(${params.join(", ")})`;
  } else if (b) {
    params = b.sig.map(formatParamSig);
    names = b.sig.map((p) => p.name);
    positional = b.sig.filter((p) => p.positional).length;
    label = builtinSignature(call.callee, b);
  } else return null;
  // Offsets of each parameter inside the label, so clients highlight the right text.
  const open = call.callee.length + 1;
  let at = open;
  const parameters = params.map((p) => {
    const range: [number, number] = [at, at + p.length];
    at += p.length + 2;
    return { label: range };
  });
  // The cursor inside a keyword argument's name (`ren|ormalize = true`) is on that argument.
  const here = tokens[i + 1];
  const param =
    call.param ??
    (here && here.startOffset <= offset && here.tokenType === T.Identifier && tokens[i + 2]?.tokenType === T.Equals && (tokens[i]!.tokenType === T.Comma || tokens[i]!.tokenType === T.LParen)
      ? here.image
      : null);
  let active = param !== null ? names.indexOf(param) : call.index < positional ? call.index : -1;
  if (active < 0) active = parameters.length; // out of range: nothing highlighted
  return {
    signatures: [{ label, parameters, documentation: b ? { kind: "markdown", value: b.summary } : undefined, activeParameter: active }],
    activeSignature: 0,
    activeParameter: active,
  };
}
