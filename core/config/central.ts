import * as v from "valibot";
import { Risk } from "../schemas/actions.ts";
import { ServiceName } from "../schemas/common.ts";
import { bool, brokerUrl, nonNegInt, port, posInt, str } from "./shapes.ts";

/**
 * `configs/mcp-config.yml`: the central configuration (API, analyzers, executors, broker).
 * Keys and meanings of the original product description are kept; unknown keys are refused.
 */
export const DEFAULT_MODEL = "claude-sonnet-5-5";

const Claude = v.strictObject({
  model: v.optional(str("Claude model id"), DEFAULT_MODEL),
  max_retries: nonNegInt("retries of 429/529/5xx/timeouts before entries stay pending", 3),
  max_tokens: posInt("max_tokens of one request", 4096),
  timeout_s: posInt("timeout of one request in seconds", 60),
  base_url: v.optional(str("Messages API base URL (tests point it at a fake server)")),
  batch_wait_ms: nonNegInt("how long to wait to fill a batch before sending it", 2000),
  batch_across_clients: bool(
    "let one request carry incidents of different clients (one client's log text then shares a prompt with another's fix)",
    false,
  ),
});

const TokenLimits = v.strictObject({
  max_tokens_per_minute: posInt("token budget shared by all analyzer processes", 40000),
  batch_size: posInt("incidents per Claude request", 5),
  cache_ttl_hours: v.optional(
    v.pipe(v.number("expected a number of hours"), v.minValue(0, "expected a number of hours ≥ 0")),
    24,
  ),
});

const Processing = v.strictObject({
  error_processors: nonNegInt("analyzer consumers per process", 3),
  fix_executors: nonNegInt("executor consumers per process", 2),
  max_deliveries: posInt("deliveries before an entry goes to mcp:dlq", 5),
  claim_idle_ms: posInt("idle time before another consumer claims a pending entry", 60000),
  critical_services: v.optional(v.array(ServiceName), []),
});

const Incidents = v.strictObject({
  loop_guard_max_fixes: posInt("fixes of one incident inside the window before it needs a human", 3),
  loop_guard_window_minutes: posInt("loop guard window", 60),
});

const SshSettings = v.strictObject({
  max_connections_per_client: posInt("pooled SSH connections per host", 5),
  connection_timeout: posInt("SSH connection timeout in seconds", 30),
  user: v.optional(str("SSH user on the hosts"), "mcpmon"),
  private_key_path: v.optional(str("private key for SSH (key authentication only)"), "ssh-keys/mcp_key"),
  known_hosts: v.optional(str("known_hosts file with the hosts' keys"), "ssh-keys/known_hosts"),
  trust_on_first_use: bool("accept and pin an unknown host key on first connection", false),
  sudo: bool("run fix actions through sudo -n", false),
  command_timeout: posInt("timeout of one action in seconds", 60),
});

const Target = v.strictObject({
  transport: v.optional(v.picklist(["ssh", "local"], 'expected "ssh" or "local"'), "ssh"),
  host: v.optional(str("host name or address")),
  port: v.optional(port("SSH port"), 22),
  user: v.optional(str("SSH user")),
  host_key: v.optional(str('pinned host key ("ssh-ed25519 AAAA…")')),
});

const ApiToken = v.strictObject({
  name: v.optional(str("who holds the token (audit)"), "token"),
  token: v.pipe(v.string("expected a string"), v.description("bearer token")),
  role: v.picklist(
    ["viewer", "reporter", "operator", "admin"],
    'expected "viewer", "reporter", "operator" or "admin"',
  ),
  /**
   * Client ids this token may report errors for (POST /errors). Absent: any configured or
   * registered client. Bind every application's reporter token to its own clients.
   */
  clients: v.optional(v.array(str("client id this token may report for"))),
});

const Api = v.strictObject({
  enabled: bool("serve the HTTP API", true),
  host: v.optional(str("listen address"), "127.0.0.1"),
  port: v.optional(port("API port"), 8080),
  metrics_port: v.optional(
    v.nullable(port("separate /metrics port (9090 in the product description)")),
    null,
  ),
  metrics_public: bool("serve /metrics without a token", true),
  tokens: v.optional(v.array(ApiToken), []),
  allow_cidrs: v.optional(v.array(str("client address ranges allowed to connect")), []),
  max_body_bytes: posInt("largest request body", 1_048_576),
  /**
   * DNS-rebinding protection of /mcp: the Host header, and the Origin header when a browser sends
   * one, must name one of these (port ignored). localhost, 127.0.0.1, ::1 and api.host (unless a
   * wildcard) are always allowed; add the names a load balancer or clients use.
   */
  host_names: v.optional(v.array(str("a host name clients use to reach the API (checked on /mcp)")), []),
});

/** The MCP server: Streamable HTTP at /mcp on the API port, and stdio (`mcpmon mcp`). */
const Mcp = v.strictObject({
  enabled: bool("serve MCP over Streamable HTTP at /mcp on the API port", true),
  allow_writes: bool(
    "offer the write tools (approve_fix, reject_fix, ignore_incident, pause/resume_processing) to tokens whose role allows them; off: read-only tools only",
    false,
  ),
});

const AutoRisk = v.picklist(["none", "low", "medium", "high"], 'expected "none", "low", "medium" or "high"');
const Executor = v.strictObject({
  /** Rule fixes (a pattern's remediation) up to this risk run without an operator. */
  auto_approve_max_risk: v.optional(AutoRisk, "low"),
  /**
   * Fixes Claude proposed (or that came from its cached answer): `none` by default, so each waits
   * for an operator whatever its risk. Log lines are attacker-controlled text in the prompt.
   */
  auto_approve_model_max_risk: v.optional(AutoRisk, "none"),
  dry_run: bool("record the plan and run nothing", false),
  backup_dir: v.optional(str("per-fix backup folder on the host"), "/var/backups/mcpmon"),
  claim_idle_ms: v.optional(
    v.pipe(
      v.number("expected milliseconds"),
      v.integer(),
      v.minValue(100),
      v.description(
        "idle time before another executor takes over a fix entry (default: 15000, or processing.claim_idle_ms when shorter)",
      ),
    ),
  ),
  lease_ms: v.optional(
    v.pipe(
      v.number("expected milliseconds"),
      v.integer(),
      v.minValue(100),
      v.description(
        "lease of a running fix, renewed every third of it (default: 10000, or processing.claim_idle_ms when shorter)",
      ),
    ),
  ),
  sweep_every_s: posInt(
    "how often each executor process looks for fixes whose record and queue disagree",
    15,
  ),
  sweep_after_s: posInt("a fix record untouched this long is looked at by the sweeper", 30),
});

const Broker = v.strictObject({
  url: v.optional(
    brokerUrl("redis://…, rediss://… or sqlite:PATH (embedded, the default)"),
    "sqlite:.data/mcpmon.db",
  ),
  prefix: v.optional(str("key prefix of every stream and key"), "mcp:"),
  durable: bool(
    "appends (POST /errors, fixes, events, and the collectors of mcpmon all) resolve only once Redis has them in its fsynced AOF; a Redis that cannot is refused at start",
    false,
  ),
  wait_replicas: nonNegInt(
    "appends resolve only once this many replicas hold them (WAIT after each batch), so a failover to a replica loses no acknowledged event; 0 = do not wait",
    0,
  ),
});

export const CentralConfig = v.strictObject({
  claude_api_key: v.optional(v.string("expected a string"), ""),
  claude: v.optional(Claude, {}),
  token_limits: v.optional(TokenLimits, {}),
  processing: v.optional(Processing, {}),
  incidents: v.optional(Incidents, {}),
  ssh_settings: v.optional(SshSettings, {}),
  targets: v.optional(v.record(v.string(), Target), {}),
  broker: v.optional(Broker, {}),
  api: v.optional(Api, {}),
  executor: v.optional(Executor, {}),
  mcp: v.optional(Mcp, {}),
  /** Client configs that `mcpmon all` runs a collector for, relative to this file. */
  clients: v.optional(v.array(str("client config file")), []),
  patterns_dir: v.optional(str("folder of patterns/<service>.yml files (the shipped ones by default)")),
  logging: v.optional(
    v.strictObject({
      level: v.optional(
        v.picklist(
          [
            "trace",
            "debug",
            "info",
            "warn",
            "error",
            "fatal",
            "TRACE",
            "DEBUG",
            "INFO",
            "WARN",
            "ERROR",
            "FATAL",
          ],
          "expected a log level (debug, info, warn, error)",
        ),
        "info",
      ),
    }),
    {},
  ),
});
export type CentralConfig = v.InferOutput<typeof CentralConfig>;
