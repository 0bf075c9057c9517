import { posix } from "node:path";
import type { ArgShape } from "../patterns/schema.ts";

/**
 * Argument shapes of the command policy. Each matcher answers null when the value fits, or a short
 * reason when it does not. They are pure and strict: anything they cannot prove safe is refused.
 */

/**
 * Characters never part of a legitimate argument, path or URL: C0 and C1 control characters, DEL,
 * bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) and the line and
 * paragraph separators U+2028/U+2029. The last three families do nothing in a file system, but they
 * forge what an operator reads on the approval screen: `/var/www/html/\u202Egnp.env` shows as
 * `…/vne.png`.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we refuse
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\u2028\u2029]/;

/**
 * Characters refused inside paths even though arguments are quoted. Quoting already stops them
 * from being syntax; refusing them too means a quoting bug could never turn a path into a command.
 */
const PATH_SPECIAL = /[`$;|&<>\\*?!{}'"]/;

/** `value` with every character CONTROL refuses written as an escape, for reasons and screens. */
export function escapeControls(value: string): string {
  return value.replace(
    new RegExp(CONTROL.source, "g"),
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

export function controlCharReason(value: string): string | null {
  const m = CONTROL.exec(value);
  if (!m) return null;
  const code = m[0].charCodeAt(0);
  if (code >= 0x2000) {
    const kind = code === 0x2028 || code === 0x2029 ? "line or paragraph separator" : "bidirectional control";
    return `contains a ${kind} character (U+${code.toString(16).toUpperCase()}), which changes how the text is displayed`;
  }
  const name = code === 0 ? "NUL" : code === 10 ? "newline" : code === 13 ? "carriage return" : "control";
  return `contains a ${name} character (0x${code.toString(16).padStart(2, "0")})`;
}

/**
 * A path strictly below one of `roots`: absolute, no `.`/`..` segments, no empty segments (`//`),
 * no shell specials; the normalised path must start with `root/`. A root itself is never allowed,
 * folders or not: the roots are whole web roots and data folders, and one `chmod 640 /var/www/html`
 * or `chown www-data /var/www` changes a whole site at once. A trailing slash is always refused: it
 * makes the kernel follow a symlink at the last component (`…/a/` where `a` was swapped for a link
 * to a root), and a folder is named without one. Whether a rule applies to files or folders is the
 * rule's `target.kind`, checked on the host on the opened object (`allowDirs` is kept for the
 * message only).
 * Symlinks are resolved on the host by the executor, which calls this again on the real path.
 */
export function pathReason(value: string, roots: string[], allowDirs: boolean): string | null {
  const ctl = controlCharReason(value);
  if (ctl) return ctl;
  if (!value.startsWith("/")) return `"${value}" is not an absolute path`;
  if (value.includes("//")) return `"${value}" contains an empty segment ("//")`;
  const segments = value.split("/").slice(1);
  if (segments.some((s) => s === ".." || s === ".")) return `"${value}" contains a "." or ".." segment`;
  if (PATH_SPECIAL.test(value)) return `"${value}" contains a shell special character`;
  if (value.endsWith("/") && value.length > 1)
    return allowDirs
      ? `"${value}" ends with "/": name the folder without a trailing slash`
      : `"${value}" names a folder`;
  const normal = posix.normalize(value).replace(/\/+$/, "") || "/";
  const normalRoots = roots.map((raw) => posix.normalize(raw).replace(/\/+$/, "") || "/");
  // Roots may nest (/var/www and /var/www/html): being below one does not make another a target.
  if (normalRoots.includes(normal))
    return `"${value}" is a root itself; only paths below ${roots.join(", ")} are allowed`;
  for (const root of normalRoots) if (normal.startsWith(root === "/" ? "/" : `${root}/`)) return null;
  return `"${value}" is not under ${roots.join(", ")}`;
}

const regexCache = new Map<string, RegExp>();
function anchored(source: string): RegExp {
  let re = regexCache.get(source);
  if (!re) {
    // The whole argument must match: a shape "\d+m" must not accept "10m; rm -rf /".
    re = new RegExp(`^(?:${source})$`, "u");
    regexCache.set(source, re);
  }
  return re;
}

/** Why `value` does not fit `shape`, or null when it does. */
export function argReason(value: string, shape: ArgShape): string | null {
  const ctl = controlCharReason(value);
  if (ctl) return `"${printable(value)}" ${ctl}`;
  if ("literal" in shape)
    return value === shape.literal ? null : `expected "${shape.literal}", got "${value}"`;
  if ("enum" in shape)
    return shape.enum.includes(value) ? null : `"${value}" is not one of ${shape.enum.join(", ")}`;
  if ("int" in shape) {
    if (!/^-?\d{1,15}$/.test(value)) return `"${value}" is not an integer`;
    const n = Number(value);
    const { min, max } = shape.int;
    return n >= min && n <= max ? null : `${n} is outside ${min}..${max}`;
  }
  if ("size" in shape) return sizeReason(value, shape.size);
  // Shapes that accept open-ended text: a value starting with "-" would be read as an option.
  if (value.startsWith("-") && !shape.allow_leading_dash)
    return `"${value}" starts with "-" and would be read as an option`;
  if ("path" in shape) return pathReason(value, shape.path.roots, shape.path.allow_dirs ?? false);
  if ("directive" in shape) {
    // Names like client_max_body_size (nginx) and maxmemory-policy (Redis): letters, digits, _ and -.
    if (!/^[A-Za-z_-][A-Za-z0-9_-]{0,127}$/.test(value)) return `"${value}" is not a directive name`;
    return shape.directive.includes(value) ? null : `directive "${value}" is not allowed`;
  }
  return anchored(shape.regex).test(value) ? null : `"${value}" does not match /${shape.regex}/`;
}

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  kb: 1024,
  k: 1000,
  mb: 1024 ** 2,
  m: 1e6,
  gb: 1024 ** 3,
  g: 1e9,
};

/** Bytes of a size as Redis and nginx write it (`512mb`, `2gb`, `64m`), or null when it is not one. */
export function parseSize(value: string): number | null {
  const m = /^(\d{1,12})(b|kb|k|mb|m|gb|g)?$/i.exec(value);
  if (!m) return null;
  return Number(m[1]) * UNITS[(m[2] ?? "").toLowerCase()]!;
}

/**
 * A size within bounds. `0` means "unlimited" to Redis (`maxmemory 0`) and nginx
 * (`client_max_body_size 0`): a fix that "raises" a limit to 0 removes it, so a minimum above 0
 * refuses it whatever unit it is written in.
 */
function sizeReason(value: string, bounds: { min: string; max: string; units?: string[] }): string | null {
  const bytes = parseSize(value);
  if (bytes === null) return `"${value}" is not a size like 512mb`;
  if (bytes === 0)
    return `"${value}" means unlimited; a fix may only set a bounded size (${bounds.min}..${bounds.max})`;
  const unit = /[a-z]+$/i.exec(value)?.[0]?.toLowerCase() ?? "";
  if (bounds.units && !bounds.units.includes(unit))
    return `"${value}": the unit must be one of ${bounds.units.join(", ")}`;
  const min = parseSize(bounds.min) ?? 0;
  const max = parseSize(bounds.max) ?? Number.POSITIVE_INFINITY;
  return bytes >= min && bytes <= max ? null : `${value} is outside ${bounds.min}..${bounds.max}`;
}

/** Program names: a bare name, or an absolute path only when the rule names that exact path. */
export function programReason(program: string, ruleProgram: string): string | null {
  const ctl = controlCharReason(program);
  if (ctl) return `program name ${ctl}`;
  if (!/^[A-Za-z0-9._+/-]+$/.test(program))
    return `program "${program}" has characters a program name cannot have`;
  if (program.includes("/") && program !== ruleProgram)
    return `program "${program}" is a path; only the exact path "${ruleProgram}" would be allowed`;
  return program === ruleProgram ? null : `program "${program}" is not "${ruleProgram}"`;
}

/** "0644", "644" and "00644" are the same mode. */
export function normaliseMode(mode: string): string {
  return (Number.parseInt(mode, 8) & 0o7777).toString(8).padStart(4, "0");
}

/** The port a URL talks to: its own, or its scheme's default (80 for http, 443 for https). */
function effectivePort(url: URL): string {
  if (url.port) return url.port;
  return url.protocol === "https:" ? "443" : url.protocol === "http:" ? "80" : "";
}

/**
 * A URL under one of the prefixes, compared as parsed URLs (scheme, host, port, path), so that
 * `http://127.0.0.1.evil.example/` or `http://127.0.0.1@evil.example/` never pass as local. A
 * prefix without a port means its scheme's default port: `http://127.0.0.1` allows port 80 only,
 * never `http://127.0.0.1:6379/` (Redis) or `http://localhost:22/`.
 */
export function urlReason(value: string, prefixes: string[]): string | null {
  const ctl = controlCharReason(value);
  if (ctl) return `URL ${ctl}`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `"${value}" is not a URL`;
  }
  if (url.username || url.password) return `"${value}" carries credentials`;
  // Set when the host is allowed on another port: the reason then says which port was refused.
  let otherPort: "" | "explicit" | "default" = "";
  for (const p of prefixes) {
    let prefix: URL;
    try {
      prefix = new URL(p);
    } catch {
      continue;
    }
    if (url.protocol !== prefix.protocol || url.hostname !== prefix.hostname) continue;
    if (effectivePort(url) !== effectivePort(prefix)) {
      if (otherPort !== "default") otherPort = prefix.port ? "explicit" : "default";
      continue;
    }
    const base = prefix.pathname.endsWith("/") ? prefix.pathname : `${prefix.pathname}/`;
    if (prefix.pathname === "/" || url.pathname === prefix.pathname || url.pathname.startsWith(base))
      return null;
  }
  const hint =
    otherPort === "default"
      ? ` (port ${effectivePort(url)} is not allowed: a prefix without a port means 80 for http, 443 for https)`
      : otherPort === "explicit"
        ? ` (port ${effectivePort(url)} is not allowed)`
        : "";
  return `"${value}" is not under ${prefixes.join(", ")}${hint}`;
}

/**
 * The URL's path is one the rule lists: exact, or below a `prefix/*`. Compared after the URL
 * parser has normalised it (percent-encoding, `.` segments), so `/status/../admin` is `/admin`.
 */
export function urlPathReason(value: string, paths: string[]): string | null {
  const path = new URL(value).pathname;
  for (const p of paths) {
    if (p.endsWith("*") ? path.startsWith(p.slice(0, -1)) : path === p) return null;
  }
  return `path "${path}" is not one a verify step may fetch (${paths.join(", ")})`;
}

function printable(value: string): string {
  return JSON.stringify(value).slice(1, -1);
}
