import type { ChainableCommander } from "ioredis";
import type { Client } from "../clients.ts";

/** A Lua script with its SHA1, run with EVALSHA and loaded on the first NOSCRIPT. */
export interface Script {
  name: string;
  lua: string;
  sha: string;
  keys: number;
}

export function script(name: string, keys: number, lua: string): Script {
  const sha = new Bun.CryptoHasher("sha1").update(lua).digest("hex");
  return { name, lua, sha, keys };
}

/** EVALSHA, falling back to EVAL once when the server has not cached the script (restart, FLUSH). */
export async function runScript(
  r: Client,
  s: Script,
  keys: string[],
  args: (string | number)[],
): Promise<unknown> {
  if (keys.length !== s.keys) throw new Error(`script ${s.name} takes ${s.keys} keys, got ${keys.length}`);
  try {
    return await r.evalsha(s.sha, keys.length, ...keys, ...args);
  } catch (err) {
    if (!String((err as Error)?.message).startsWith("NOSCRIPT")) throw err;
    return await r.eval(s.lua, keys.length, ...keys, ...args);
  }
}

/** Queue the script in a pipeline (caller loads it first with `loadScript`). */
export function pipeScript(
  p: ChainableCommander,
  s: Script,
  keys: string[],
  args: (string | number)[],
): void {
  p.evalsha(s.sha, keys.length, ...keys, ...args);
}
