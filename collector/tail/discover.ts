import { existsSync, statSync } from "node:fs";
import { isAbsolute, join, resolve, sep } from "node:path";

/** A glob split into the folder it lives in (no glob characters) and the pattern below it. */
export interface GlobRoot {
  glob: string;
  /** Deepest folder of the glob without glob characters: what is watched and scanned. */
  dir: string;
  /** The rest, relative to `dir` (`*.log`, `** /error.log`…); empty for a plain path. */
  rest: string;
}

const GLOB_CHARS = /[*?[\]{}]/;

export function globRoot(pattern: string, cwd = process.cwd()): GlobRoot {
  const abs = isAbsolute(pattern) ? pattern : resolve(cwd, pattern);
  const parts = abs.split(sep);
  const i = parts.findIndex((p) => GLOB_CHARS.test(p));
  if (i === -1) {
    const dir = parts.slice(0, -1).join(sep) || sep;
    return { glob: abs, dir, rest: "" };
  }
  return { glob: abs, dir: parts.slice(0, i).join(sep) || sep, rest: parts.slice(i).join(sep) };
}

/**
 * The regular files (or symlinks to regular files) matching any of the globs now, as absolute
 * paths, sorted. A glob whose folder does not exist yet matches nothing (it is looked at again at
 * the next scan).
 */
export function discover(roots: GlobRoot[]): string[] {
  const found = new Set<string>();
  for (const r of roots) {
    if (r.rest === "") {
      if (isFile(r.glob)) found.add(r.glob);
      continue;
    }
    if (!existsSync(r.dir)) continue;
    try {
      // Not `onlyFiles`: it drops symlinks, while a plain path follows them. A link to a regular
      // file is followed either way (the tailer keys files by the target's dev:ino, so a file
      // reached by two paths is read once); links to folders are not descended into (no loops).
      for (const rel of new Bun.Glob(r.rest).scanSync({ cwd: r.dir, onlyFiles: false, dot: true })) {
        const path = join(r.dir, rel);
        if (isFile(path)) found.add(path);
      }
    } catch {
      // A folder that vanished during the scan: nothing there this time.
    }
  }
  return [...found].sort();
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
