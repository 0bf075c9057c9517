import type { ServicePatterns } from "./load.ts";

/** A record split into its header facts and the message the patterns are matched against. */
export interface Stripped {
  message: string;
  time?: string;
  level?: string;
  pid?: string;
}

/**
 * Strip the service's line header (`header.regex`, anchored at the start, named groups time,
 * level, pid) from a record. The message is everything after the match, continuation lines
 * included; a record whose first line has no header (a traceback tail, `nginx: [emerg]` on
 * stderr, a client reply sent to `POST /errors`) is all message.
 *
 * stripHeader(nginx, '2026/11/24 01:02:03 [crit] 1234#1234: *5 open() …')
 *   → { time: '2026/11/24 01:02:03', level: 'crit', pid: '1234', message: '*5 open() …' }
 */
export function stripHeader(sp: ServicePatterns, line: string): Stripped {
  const re = sp.header;
  if (!re) return { message: line };
  re.lastIndex = 0;
  const m = re.exec(line);
  if (m?.index !== 0) return { message: line };
  const out: Stripped = { message: line.slice(m[0].length) };
  const g = m.groups;
  if (g) {
    if (g.time !== undefined) out.time = g.time;
    if (g.level !== undefined) out.level = g.level;
    if (g.pid !== undefined) out.pid = g.pid;
  }
  return out;
}

const levelRes = new WeakMap<ServicePatterns, RegExp | null>();

/**
 * A message without the service's level word in front, as a client library shows a server's
 * message without the line header (`FATAL:  sorry, too many clients already`, `[crit] open() …`).
 * Only the service's own level words (its `detect.levels`) are taken off; anything else is
 * returned as it is. Patterns are anchored at the message start, so this lets such a message
 * meet the pattern its whole log line would.
 */
export function withoutLevel(sp: ServicePatterns, message: string): string {
  let re = levelRes.get(sp);
  if (re === undefined) {
    const levels = sp.detect ? [...sp.detect.rank.keys()] : [];
    const words = levels.map((l) => l.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|");
    re = levels.length ? new RegExp(`^\\[?(?:${words})\\]?:?[ \\t]+`) : null;
    levelRes.set(sp, re);
  }
  const m = re?.exec(message);
  return m ? message.slice(m[0].length) : message;
}
