import { createHmac } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";

/**
 * Host key checking for the SSH transport. A host is trusted only when its key equals the pinned
 * key of its target, or a known_hosts entry for it; an unknown host is refused unless the config
 * explicitly trusts on first use, and a host whose key changed is always refused.
 */
export type HostKeyVerdict =
  | { ok: true; how: "pinned" | "known_hosts" | "trusted_on_first_use" }
  | { ok: false; reason: "mismatch" | "unknown"; message: string };

export interface HostKeyPolicy {
  host: string;
  port: number;
  /** "ssh-ed25519 AAAA…" or the base64 field alone. */
  pinned?: string;
  knownHostsFile?: string;
  trustOnFirstUse?: boolean;
}

/** `host` for port 22, `[host]:port` otherwise, as OpenSSH writes known_hosts. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** The key type ("ssh-ed25519") named inside a raw SSH public key blob. */
export function keyType(raw: Buffer): string {
  const len = raw.readUInt32BE(0);
  return raw.subarray(4, 4 + len).toString("latin1");
}

function hostMatches(pattern: string, name: string): boolean {
  if (pattern.startsWith("|1|")) {
    // Hashed entry: |1|base64(salt)|base64(HMAC-SHA1(salt, name))
    const [, , salt, hash] = pattern.split("|");
    if (!salt || !hash) return false;
    return createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest("base64") === hash;
  }
  return pattern.split(",").some((p) => p === name);
}

/** Keys (base64) listed for `name`, and those marked @revoked. */
export function knownKeys(text: string, name: string): { keys: string[]; revoked: string[] } {
  const keys: string[] = [];
  const revoked: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const fields = line.split(/\s+/);
    let marker = "";
    if (fields[0]?.startsWith("@")) marker = fields.shift()!;
    const [hosts, , key] = fields;
    if (!hosts || !key || !hostMatches(hosts, name)) continue;
    if (marker === "@revoked") revoked.push(key);
    else if (marker === "") keys.push(key);
  }
  return { keys, revoked };
}

/** Decide whether to trust the key a host presented (`raw` is what ssh2's hostVerifier receives). */
export function verifyHostKey(p: HostKeyPolicy, raw: Buffer): HostKeyVerdict {
  const presented = raw.toString("base64");
  const name = knownHostsName(p.host, p.port);
  const where = `${name} presented ${keyType(raw)} ${presented.slice(0, 16)}…`;
  if (p.pinned) {
    const pinned = p.pinned.trim().split(/\s+/);
    const b64 = pinned.length > 1 ? pinned[1]! : pinned[0]!;
    if (b64 === presented) return { ok: true, how: "pinned" };
    return { ok: false, reason: "mismatch", message: `host key mismatch: ${where}, not the pinned key` };
  }
  const text = p.knownHostsFile && existsSync(p.knownHostsFile) ? readFileSync(p.knownHostsFile, "utf8") : "";
  const { keys, revoked } = knownKeys(text, name);
  if (revoked.includes(presented))
    return { ok: false, reason: "mismatch", message: `host key revoked: ${where}` };
  if (keys.includes(presented)) return { ok: true, how: "known_hosts" };
  if (keys.length > 0)
    return {
      ok: false,
      reason: "mismatch",
      message: `host key mismatch: ${where}, not the key in ${p.knownHostsFile}`,
    };
  if (p.trustOnFirstUse && p.knownHostsFile) {
    mkdirSync(dirname(p.knownHostsFile), { recursive: true });
    appendFileSync(p.knownHostsFile, `${name} ${keyType(raw)} ${presented}\n`, { mode: 0o600 });
    return { ok: true, how: "trusted_on_first_use" };
  }
  return {
    ok: false,
    reason: "unknown",
    message: `unknown host: ${where}; pin its key in targets or add it to ${p.knownHostsFile ?? "known_hosts"}`,
  };
}
