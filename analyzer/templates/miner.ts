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
import { McpError } from "../../core/errors.ts";
import { shortHash } from "../../core/ids.ts";
import { ClusterIndex, covers } from "./cluster-index.ts";
import { DEFAULT_MASK, type MaskOptions, renderTemplate, tokenize, WILDCARD } from "./mask.ts";

export interface MinerOptions {
  /** Service the messages come from; part of every fingerprint. */
  service?: string;
  /** Minimum share of comparable tokens that must be equal to join a cluster (0..1). */
  similarity?: number;
  /**
   * Similarity needed to join a cluster filed under different leading tokens (searched only when the
   * message's own bucket has no match): stricter, because the leading words usually name the event.
   */
  wideSimilarity?: number;
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
  /** Bucket the cluster is filed under (kept by the index). */
  key: string;
  /** Creation rank: the lower one survives a merge. */
  seq: number;
  /** Rendered template, cached until the tokens change. */
  text: string | undefined;
  /** Fingerprints by pattern id, cached because hashing every line would cost more than mining it. */
  fps: Map<string, string>;
}

/**
 * The defaults, chosen by leave-one-dataset-out over the grid of analyzer/templates/loo.ts on the
 * LogHub samples (bench/grouping.ts prints the choice; the accuracy test checks it still wins).
 */
export const MINER_DEFAULTS = { similarity: 0.75, wideSimilarity: 0.9, depth: 2 } as const;

export class TemplateMiner {
  readonly service: string;
  private readonly similarity: number;
  private readonly wideSimilarity: number;
  private readonly mask: MaskOptions;
  private readonly index: ClusterIndex<Cluster>;
  private readonly byId = new Map<string, Cluster>();
  private readonly aliases = new Map<string, string>();
  /** Clusters in creation order: the oldest wins a merge, and listings are deterministic. */
  private order: Cluster[] = [];
  private nextSeq = 0;

  constructor(opts: MinerOptions = {}) {
    this.service = opts.service ?? "";
    this.similarity = opts.similarity ?? MINER_DEFAULTS.similarity;
    this.wideSimilarity = opts.wideSimilarity ?? MINER_DEFAULTS.wideSimilarity;
    this.mask = opts.mask ?? DEFAULT_MASK;
    this.index = new ClusterIndex(opts.depth ?? MINER_DEFAULTS.depth);
  }

  /** Group one message; `patternId` (the collector's matching pattern) is part of the fingerprint. */
  add(message: string, patternId = ""): AddResult {
    const spaces: boolean[] = [];
    const tokens = tokenize(message, this.mask, spaces);
    const best = this.index.find(tokens, this.similarity, this.wideSimilarity);
    if (!best) {
      const c = this.create(tokens, spaces, message);
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
    if (!changed) return this.result(best, patternId, false, false);
    best.text = undefined;
    this.index.refile(best);
    return this.result(this.mergeCovered(best), patternId, false, true);
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
   * miner; ids and templates come from the snapshot, so fingerprints survive a retuning.
   */
  restore(snap: MinerSnapshot | string): void {
    const s = checkSnapshot(typeof snap === "string" ? parseJson(snap) : snap);
    for (const c of this.order) this.index.remove(c);
    this.byId.clear();
    this.aliases.clear();
    this.order = [];
    this.nextSeq = 0;
    for (const c of s.clusters) {
      const cluster: Cluster = {
        id: c.id,
        tokens: [...c.tokens],
        spaces: [...c.spaces],
        count: c.count,
        example: c.example,
        key: "",
        seq: this.nextSeq++,
        text: undefined,
        fps: new Map(),
      };
      this.index.insert(cluster);
      this.byId.set(c.id, cluster);
      this.order.push(cluster);
    }
    for (const [from, to] of Object.entries(s.aliases)) this.aliases.set(from, to);
  }

  private create(tokens: string[], spaces: boolean[], example: string): Cluster {
    const base = shortHash(`${this.service}\u0000${tokens.join("\u0001")}`, 12);
    let id = base;
    // Two clusters can start from the same template only if one was merged away; keep ids unique.
    for (let n = 1; this.byId.has(id) || this.aliases.has(id); n++) id = `${base}-${n}`;
    const c: Cluster = {
      id,
      tokens: [...tokens],
      spaces,
      count: 1,
      example,
      key: "",
      seq: this.nextSeq++,
      text: undefined,
      fps: new Map(),
    };
    this.index.insert(c);
    this.byId.set(id, c);
    this.order.push(c);
    return c;
  }

  /**
   * After `c` generalised, fold in every cluster of the same length whose template it now covers
   * (equal wherever `c` still has a word): any line of those would match `c` perfectly, so keeping
   * them apart would split one message in two. The older cluster's id survives, with the new template.
   */
  private mergeCovered(c: Cluster): Cluster {
    const group = this.index.sameLength(c.tokens.length).filter((o) => o === c || covers(c.tokens, o.tokens));
    if (group.length === 1) return c;
    let keep = c;
    for (const o of group) if (o.seq < keep.seq) keep = o;
    if (keep !== c) {
      keep.tokens = c.tokens;
      keep.text = undefined;
      this.index.refile(keep);
    }
    for (const o of group) if (o !== keep) this.absorb(keep, o);
    return keep;
  }

  private absorb(keep: Cluster, drop: Cluster): void {
    keep.count += drop.count;
    this.index.remove(drop);
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

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new McpError("VALIDATION", "template snapshot is not valid JSON", { cause });
  }
}

/**
 * A snapshot comes from shared storage another version may have written: check its shape before
 * trusting it, since a half-read state would silently change fingerprints.
 */
function checkSnapshot(raw: unknown): MinerSnapshot {
  const s = raw as Partial<MinerSnapshot> | null;
  if (s?.v !== 1) {
    throw new McpError("VALIDATION", `unsupported template snapshot version ${String(s?.v)}`);
  }
  const ok =
    Array.isArray(s.clusters) &&
    typeof s.aliases === "object" &&
    s.aliases !== null &&
    s.clusters.every(
      (c) =>
        typeof c.id === "string" &&
        Array.isArray(c.tokens) &&
        Array.isArray(c.spaces) &&
        c.tokens.length === c.spaces.length &&
        typeof c.count === "number" &&
        typeof c.example === "string",
    );
  if (!ok) throw new McpError("VALIDATION", "template snapshot is malformed");
  return s as MinerSnapshot;
}
