import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A fresh temporary folder; `cleanup()` removes it (keep it with MCP_KEEP_TMP=1 to debug). */
export function tempDir(prefix = "mcpmon-"): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return {
    path,
    cleanup: () => {
      if (process.env.MCP_KEEP_TMP !== "1") rmSync(path, { recursive: true, force: true });
    },
  };
}

/** Resolve a program by name on PATH and the usual sbin/lib folders Debian puts servers in. */
export function findProgram(name: string, extra: string[] = []): string | null {
  const dirs = [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/sbin", "/usr/local/sbin", ...extra];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (Bun.file(candidate).size > 0) return candidate;
  }
  return null;
}
