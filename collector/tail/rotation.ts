import { fstatSync, readSync, type Stats } from "node:fs";
import { shortHash } from "../../core/ids.ts";
import type { CheckpointRow } from "./checkpoint.ts";

/** How many leading bytes identify a file's content (with device and inode). */
export const FINGERPRINT_BYTES = 256;

export interface Fingerprint {
  len: number;
  hash: string;
}

/** Hash of the first `min(size, FINGERPRINT_BYTES)` bytes read through `fd`. */
export function fingerprint(fd: number, size: number, len = Math.min(size, FINGERPRINT_BYTES)): Fingerprint {
  const buf = Buffer.alloc(len);
  const n = len > 0 ? readSync(fd, buf, 0, len, 0) : 0;
  return { len: n, hash: n > 0 ? shortHash(buf.subarray(0, n).toString("latin1")) : "" };
}

/**
 * A new file id: `dev:ino:tag`. The tag mixes the fingerprint with the time the file was first
 * seen, so that two lives of one inode (reused inode, or offsets restarting after copytruncate)
 * never share an id even when their first bytes are alike. The id is persisted with the checkpoint
 * and reused after a restart, which is what keeps event ids stable across crashes.
 */
export function newFileId(st: Pick<Stats, "dev" | "ino">, fp: Fingerprint, now = Date.now()): string {
  return `${st.dev}:${st.ino}:${shortHash(`${fp.hash}/${now}/${Math.random()}`, 12)}`;
}

export type Verdict =
  /** Same content as known: keep reading at the checkpoint. */
  | { kind: "same"; fp: Fingerprint }
  /** The file restarted (copytruncate, or rewritten in place): read again from 0 under a new id. */
  | { kind: "truncated"; fp: Fingerprint }
  /** The inode now holds another file: forget the old checkpoint. */
  | { kind: "replaced"; fp: Fingerprint };

/**
 * Compare what is on disk with what is known. A file shorter than the offset was truncated; a
 * fingerprint that no longer matches means the first bytes were rewritten (copytruncate followed by
 * fast writes that grew the file past the old offset before we looked). The fingerprint grows
 * until it covers FINGERPRINT_BYTES, so a file first seen with 10 bytes is checked on more later.
 */
export function verify(
  fd: number,
  known: Pick<CheckpointRow, "offset" | "fp_len" | "fp_hash">,
  sameFile: boolean,
  size = fstatSync(fd).size,
): Verdict {
  const changed =
    size < known.offset ||
    size < known.fp_len ||
    (known.fp_len > 0 && fingerprint(fd, size, known.fp_len).hash !== known.fp_hash);
  // With the descriptor held open the inode cannot have been reused, so a change is a truncation;
  // for a checkpoint found by dev:ino at start-up it may be another file: treat it as new.
  if (changed) return { kind: sameFile ? "truncated" : "replaced", fp: fingerprint(fd, size) };
  const grow = known.fp_len < FINGERPRINT_BYTES && size > known.fp_len;
  return { kind: "same", fp: grow ? fingerprint(fd, size) : { len: known.fp_len, hash: known.fp_hash } };
}

/**
 * Where a file first seen at start-up begins: with `read_from: end`, after its last complete line
 * (so the first line read is whole), else 0.
 */
export function startOffset(fd: number, size: number, fromEnd: boolean): number {
  if (!fromEnd || size === 0) return 0;
  const len = Math.min(size, 65536);
  const buf = Buffer.alloc(len);
  const n = readSync(fd, buf, 0, len, size - len);
  const nl = buf.subarray(0, n).lastIndexOf(10);
  return nl === -1 ? size : size - len + nl + 1;
}
