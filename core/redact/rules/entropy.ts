/**
 * The fallback for credentials no other rule knows: a long random token (24+ characters of a
 * base64/base62 alphabet with upper case, lower case and digits mixed, and high character entropy)
 * in a value position: after `=`, `:`, a quote, a bracket or a space, never inside a path, a dotted
 * name or a word. Hex strings (hashes, trace and request ids, commit hashes), UUIDs, SSH key
 * fingerprints and values of keys that name an id, hash or version stay readable: operators grep for them.
 */
import type { Rule } from "../types.ts";
import { keyWords } from "../vocab.ts";

// Runs start only where the previous character is not part of one: linear, not tried at every offset.
const RUN = /(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{24,}={0,2}/g;
const MAX_RUN = 1024;
const OWN_ID = /^(?:inc|fix|ev|proc)_[A-Za-z0-9_-]{16,40}$/;
const ID_WORDS = new Set(
  "id ids uuid guid hash digest etag checksum sha sha1 sha256 sha512 md5 crc commit rev revision version ver trace span parent request correlation fingerprint build image object oid tag ref cursor offset page marker continuation next".split(
    " ",
  ),
);
const BEFORE = new Set(["", " ", "\t", "=", ":", '"', "'", "(", ",", "[", "{", "<", ">"]);
const AFTER = new Set(["", " ", "\t", "\r", "\n", '"', "'", ")", ",", ";", "]", "}", "&", "<", "."]);

/** Bits per character of the token's own character distribution. */
function entropy(s: string): number {
  const counts = new Map<number, number>();
  for (let i = 0; i < s.length; i++) counts.set(s.charCodeAt(i), (counts.get(s.charCodeAt(i)) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

function looksRandom(t: string): boolean {
  let upper = 0;
  let lower = 0;
  let digit = 0;
  let switches = 0;
  let prev = 0;
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    const cls = c >= 65 && c <= 90 ? 1 : c >= 97 && c <= 122 ? 2 : c >= 48 && c <= 57 ? 3 : 4;
    if (cls === 1) upper++;
    else if (cls === 2) lower++;
    else if (cls === 3) digit++;
    if (i > 0 && cls !== prev) switches++;
    prev = cls;
  }
  // The gate's promise: an upper-case letter and a digit among the first 24 characters.
  if (!/[A-Z]/.test(t.slice(0, 24)) || !/\d/.test(t.slice(0, 24))) return false;
  // CamelCase identifiers and words with a number switch class rarely; random text every ~2 characters.
  return upper >= 2 && lower >= 2 && digit >= 2 && switches >= t.length / 4 && entropy(t) >= 4;
}

/** The key name just before `at` (`x-amz-id-2: `, `"etag":"`, `sha256=`), lower-cased words. */
function keyBefore(text: string, at: number): string[] {
  const head = text.slice(Math.max(0, at - 48), at);
  const m = /([A-Za-z0-9_.-]{1,40})\\?["']?[ \t]*(?:=|:|=>)?[ \t]*\\?["']?$/.exec(head);
  return m ? keyWords(m[1]!) : [];
}

export const highEntropy: Rule = {
  name: "long random token (entropy fallback)",
  shape: true,
  // A run of 24 with an upper-case letter and a digit in its first 24 characters (looksRandom asks the same).
  gate: /(?:^|[^A-Za-z0-9+/_-])(?=[A-Za-z0-9+/_-]{24})(?=[a-z0-9+/_-]{0,23}[A-Z])[A-Za-z+/_-]{0,23}\d/,
  find(text, report) {
    RUN.lastIndex = 0;
    for (let m = RUN.exec(text); m !== null; m = RUN.exec(text)) {
      const start = m.index;
      const token = m[0].replace(/=+$/, "");
      if (
        token.length > MAX_RUN ||
        !BEFORE.has(text[start - 1] ?? "") ||
        !AFTER.has(text[start + m[0].length] ?? "")
      )
        continue;
      if (token.includes("/") && /^[a-z]|\/[a-z]+\//.test(token)) continue; // a path
      if (!looksRandom(token) || /^sha(?:256|384|512)-/.test(token)) continue; // Subresource Integrity hashes
      if (/(?:SHA256|SHA1|MD5|sha256|sha384|sha512)[:-]$/.test(text.slice(Math.max(0, start - 7), start)))
        continue;
      // mcpmon's own ids (inc_…, fix_…, ev_…): what operators grep for in its logs and events.
      if (OWN_ID.test(token)) continue;
      const words = keyBefore(text, start);
      if (words.some((w) => ID_WORDS.has(w))) continue;
      report(start, start + m[0].length, "high-entropy");
    }
  },
  examples: [
    [
      "upstream said x-token-ish: Zk3pQ9vLm2Rt7Wx4Yb6Nc8Ud1",
      "upstream said x-token-ish: [REDACTED:high-entropy]",
    ],
    ['{"opaque":"q8Vn3KzT1pLw9XsR4mYc7BdE2hGj"}', '{"opaque":"[REDACTED:high-entropy]"}'],
  ],
  counterExamples: [
    "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 request_id=3f2b8c1e-9d4a-4f6b-8e2a-1c5d7e9f0a3b",
    "GET /_next/static/hCzJ4Q7OGaJ9uQZ3xY1bT8/_buildManifest.js",
    "Accepted publickey for deploy: ED25519 SHA256:Vy3Qm0rKxkC9d2ZpYbB6Lk8Tq1Wn4Rs7Ux0Hj5Mc2Gd",
    "x-amz-id-2: 8sD9fK2mQ7pL3vX1zR6tY4wB0nC5hJ8gE2aU7iO3kM9sV1eP6=",
    "at org.apache.spark.storage.BlockManagerMasterEndpoint2Handler.run",
    "main.3f2b8c1e9d4a7b6c.chunk.js integrity=sha384-oqVuAfXRKap7fdgcCY5uykM6+R9GqQ8K",
    "incident inc_Sb-6-ZcmWIO1tUUpUif3qP → queued (fix fix_JCPDGVlBbCKfdpGDDLueEC)",
  ],
};
