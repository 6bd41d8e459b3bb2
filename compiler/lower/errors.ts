/** A graph the plan cannot express (yet); the message names the node. */
export class LowerError extends Error {}
