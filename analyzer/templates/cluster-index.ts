/**
 * Where the miner looks for a message's cluster. Drain's prefix tree, flattened: clusters sit in
 * buckets keyed by token count and leading tokens, taken from the cluster's current template (so a
 * leading token that turned out to be a value is keyed as `<*>`, and the bucket follows the template
 * as it generalises). A message is compared with its own bucket first, then with the buckets where
 * some leading tokens are wildcards, and only when those fail with every cluster of its length:
 * most lines are settled by one map lookup, and a message whose first word is a value (`com.apple.X:
 * …`) still finds its cluster.
 */
import { isSeparator, WILDCARD } from "./mask.ts";

export interface IndexedCluster {
  tokens: string[];
  /** Bucket the cluster is filed under; maintained by the index. */
  key: string;
  seq: number;
}

const SEP = "\u0001";

export class ClusterIndex<C extends IndexedCluster> {
  private readonly buckets = new Map<string, C[]>();
  private readonly byLength = new Map<number, C[]>();

  constructor(private readonly depth: number) {}

  /** Bucket key of a token list: its length and up to `depth` leading tokens. */
  keyOf(tokens: readonly string[]): string {
    let key = String(tokens.length);
    // The last token never keys the bucket: in a short message it is as likely a value as a word.
    const n = Math.min(this.depth, tokens.length - 1);
    for (let i = 0; i < n; i++) key += SEP + tokens[i];
    return key;
  }

  insert(c: C): void {
    c.key = this.keyOf(c.tokens);
    push(this.buckets, c.key, c);
    push(this.byLength, c.tokens.length, c);
  }

  remove(c: C): void {
    pull(this.buckets, c.key, c);
    pull(this.byLength, c.tokens.length, c);
  }

  /** Re-file a cluster whose template changed (its leading tokens may have become wildcards). */
  refile(c: C): void {
    const key = this.keyOf(c.tokens);
    if (key === c.key) return;
    pull(this.buckets, c.key, c);
    c.key = key;
    push(this.buckets, key, c);
  }

  /** Every cluster with this many tokens (the scope of merges). */
  sameLength(length: number): readonly C[] {
    return this.byLength.get(length) ?? [];
  }

  /** Most similar cluster at or above `threshold`, searching from the narrowest scope outwards. */
  find(tokens: readonly string[], threshold: number, wideThreshold: number): C | undefined {
    const exact = this.keyOf(tokens);
    const own = this.buckets.get(exact);
    if (own) {
      const hit = best(own, tokens, threshold);
      if (hit) return hit;
    }
    const n = Math.min(this.depth, tokens.length - 1);
    // Each non-empty subset of the leading positions replaced by wildcards, fewest first.
    for (let mask = 1; mask < 1 << n; mask++) {
      let key = String(tokens.length);
      let already = false;
      for (let i = 0; i < n; i++) {
        const wild = (mask >> i) & 1;
        if (wild && tokens[i] === WILDCARD) already = true;
        key += SEP + (wild ? WILDCARD : tokens[i]);
      }
      if (already) continue;
      const bucket = this.buckets.get(key);
      if (!bucket) continue;
      const hit = best(bucket, tokens, threshold);
      if (hit) return hit;
    }
    if (n === 0) return undefined;
    return best(this.sameLength(tokens.length), tokens, wideThreshold);
  }
}

/**
 * Share of the template's words that the message repeats. Positions where the template already has
 * a wildcard say nothing about membership and are skipped, and so are separators, which every
 * message has and would make any two short messages look alike. A message value (`<*>`) against a
 * template word counts as a difference: the template saw a word there.
 */
export function similarity(template: readonly string[], tokens: readonly string[]): number {
  let same = 0;
  let comparable = 0;
  for (let i = 0; i < template.length; i++) {
    const a = template[i]!;
    if (a === WILDCARD) continue;
    if (isSeparator(a)) {
      // A separator is no evidence when it matches, but a different one means a different shape.
      if (a !== tokens[i]) comparable++;
      continue;
    }
    comparable++;
    if (a === tokens[i]) same++;
  }
  return comparable === 0 ? 1 : same / comparable;
}

/** True when `general` equals `specific` at every position where `general` is not a wildcard. */
export function covers(general: readonly string[], specific: readonly string[]): boolean {
  if (general.length !== specific.length) return false;
  for (let i = 0; i < general.length; i++) {
    if (general[i] !== WILDCARD && general[i] !== specific[i]) return false;
  }
  return true;
}

/** Best cluster by similarity; on a tie the oldest, so the choice does not depend on insertion order. */
function best<C extends IndexedCluster>(list: readonly C[], tokens: readonly string[], threshold: number) {
  let found: C | undefined;
  let bestSim = -1;
  for (const c of list) {
    const sim = similarity(c.tokens, tokens);
    if (sim > bestSim || (sim === bestSim && found !== undefined && c.seq < found.seq)) {
      bestSim = sim;
      found = c;
    }
  }
  return bestSim >= threshold ? found : undefined;
}

function push<K, C>(map: Map<K, C[]>, key: K, c: C): void {
  const list = map.get(key);
  if (list) list.push(c);
  else map.set(key, [c]);
}

function pull<K, C>(map: Map<K, C[]>, key: K, c: C): void {
  const list = map.get(key);
  if (!list) return;
  const i = list.indexOf(c);
  if (i >= 0) list.splice(i, 1);
  if (list.length === 0) map.delete(key);
}
