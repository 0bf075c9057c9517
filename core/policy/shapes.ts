import { posix } from "node:path";
import type { ArgShape } from "../patterns/schema.ts";

/**
 * Argument shapes of the command policy. Each matcher answers null when the value fits, or a short
 * reason when it does not. They are pure and strict: anything they cannot prove safe is refused.
 */

/** C0 control characters and DEL: never part of a legitimate argument, path or URL. */
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Characters refused inside paths even though arguments are quoted. Quoting already stops them
 * from being syntax; refusing them too means a quoting bug could never turn a path into a command.
 */
const PATH_SPECIAL = /[`$;|&<>\\*?!{}'"]/;

export function controlCharReason(value: string): string | null {
  const m = CONTROL.exec(value);
  if (!m) return null;
  const code = m[0].charCodeAt(0);
  const name = code === 0 ? "NUL" : code === 10 ? "newline" : code === 13 ? "carriage return" : "control";
  return `contains a ${name} character (0x${code.toString(16).padStart(2, "0")})`;
}

/**
 * A path strictly below one of `roots`: absolute, no `.`/`..` segments, no empty segments (`//`),
 * no shell specials; the normalised path must start with `root/`. A root itself is never allowed,
 * folders or not: the roots are whole web roots and data folders, and one `chmod 640 /var/www/html`
 * or `chown www-data /var/www` changes a whole site at once. `allowDirs` lets a path be written as a
 * folder ("…/assets/"); without it such a path is refused.
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
  if (value.endsWith("/") && value.length > 1 && !allowDirs) return `"${value}" names a folder`;
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

function printable(value: string): string {
  return JSON.stringify(value).slice(1, -1);
}
