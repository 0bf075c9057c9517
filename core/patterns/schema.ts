import * as v from "valibot";
import { Check, Risk, RunAction } from "../schemas/actions.ts";
import { ServiceName, Severity } from "../schemas/common.ts";
import { Detect } from "./detect-schema.ts";

/**
 * `patterns/<service>.yml`: the whole description of a service. Adding a service is one such
 * file and no code: log paths, header stripping, multiline rule, health check, service operations,
 * command policy, and the error patterns with examples that the test suite checks.
 */

/** A regex source string; compiled (and its errors reported with file and id) by the loader. */
const RegexSource = v.pipe(v.string(), v.minLength(1), v.description("JavaScript regular expression source"));

/**
 * An argument that starts with "-" is read by most programs as an option (`pg_ctlcluster 15
 * --foreground reload`), so `path`, `directive` and `regex` shapes refuse one unless the shape
 * opts in with `allow_leading_dash: true`. `literal` and `enum` name their values exactly.
 */
const LeadingDash = { allow_leading_dash: v.optional(v.boolean()) };

/** Shapes a `run` argument may take in a policy rule. Exactly one shape key per shape. */
export const ArgShape = v.union([
  v.strictObject({ literal: v.string() }),
  v.strictObject({ enum: v.pipe(v.array(v.string()), v.minLength(1)) }),
  v.strictObject({
    int: v.strictObject({ min: v.number(), max: v.number() }),
  }),
  v.strictObject({
    /**
     * A path strictly below one of `roots` after normalisation (a root itself is never allowed:
     * `chmod 640 /var/www/html` would take a whole site down); no `..`, no symlink escape.
     */
    path: v.strictObject({
      roots: v.pipe(v.array(v.string()), v.minLength(1)),
      /** Also accept paths written as folders ("…/dir/"); still only below a root. */
      allow_dirs: v.optional(v.boolean(), false),
    }),
    ...LeadingDash,
  }),
  /** A config directive name from the list (e.g. client_max_body_size). */
  v.strictObject({ directive: v.pipe(v.array(v.string()), v.minLength(1)), ...LeadingDash }),
  /** An anchored regex the whole argument must match (e.g. a size like 10m). */
  v.strictObject({ regex: RegexSource, ...LeadingDash }),
  /**
   * A size as Redis and nginx write it (`512mb`, `2gb`), between `min` and `max` (same syntax);
   * 0 ("unlimited") is never accepted. `units` limits how it may be written (e.g. [mb, gb]).
   */
  v.strictObject({
    size: v.strictObject({
      min: v.pipe(v.string(), v.regex(/^\d+(?:b|kb|k|mb|m|gb|g)?$/i, "expected a size like 64mb")),
      max: v.pipe(v.string(), v.regex(/^\d+(?:b|kb|k|mb|m|gb|g)?$/i, "expected a size like 64gb")),
      units: v.optional(v.array(v.string())),
    }),
  }),
]);
export type ArgShape = v.InferOutput<typeof ArgShape>;

const RuleBase = {
  id: v.pipe(v.string(), v.regex(/^[a-z0-9][a-z0-9_.-]*$/, "expected a rule id like chmod-web-file")),
  description: v.string(),
  risk: Risk,
};

/**
 * What a chmod/chown rule may act on, checked by the host helper on the opened object (not on the
 * path as written, which a symlink can change): its kind, whose it is, and whether it looks
 * protected on purpose. A change that widens access (a chmod adding a permission bit, any chown)
 * of a file an outsider can name in a request must not expose what its owner locked away.
 */
export const ChangeTarget = v.strictObject({
  /** `file` rules never touch a folder and `dir` rules never a file. */
  kind: v.picklist(["file", "dir"], 'expected "file" or "dir"'),
  /**
   * A widening change applies only when the object's owner user or group is one of these (the
   * site's accounts: www-data, the deploy user). A root-owned 600 file was locked on purpose.
   */
  owners: v.pipe(v.array(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/))), v.minLength(1)),
  /**
   * `refuse` (the default): a widening change of a path that looks protected on purpose (a dot
   * file or folder on the way, a key, certificate, dump, backup, env or htpasswd name) or of a
   * file whose first 64 KiB hold a credential is refused. `off` is for rules whose roots hold no
   * served content.
   */
  protected: v.optional(v.picklist(["refuse", "off"]), "refuse"),
});
export type ChangeTarget = v.InferOutput<typeof ChangeTarget>;

export const PolicyRule = v.variant("type", [
  v.strictObject({
    ...RuleBase,
    type: v.literal("run"),
    program: v.string(),
    /** Positional argument shapes; `rest` (if set) is the shape of any further arguments. */
    args: v.optional(v.array(ArgShape), []),
    rest: v.optional(ArgShape),
    max_args: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
    /** Required for chmod/chown rules (see ChangeTarget); not allowed on other programs. */
    target: v.optional(ChangeTarget),
  }),
  v.strictObject({
    ...RuleBase,
    type: v.literal("write_file"),
    path: v.strictObject({ roots: v.pipe(v.array(v.string()), v.minLength(1)) }),
    max_bytes: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 1_048_576),
    modes: v.optional(v.array(v.string())),
    /**
     * Mode of a file the rule creates when the action gives none (default: the first of `modes`,
     * else 0640). An existing file keeps its mode without group/other write.
     */
    create_mode: v.optional(v.pipe(v.string(), v.regex(/^0?[0-7]{3}$/, "expected a mode like 0640"))),
  }),
  v.strictObject({
    ...RuleBase,
    type: v.literal("service"),
    ops: v.pipe(v.array(v.picklist(["validate", "reload", "restart"])), v.minLength(1)),
  }),
  v.strictObject({
    ...RuleBase,
    type: v.literal("http"),
    /**
     * Allowed URL prefixes for http checks (verify steps only), compared as parsed URLs: scheme,
     * host, port and path. A prefix without a port means the scheme's default port (80, 443).
     */
    url_prefixes: v.pipe(v.array(v.string()), v.minLength(1)),
    /**
     * The paths a check may GET on those hosts: exact (`/status`), or a prefix ending in `*`
     * (`/static/*`). Any other path on the local port is refused: a verify step is not a way to
     * make the host request an arbitrary local URL.
     */
    paths: v.pipe(
      v.array(v.pipe(v.string(), v.regex(/^\/[^?#\s]*$/, "expected a path like /status or /static/*"))),
      v.minLength(1),
    ),
  }),
]);
export type PolicyRule = v.InferOutput<typeof PolicyRule>;

/**
 * What `write_file` may never put into a config file of this service: directives that load code,
 * run commands or open the door (nginx `load_module`, PostgreSQL `shared_preload_libraries`, Redis
 * `loadmodule`, Odoo `admin_passwd`). Checked on the parsed new content, and on the host against
 * the current file: a forbidden directive may be kept exactly as it is, never added, changed or
 * removed.
 */
export const ContentRule = v.union([
  v.strictObject({
    /** Directive (or key) name, compared case-insensitively. */
    directive: v.pipe(v.string(), v.minLength(1)),
    /** Only entries whose value matches this regex are forbidden (`user root`, `nopass`). */
    value: v.optional(RegexSource),
    why: v.string(),
    /** Basenames (glob with `*`) the rule applies to; default every file. */
    files: v.optional(v.array(v.string())),
  }),
  v.strictObject({
    /** A regex over each non-comment line (pg_hba.conf lines with `trust`). */
    line: RegexSource,
    why: v.string(),
    files: v.optional(v.array(v.string())),
  }),
]);
export type ContentRule = v.InferOutput<typeof ContentRule>;

export const ContentPolicy = v.strictObject({
  /**
   * How a directive and its value are read: `nginx` (`name args;` statements), `keyvalue` (one
   * `name [=] value` per line: postgresql.conf, redis.conf), `ini` (`key = value` under sections).
   */
  syntax: v.picklist(["nginx", "keyvalue", "ini"]),
  forbidden: v.pipe(v.array(ContentRule), v.minLength(1)),
});
export type ContentPolicy = v.InferOutput<typeof ContentPolicy>;

export const Policy = v.strictObject({
  /** Words an operator can review: what this policy lets mcpmon do on a host, and why. */
  description: v.string(),
  rules: v.array(PolicyRule),
  content: v.optional(ContentPolicy),
});
export type Policy = v.InferOutput<typeof Policy>;

/** A remediation template: `${name}` in args/paths/content is filled from the pattern's named groups. */
export const Remediation = v.strictObject({
  description: v.string(),
  risk: Risk,
  actions: v.pipe(v.array(v.unknown()), v.minLength(1)),
  preconditions: v.optional(v.array(v.unknown()), []),
  verify: v.optional(v.array(v.unknown()), []),
  rollback: v.optional(v.array(v.unknown()), []),
});
export type Remediation = v.InferOutput<typeof Remediation>;

export const Pattern = v.strictObject({
  id: v.pipe(
    v.string(),
    v.regex(/^[a-z0-9][a-z0-9_.-]*$/, "expected a pattern id like nginx-permission-denied"),
  ),
  /** Matched against the message part of a record (after the header is stripped), or the whole record when `on: record`. */
  regex: RegexSource,
  flags: v.optional(v.pipe(v.string(), v.regex(/^[imsu]*$/, "expected regex flags from i, m, s, u")), ""),
  on: v.optional(v.picklist(["message", "record"]), "message"),
  severity: Severity,
  /** Lowercase slug (it travels in every event: `permissions`, `upstream`). */
  category: v.pipe(
    v.string(),
    v.regex(/^[a-z0-9][a-z0-9_.-]{0,199}$/, "expected a lowercase category like permissions"),
  ),
  description: v.string(),
  remediation: v.optional(Remediation),
  examples: v.pipe(v.array(v.string()), v.minLength(1, "every pattern needs at least one real example line")),
  counter_examples: v.optional(v.array(v.string()), []),
});
export type Pattern = v.InferOutput<typeof Pattern>;

export const HealthCheck = v.variant("type", [
  v.strictObject({ type: v.literal("http"), url: v.string(), expect_status: v.optional(v.number(), 200) }),
  v.strictObject({ type: v.literal("tcp"), host: v.optional(v.string(), "127.0.0.1"), port: v.number() }),
  v.strictObject({
    type: v.literal("command"),
    program: v.string(),
    args: v.optional(v.array(v.string()), []),
  }),
  v.strictObject({ type: v.literal("redis"), url: v.optional(v.string(), "redis://127.0.0.1:6379") }),
  v.strictObject({
    type: v.literal("postgres"),
    host: v.optional(v.string(), "127.0.0.1"),
    port: v.optional(v.number(), 5432),
  }),
  v.strictObject({ type: v.literal("none") }),
]);
export type HealthCheck = v.InferOutput<typeof HealthCheck>;

export const ServiceOp = v.strictObject({
  ...RunAction.entries,
  type: v.optional(v.literal("run"), "run"),
  /**
   * Wait this long after the operation before the next step: `nginx -s reload` only signals the
   * master, and checks that run before the new workers take over would see the old config.
   */
  settle_ms: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(60_000)), 0),
});

export const PatternsFile = v.strictObject({
  service: ServiceName,
  description: v.string(),
  log_paths: v.array(v.string()),
  /** How to strip the line header (time, pid, level) down to the message: named groups time, level, pid. */
  header: v.optional(v.strictObject({ regex: RegexSource }), undefined),
  /** Records no pattern matches: which levels still ship (as `<service>-unmatched`) and which chatter does not. */
  detect: v.optional(Detect),
  multiline: v.optional(
    v.strictObject({
      /** A line matching `start` begins a new record; any other line continues the current one. */
      start: v.optional(RegexSource),
      /** Alternatively: a line matching `continue` continues the current record. */
      continue: v.optional(RegexSource),
      max_lines: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 500),
      flush_ms: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 1000),
    }),
  ),
  health_check: v.optional(HealthCheck, { type: "none" }),
  /** How `service` actions run on a host: validate, reload, restart. */
  service_ops: v.optional(
    v.strictObject({
      validate: v.optional(ServiceOp),
      reload: v.optional(ServiceOp),
      restart: v.optional(ServiceOp),
    }),
    {},
  ),
  /** Config files and folders backed up before a fix when the client has `backup_enabled`. */
  config_files: v.optional(v.array(v.string()), []),
  policy: Policy,
  patterns: v.pipe(v.array(Pattern), v.minLength(1)),
});
export type PatternsFile = v.InferOutput<typeof PatternsFile>;
export type PatternsFileInput = v.InferInput<typeof PatternsFile>;
export { Detect, DetectLevel, EscalateRule, IgnoreRule } from "./detect-schema.ts";
export { Check };
