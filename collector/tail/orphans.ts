import { readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import type { CheckpointRow } from "./checkpoint.ts";

/**
 * Where the files of checkpoint rows that no glob matched now went. The usual case: a rename
 * rotation (`error.log` → `error.log.1`, outside a glob `error.log`) while the collector was down,
 * or while it was draining the renamed file when it crashed; the rest of that file was never read.
 * Rotation keeps a file in its folder, so each row's inode is looked for there (one listing and one
 * stat per entry, per folder, at start-up only).
 *
 * `found`: the path the row's dev:ino has now (its content is still to be verified by fingerprint).
 * `gone`: rows whose folder was listed (or no longer exists) and holds no such inode.
 * Rows whose folder cannot be listed (permissions) are in neither: nothing is known about them.
 */
export function locateOrphans(rows: CheckpointRow[]): {
  found: Array<{ row: CheckpointRow; path: string }>;
  gone: CheckpointRow[];
} {
  const found: Array<{ row: CheckpointRow; path: string }> = [];
  const gone: CheckpointRow[] = [];
  const byDir = new Map<string, CheckpointRow[]>();
  for (const r of rows) {
    const dir = dirname(r.path);
    byDir.set(dir, [...(byDir.get(dir) ?? []), r]);
  }
  for (const [dir, list] of byDir) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") gone.push(...list);
      continue;
    }
    const paths = new Map<string, string>();
    for (const name of names.sort()) {
      try {
        const st = statSync(join(dir, name));
        const key = `${st.dev}:${st.ino}`;
        if (st.isFile() && !paths.has(key)) paths.set(key, join(dir, name));
      } catch {
        // gone between the listing and the stat
      }
    }
    for (const row of list) {
      const path = paths.get(`${row.dev}:${row.ino}`);
      if (path) found.push({ row, path });
      else gone.push(row);
    }
  }
  return { found, gone };
}
