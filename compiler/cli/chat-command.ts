// `moec chat MODEL`: an interactive chat in the terminal. The conversation is kept and sent
// through the model's chat template each turn; replies stream as they are generated. Ctrl-C
// during a reply stops it (the partial reply stays in the history); Ctrl-C at the prompt, Ctrl-D
// or /exit leaves. /reset starts a new conversation; /system TEXT sets a system message.
import { createInterface } from "node:readline";
import { openTextModel } from "../run/text-model.js";
import { RunError } from "../run/load.js";
import type { ChatMessage } from "../../runtime/text/tokenizer.js";
import type { Command } from "./commands.js";
import { UsageError } from "./io.js";
import { numberFlag, samplingFlags, textModelOptions } from "./run-text.js";
import { progressBar } from "./progress.js";
import { promptIds } from "../../runtime/text/generate.js";

export const chatCommand: Command = {
  name: "chat",
  summary: "Chat with a model in the terminal (history, streaming replies, Ctrl-C stops a reply).",
  usage: "moec chat MODEL [--system TEXT] [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S] [--context N] [--tokenizer DIR] [--target wasm|js] [--threads N]",
  options: {
    system: { type: "string" },
    "max-new-tokens": { type: "string", short: "n" },
    temperature: { type: "string" },
    "top-k": { type: "string" },
    "top-p": { type: "string" },
    seed: { type: "string" },
    context: { type: "string" },
    tokenizer: { type: "string" },
    weights: { type: "string", short: "w" },
    "random-weights": { type: "string" },
    target: { type: "string", short: "t" },
    threads: { type: "string" },
  },
  async run(io, positionals, values) {
    if (positionals.length !== 1) throw new UsageError("'moec chat' takes one model: a Hugging Face folder, a GGUF file or a compiled bundle folder.");
    const maxNewTokens = numberFlag(values, "max-new-tokens", (v) => Number.isInteger(v) && v >= 1, "a positive integer") ?? 512;
    const sampling = samplingFlags(values);
    const opts = textModelOptions(values, "chat");
    let tm;
    try {
      const bar = progressBar(io, "loading weights");
      tm = await openTextModel(positionals[0]!, { ...opts, defaultContext: 4096, onProgress: (a, b) => bar.update(a, b) });
      bar.done();
      if (tm.tokenizer.chatTemplate === null) throw new RunError(`${positionals[0]} has no chat template; use 'moec run --prompt' for plain text`);
      // A template that cannot render one user message could answer no turn: say so now, not at every turn.
      try {
        tm.tokenizer.applyChatTemplate([{ role: "user", content: "hello" }]);
      } catch (e) {
        await tm.model.dispose();
        throw new RunError(`${(e as Error).message}; give a tokenizer folder with a working template (--tokenizer DIR), or use 'moec run --prompt' for plain text`);
      }
    } catch (e) {
      if (e instanceof RunError) {
        io.err(`moec chat: ${e.message}`);
        return 1;
      }
      throw e;
    }
    const { model } = tm;
    const system = values["system"] as string | undefined;
    let history: ChatMessage[] = system ? [{ role: "system", content: system }] : [];
    const tty = process.stdin.isTTY === true;
    const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: tty });
    let reply: AbortController | null = null;
    let quit = false;
    const onInterrupt = () => {
      if (reply) reply.abort();
      else {
        quit = true;
        rl.close();
      }
    };
    // Input from a pipe ends (and readline closes) while replies are still being written: the
    // lines already read are still answered, and no prompt is written to a closed interface.
    let closed = false;
    rl.on("close", () => (closed = true));
    const prompt = () => {
      if (!closed) rl.prompt();
    };
    rl.on("SIGINT", onInterrupt);
    process.on("SIGINT", onInterrupt);
    io.out(`moec chat: ${tm.name}. Ctrl-C stops a reply; /reset, /system TEXT, /exit.`);
    try {
      rl.setPrompt("> ");
      prompt();
      for await (const line of rl) {
        const text = line.trim();
        if (text === "/exit" || text === "/quit") break;
        if (text === "/reset") {
          history = system ? [{ role: "system", content: system }] : [];
          io.out("(new conversation)");
        } else if (text.startsWith("/system ")) {
          history = [{ role: "system", content: text.slice(8) }, ...history.filter((m) => m.role !== "system")];
        } else if (text !== "") {
          history.push({ role: "user", content: line });
          // The reply gets what the context has left (up to -n); a conversation that fills it must start again.
          let room = 0;
          try {
            room = tm.context.positions - promptIds(tm.tokenizer, history).length + 1;
          } catch {
            room = 1; // the template's own error is reported by generate below
          }
          if (room < 1) {
            io.err(`moec chat: the conversation fills the ${tm.context.positions}-position context (${tm.context.source}); /reset starts a new one${values["context"] === undefined ? ", or restart with a larger --context" : ""}.`);
            history.pop();
            prompt();
            continue;
          }
          reply = new AbortController();
          let answer = "";
          try {
            for await (const piece of model.generate(history, { maxNewTokens: Math.min(maxNewTokens, room), ...sampling, signal: reply.signal })) {
              answer += piece;
              process.stdout.write(piece);
            }
            process.stdout.write("\n");
          } catch (e) {
            if (!reply.signal.aborted) {
              io.err(`moec chat: ${(e as Error).message}`);
              history.pop();
              reply = null;
              prompt();
              continue;
            }
            process.stdout.write("\n(stopped)\n");
          }
          reply = null;
          history.push({ role: "assistant", content: answer });
        }
        if (quit) break;
        prompt();
      }
    } finally {
      process.off("SIGINT", onInterrupt);
      rl.close();
      await model.dispose();
    }
    return 0;
  },
};
