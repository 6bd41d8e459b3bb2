// Guards the language server's input stream. LSP messages arrive framed as
//   Content-Length: N\r\n[other headers]\r\n\r\n<N bytes of JSON>
// and the protocol library stops reading for good after one bad frame (a negative or missing
// Content-Length, unframed bytes, a body that is not JSON): the server then never answers
// again. This filter sits between stdin and the library: it passes on well-formed frames
// unchanged, and skips anything else with a line in the log (stderr, which editors show), then
// looks for the next frame. It holds at most one frame (MAX_BODY_BYTES) in memory.
import { Transform, type TransformCallback } from "node:stream";

/** Largest message accepted; an LSP message is far smaller (a whole document is one message). */
export const MAX_BODY_BYTES = 64 * 1024 * 1024;
/** Longest header block accepted before it is treated as garbage. */
const MAX_HEADER_BYTES = 8 * 1024;
const HEADER_END = Buffer.from("\r\n\r\n");
const CONTENT_LENGTH = /content-length:/i;
/** Header lines before Content-Length that are headers (Content-Type), not junk. */
const HEADER_LINES = /^([A-Za-z0-9-]+:[^\r\n]*\r\n)+$/;
/** How long a message may stay incomplete while another header waits behind it. */
const STALL_MS = 2000;

export class FrameFilter extends Transform {
  private buf: Buffer = Buffer.alloc(0);
  /** The body length of the frame being read, or −1 while reading headers. */
  private need = -1;
  private header = "";
  /** Frames skipped so far (for tests and the log). */
  skipped = 0;

  constructor(private readonly log: (line: string) => void = (line) => process.stderr.write(`${line}\n`)) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    this.drain();
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.buf.length > 0) this.skip(`the input ended inside a message (${this.buf.length} bytes left unread)`, this.buf.length);
    done();
  }

  private skip(why: string, bytes: number): void {
    this.skipped++;
    this.buf = this.buf.subarray(bytes);
    this.log(`moec lsp: skipped a malformed message: ${why}; reading on from the next 'Content-Length:' header`);
  }

  /** Drops bytes up to the next 'Content-Length:' header (after position `from`), or all but a possible partial one. */
  private resync(why: string, from: number): void {
    const text = this.buf.toString("latin1");
    const re = /content-length:/gi;
    re.lastIndex = from;
    const m = re.exec(text);
    const at = m ? m.index : Math.max(from, this.buf.length - "content-length:".length);
    this.skip(why, at);
  }

  private stall: ReturnType<typeof setTimeout> | null = null;

  /**
   * A Content-Length larger than the body sent would swallow the next messages: if the body is
   * still incomplete after STALL_MS while a header waits inside it, the frame is dropped there.
   */
  private watchStall(): void {
    this.clearStall();
    this.stall = setTimeout(() => {
      this.stall = null;
      if (this.need < 0 || this.buf.length >= this.need) return;
      const inside = this.buf.toString("latin1").search(CONTENT_LENGTH);
      if (inside < 0) return;
      this.need = -1;
      this.skip(`its Content-Length promised more bytes than came before the next header (${inside} came)`, inside);
      this.drain();
    }, STALL_MS);
    this.stall.unref?.();
  }

  private clearStall(): void {
    if (this.stall) clearTimeout(this.stall);
    this.stall = null;
  }

  override _destroy(err: Error | null, done: (error: Error | null) => void): void {
    this.clearStall();
    done(err);
  }

  private drain(): void {
    for (;;) {
      if (this.need < 0) {
        const end = this.buf.indexOf(HEADER_END);
        if (end < 0) {
          if (this.buf.length > MAX_HEADER_BYTES) this.resync(`${this.buf.length} bytes without a header end (\\r\\n\\r\\n)`, 1);
          return;
        }
        const header = this.buf.subarray(0, end).toString("latin1");
        // Junk before a real header (unframed bytes): skip to the header.
        const at = header.search(CONTENT_LENGTH);
        if (at > 0 && !HEADER_LINES.test(header.slice(0, at))) {
          this.skip(`${at} bytes that are not a header (${JSON.stringify(header.slice(0, Math.min(at, 40)))})`, at);
          continue;
        }
        const length = parseHeader(header);
        if (typeof length === "string") {
          this.skip(`${length} (header ${JSON.stringify(header.slice(0, 80))})`, end + HEADER_END.length);
          continue;
        }
        this.need = length;
        this.header = header;
        this.buf = this.buf.subarray(end + HEADER_END.length);
      }
      if (this.buf.length < this.need) {
        this.watchStall();
        return;
      }
      this.clearStall();
      const body = this.buf.subarray(0, this.need);
      const why = checkBody(body);
      if (why !== null) {
        // A body that is not JSON often means the length was wrong: look for the next header inside it.
        this.need = -1;
        this.resync(`its ${body.length}-byte body ${why}`, 0);
        continue;
      }
      this.push(Buffer.concat([Buffer.from(`${this.header}\r\n\r\n`, "latin1"), body]));
      this.buf = this.buf.subarray(this.need);
      this.need = -1;
    }
  }
}

/** The Content-Length of a header block, or why the block is refused. */

function parseHeader(header: string): number | string {
  let length: number | string = "there is no Content-Length header";
  for (const line of header.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) return `the header line ${JSON.stringify(line.slice(0, 40))} is not 'Name: value'`;
    if (line.slice(0, colon).trim().toLowerCase() !== "content-length") continue;
    const v = line.slice(colon + 1).trim();
    if (!/^\d+$/.test(v)) return `Content-Length ${JSON.stringify(v.slice(0, 20))} is not a byte count`;
    const n = Number(v);
    if (n > MAX_BODY_BYTES) return `Content-Length ${n} is over the ${MAX_BODY_BYTES}-byte limit`;
    length = n;
  }
  return length;
}

/** Null when the body is a JSON object (a JSON-RPC message or a batch), else why not. */
function checkBody(body: Buffer): string | null {
  let v: unknown;
  try {
    v = JSON.parse(body.toString("utf8"));
  } catch (e) {
    return `is not JSON (${(e as Error).message.slice(0, 60)})`;
  }
  return typeof v === "object" && v !== null ? null : `is JSON but not a message object (${typeof v})`;
}
