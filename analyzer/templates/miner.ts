/**
 * Online template miner (Drain-style): groups messages into clusters whose template is the message
 * with its variable parts replaced by `<*>`.
 *
 * Fingerprint stability (the choice that matters downstream): a cluster's `id` is assigned ONCE, as
 * the hash of the first template it had, and never changes; the fingerprint hashes service, pattern id
 * and that id. The template text is kept apart and may generalise later (a token becomes `<*>` when a
 * second value is seen) without changing the fingerprint, so an incident keeps its identity while its
 * template improves. The id is derived from content rather than a counter so that two workers that
 * create the same cluster independently agree on it. When two clusters turn out to be one (their
 * templates become equal after generalisation) the older id survives and the younger is kept as an
 * alias, so lookups by either id still work; new lines of the absorbed cluster get the survivor's
 * fingerprint from then on.
 */
import { shortHash } from "../../core/ids.ts";
import { DEFAULT_MASK, isSeparator, type MaskOptions, renderTemplate, tokenize, WILDCARD } from "./mask.ts";

export interface MinerOptions {
  /** Service the messages come from; part of every fingerprint. */
  service?: string;
  /** Minimum share of comparable tokens that must be equal to join a cluster (0..1). */
  similarity?: number;
  /** Leading tokens used, beside the token count, to pick the candidate clusters. */
  depth?: number;
  mask?: MaskOptions;
}

export interface AddResult {
  /** Stable cluster id (survivor id after merges). */
  clusterId: string;
  /** Current template text, variables as `<*>`. */
  template: string;
  /** hash(service, patternId, clusterId): stable across workers, restarts and generalisation. */
  fingerprint: string;
  /** Lines seen in this cluster so far, this one included. */
  count: number;
  /** True when this line opened a new cluster. */
  created: boolean;
  /** True when this line changed the template (new cluster, generalisation or merge). */
  changed: boolean;
}

export interface ClusterInfo {
  id: string;
  template: string;
  count: number;
  example: string;
}

/** The plain-JSON state of a miner (see `snapshot()`); versioned so a format change is detected. */
export interface MinerSnapshot {
  v: 1;
  service: string;
  clusters: Array<{ id: string; tokens: string[]; spaces: boolean[]; count: number; example: string }>;
  aliases: Record<string, string>;
}

interface Cluster {
  id: string;
  tokens: string[];
  spaces: boolean[];
  count: number;
  example: string;
  /** Bucket the cluster lives in (token count + leading tokens). */
  key: string;
  /** Creation rank: the lower one survives a merge. */
  seq: number;
  /** Rendered template, cached until the tokens change. */
  text: string | undefined;
  /** Fingerprints by pattern id, cached because hashing every line would cost more than mining it. */
  fps: Map<string, string>;
}

const SEP = "\u0001";

export class TemplateMiner {
  readonly service: string;
  private readonly similarity: number;
  private readonly depth: number;
  private readonly mask: MaskOptions;
  private readonly buckets = new Map<string, Cluster[]>();
  private readonly byId = new Map<string, Cluster>();
  private readonly aliases = new Map<string, string>();
  /** Clusters in creation order: the oldest wins a merge, and listings are deterministic. */
  private order: Cluster[] = [];
  private nextSeq = 0;

  constructor(opts: MinerOptions = {}) {
    this.service = opts.service ?? "";
    this.similarity = opts.similarity ?? 0.7;
    this.depth = opts.depth ?? 2;
    this.mask = opts.mask ?? DEFAULT_MASK;
  }

  /** Group one message; `patternId` (the collector's matching pattern) is part of the fingerprint. */
  add(message: string, patternId = ""): AddResult {
    const spaces: boolean[] = [];
    const tokens = tokenize(message, this.mask, spaces);
    const key = this.bucketKey(tokens);
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = [];
      this.buckets.set(key, bucket);
    }
    const best = this.bestMatch(bucket, tokens);
    if (!best) {
      const c = this.create(tokens, spaces, message, key);
      bucket.push(c);
      return this.result(c, patternId, true, true);
    }
    best.count++;
    let changed = false;
    const t = best.tokens;
    for (let i = 0; i < t.length; i++) {
      if (t[i] !== WILDCARD && t[i] !== tokens[i]) {
        t[i] = WILDCARD;
        changed = true;
      }
    }
    if (changed) best.text = undefined;
    const survivor = changed ? this.mergeCovered(best, bucket) : best;
    return this.result(survivor, patternId, false, changed);
  }

  /** Current cluster for an id, following merges; undefined when unknown. */
  resolve(id: string): string | undefined {
    let cur = id;
    for (let hops = 0; hops < 64 && !this.byId.has(cur); hops++) {
      const next = this.aliases.get(cur);
      if (next === undefined) return undefined;
      cur = next;
    }
    return this.byId.has(cur) ? cur : undefined;
  }

  /** Every live cluster, oldest first. */
  clusters(): ClusterInfo[] {
    return this.order.map((c) => ({
      id: c.id,
      template: renderTemplate(c.tokens, c.spaces),
      count: c.count,
      example: c.example,
    }));
  }

  /** Fingerprint for a cluster id (any alias works) without adding a line. */
  fingerprint(clusterId: string, patternId = ""): string {
    return shortHash(`${this.service}\u0000${patternId}\u0000${this.resolve(clusterId) ?? clusterId}`);
  }

  /** Plain-JSON state: `JSON.stringify(miner.snapshot())` is what a TemplateStore saves. */
  snapshot(): MinerSnapshot {
    return {
      v: 1,
      service: this.service,
      clusters: this.order.map((c) => ({
        id: c.id,
        tokens: [...c.tokens],
        spaces: [...c.spaces],
        count: c.count,
        example: c.example,
      })),
      aliases: Object.fromEntries(this.aliases),
    };
  }

  /**
   * Load a snapshot, replacing the current state. Options (similarity, masking) come from this
   * miner, so a restored state keeps its ids even when the options were retuned.
   */
  restore(snap: MinerSnapshot | string): void {
    const s: MinerSnapshot = typeof snap === "string" ? JSON.parse(snap) : snap;
    if (s.v !== 1) throw new Error(`unsupported template snapshot version ${String(s.v)}`);
    this.buckets.clear();
    this.byId.clear();
    this.aliases.clear();
    this.order = [];
    this.nextSeq = 0;
    for (const c of s.clusters) {
      const key = this.bucketKey(c.tokens);
      const cluster: Cluster = {
        ...c,
        tokens: [...c.tokens],
        key,
        seq: this.nextSeq++,
        text: undefined,
        fps: new Map(),
      };
      let bucket = this.buckets.get(key);
      if (!bucket) {
        bucket = [];
        this.buckets.set(key, bucket);
      }
      bucket.push(cluster);
      this.byId.set(c.id, cluster);
      this.order.push(cluster);
    }
    for (const [from, to] of Object.entries(s.aliases)) this.aliases.set(from, to);
  }

  private bucketKey(tokens: readonly string[]): string {
    let key = String(tokens.length);
    // The last token never keys the bucket: in a short message it is as likely a value as a word.
    const n = Math.min(this.depth, tokens.length - 1);
    for (let i = 0; i < n; i++) key += SEP + tokens[i];
    return key;
  }

  /**
   * Best cluster of the bucket by similarity, counting only positions where both sides are words:
   * a position already known to be variable says nothing about whether the line belongs here.
   */
  private bestMatch(bucket: readonly Cluster[], tokens: readonly string[]): Cluster | undefined {
    let best: Cluster | undefined;
    let bestSim = -1;
    for (const c of bucket) {
      const t = c.tokens;
      let same = 0;
      let comparable = 0;
      for (let i = 0; i < t.length; i++) {
        const a = t[i]!;
        const b = tokens[i]!;
        if (a === WILDCARD || isSeparator(a)) continue;
        comparable++;
        if (a === b) same++;
      }
      const sim = comparable === 0 ? 1 : same / comparable;
      if (sim > bestSim) {
        bestSim = sim;
        best = c;
      }
    }
    return bestSim >= this.similarity ? best : undefined;
  }

  private create(tokens: string[], spaces: boolean[], example: string, key: string): Cluster {
    const base = shortHash(`${this.service}\u0000${tokens.join(SEP)}`, 12);
    let id = base;
    // Two clusters can start from the same template only if one was merged away; keep ids unique.
    for (let n = 1; this.byId.has(id) || this.aliases.has(id); n++) id = `${base}-${n}`;
    const c: Cluster = {
      id,
      tokens: [...tokens],
      spaces,
      count: 1,
      example,
      key,
      seq: this.nextSeq++,
      text: undefined,
      fps: new Map(),
    };
    this.byId.set(id, c);
    this.order.push(c);
    return c;
  }

  /**
   * After `c` generalised, fold in every cluster of its bucket whose template it now covers (equal
   * wherever `c` still has a word): any line of those would match `c` perfectly, so keeping them apart
   * would split one message in two. The older cluster's id survives.
   */
  private mergeCovered(c: Cluster, bucket: Cluster[]): Cluster {
    let keep = c;
    for (let i = bucket.length - 1; i >= 0; i--) {
      const other = bucket[i]!;
      if (other === c || !covers(c.tokens, other.tokens)) continue;
      if (other.seq < keep.seq) {
        other.tokens = keep.tokens;
        other.spaces = keep.spaces;
        other.text = undefined;
        [keep, c] = [other, keep];
        this.absorb(keep, c, bucket);
      } else {
        this.absorb(keep, other, bucket);
      }
    }
    return keep;
  }

  private absorb(keep: Cluster, drop: Cluster, bucket: Cluster[]): void {
    keep.count += drop.count;
    bucket.splice(bucket.indexOf(drop), 1);
    this.byId.delete(drop.id);
    this.aliases.set(drop.id, keep.id);
    this.order = this.order.filter((x) => x !== drop);
  }

  private result(c: Cluster, patternId: string, created: boolean, changed: boolean): AddResult {
    let fp = c.fps.get(patternId);
    if (fp === undefined) {
      fp = shortHash(`${this.service}\u0000${patternId}\u0000${c.id}`);
      c.fps.set(patternId, fp);
    }
    if (c.text === undefined) c.text = renderTemplate(c.tokens, c.spaces);
    return {
      clusterId: c.id,
      template: c.text,
      fingerprint: fp,
      count: c.count,
      created,
      changed,
    };
  }
}

/** True when `general` equals `specific` at every position where `general` is not a wildcard. */
function covers(general: readonly string[], specific: readonly string[]): boolean {
  if (general.length !== specific.length) return false;
  for (let i = 0; i < general.length; i++) {
    if (general[i] !== WILDCARD && general[i] !== specific[i]) return false;
  }
  return true;
}
