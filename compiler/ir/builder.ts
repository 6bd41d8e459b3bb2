// Appends nodes to a graph under construction, checking each against the op table.
// The finished graph is frozen: passes build new graphs instead of editing old ones.
import type { Span } from "../diagnostics/diagnostic.js";
import type { Attrs, Graph, GraphOutput, Node, Op, Param } from "./graph.js";
import { isOpError, OP_RULES, type OpError } from "./ops.js";
import type { TensorType } from "./types.js";

export interface NodeSpec {
  readonly op: Op;
  readonly inputs: readonly number[];
  readonly attrs?: Attrs;
  readonly name?: string;
  readonly layer?: number | null;
  readonly subgraphs?: { readonly [key: string]: Graph };
  readonly span?: Span | null;
}

export class GraphBuilder {
  private readonly nodes: Node[] = [];
  private readonly inputIds: number[] = [];
  private readonly outputs: GraphOutput[] = [];

  constructor(readonly name: string) {}

  get size(): number {
    return this.nodes.length;
  }

  node(id: number): Node {
    return this.nodes[id]!;
  }

  typeOf(id: number): TensorType {
    return this.nodes[id]!.type;
  }

  input(name: string, type: TensorType, span: Span | null = null): number {
    const id = this.push({ id: this.nodes.length, op: "input", inputs: [], type, attrs: { name }, params: [], name, layer: null, subgraphs: {}, span });
    this.inputIds.push(id);
    return id;
  }

  /** Adds a node; returns its id, or the op table's complaint without adding anything. */
  add(spec: NodeSpec): number | OpError {
    const rule = OP_RULES[spec.op];
    const attrs = spec.attrs ?? {};
    const inputTypes = spec.inputs.map((i) => this.typeOf(i));
    const type = rule.infer(inputTypes, attrs);
    if (isOpError(type)) return type;
    const name = spec.name ?? "";
    const params: Param[] = rule.params(inputTypes, attrs).map((p) => ({ name: name + p.suffix, shape: p.shape, dtype: "f32" }));
    return this.push({
      id: this.nodes.length,
      op: spec.op,
      inputs: [...spec.inputs],
      type,
      attrs,
      params,
      name,
      layer: spec.layer ?? null,
      subgraphs: spec.subgraphs ?? {},
      span: spec.span ?? null,
    });
  }

  output(name: string, node: number): void {
    this.outputs.push({ name, node });
  }

  finish(constants: Graph["constants"] = {}): Graph {
    return deepFreeze({ name: this.name, nodes: this.nodes, inputs: this.inputIds, outputs: this.outputs, constants });
  }

  private push(node: Node): number {
    this.nodes.push(node);
    return node.id;
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) deepFreeze(v);
  }
  return value;
}
