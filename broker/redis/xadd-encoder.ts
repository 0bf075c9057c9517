import type { StreamFields } from "../../core/schemas/codec.ts";

/**
 * Encodes a batch of `XADD head… field value …` into one buffer that is reused (and grown to the
 * largest batch seen). Lengths are UTF-8 byte lengths, so any string (CR/LF, NUL, emoji) goes
 * through unchanged. Measured per 100 entries of 300 bytes: ~25 µs, against ~40 µs for one string
 * + Buffer.from (flattening the rope dominated) and ~70 µs with `buf.write(…, "utf8")` per piece.
 */
export class XaddEncoder {
  private buf = Buffer.allocUnsafe(64 * 1024);

  /** The encoded batch: a view of the internal buffer, valid until the next call. */
  encode(head: string[], entries: StreamFields[]): Buffer {
    const prefix = Buffer.from(head.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join(""));
    // One for-in pass over the objects (the slow part), then the writes walk flat arrays.
    const args: string[] = [];
    const lens: number[] = [];
    const argcs: number[] = [];
    let size = 0;
    for (const fields of entries) {
      let argc = head.length;
      for (const k in fields) {
        const v = fields[k] ?? "";
        const kl = Buffer.byteLength(k);
        const vl = Buffer.byteLength(v);
        args.push(k, v);
        lens.push(kl, vl);
        size += kl + vl + 32; // 2 × ("$", up to 11 digits, two CRLFs), rounded up
        argc += 2;
      }
      argcs.push(argc);
      size += prefix.length + 16;
    }
    if (size > this.buf.length) this.buf = Buffer.allocUnsafe(Math.max(size, 2 * this.buf.length));
    const buf = this.buf as RawBuffer;
    let off = 0;
    let a = 0;
    for (const argc of argcs) {
      buf[off++] = 42; // *
      off = writeInt(buf, off, argc);
      off += prefix.copy(buf, off);
      for (let i = head.length; i < argc; i++, a++) {
        buf[off++] = 36; // $
        off = writeInt(buf, off, lens[a] as number);
        off += buf.utf8Write(args[a] as string, off, lens[a] as number);
        buf[off++] = 13;
        buf[off++] = 10;
      }
    }
    return buf.subarray(0, off);
  }
}

/**
 * Node's and Bun's long-standing `utf8Write`, which `buf.write(s, off, len, "utf8")` ends up
 * calling after parsing its arguments: called directly it copies a value in 45 instead of 100 ns.
 */
type RawBuffer = Buffer & { utf8Write(s: string, offset: number, length: number): number };

/** `n` (≥ 0) in decimal followed by CRLF; returns the offset after it. */
function writeInt(buf: Buffer, at: number, n: number): number {
  let digits = 1;
  for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
  for (let p = at + digits - 1, x = n; p >= at; p--, x = Math.floor(x / 10)) buf[p] = 48 + (x % 10);
  buf[at + digits] = 13;
  buf[at + digits + 1] = 10;
  return at + digits + 2;
}
