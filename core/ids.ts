import { createHash, randomBytes } from "node:crypto";

/**
 * Time-ordered random id (UUIDv7 layout, printed as 26 Crockford base32 chars like a ULID):
 * sorts by creation time, unique across processes without coordination.
 */
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
export function newId(prefix = "", now = Date.now()): string {
  let time = "";
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const rnd = randomBytes(16);
  let tail = "";
  for (let i = 0; i < 16; i++) tail += ALPHABET[rnd[i]! % 32];
  return prefix + time + tail;
}

/**
 * Stable id derived from the parts that identify a thing (e.g. client, file identity, offset):
 * the same input always gives the same id, so a redelivered entry is recognised downstream.
 */
export function stableId(...parts: Array<string | number>): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(String(p)).update("\u0000");
  return h.digest("base64url").slice(0, 22);
}

/** Short hex hash, for fingerprints and cache keys. */
export function shortHash(text: string, length = 16): string {
  return createHash("sha256").update(text).digest("hex").slice(0, length);
}
