import * as v from "valibot";
import { enqueueFix } from "../broker/records.ts";
import type { Broker } from "../broker/types.ts";
import { CentralConfig } from "../core/config/central.ts";
import { newId } from "../core/ids.ts";
import type { ServicePatterns } from "../core/patterns/load.ts";
import { PatternsFile } from "../core/patterns/schema.ts";
import type { Fix, FixStatus } from "../core/schemas/fix.ts";
import type { Incident } from "../core/schemas/incident.ts";
import { waitFor } from "./harness/ports.ts";

/** Shared set-up of the executor tests: a test policy, config, and seeded fix records. */
export interface TestService {
  webRoot: string;
  confDir?: string;
  /** Service ops (argv) pointing at the harness nginx, when there is one. */
  validate?: string[];
  reload?: string[];
  configFiles?: string[];
  /** Also allow `chmod` of files and folders under confDir (a change no write_file backup covers). */
  confChmod?: boolean;
  /**
   * URL prefixes of the `http` rule. A prefix without a port means port 80, so tests that check
   * the harness nginx on its own port pass `nginx.url("/")`.
   */
  httpPrefixes?: string[];
  /** The site's accounts of the chmod/chown rules' targets (default root and www-data). */
  owners?: string[];
  /** A content policy for write_file (e.g. the shipped nginx one). */
  content?: unknown;
}

export function testPatterns(s: TestService): Map<string, ServicePatterns> {
  const op = (argv?: string[]) => (argv ? { program: argv[0]!, args: argv.slice(1) } : undefined);
  // Test files are made by root, so root counts as one of the site's accounts here; the shipped
  // policies name www-data only (test/executor-nginx.test.ts shows a root-owned file refused).
  const owners = s.owners ?? ["root", "www-data"];
  const byPath = (id: string, program: string, values: string[], kind: "file" | "dir", roots: string[]) => ({
    id,
    type: "run",
    description: `${program} of ${kind}s`,
    risk: "low",
    program,
    args: [{ enum: values }, { path: { roots, allow_dirs: kind === "dir" } }],
    target: { kind, owners },
  });
  const rules: unknown[] = [
    byPath("chmod-web", "chmod", ["644", "640", "600"], "file", [s.webRoot]),
    byPath("chmod-web-dir", "chmod", ["755", "750", "700"], "dir", [s.webRoot]),
    byPath("chown-web", "chown", ["www-data", "www-data:www-data", "nobody"], "file", [s.webRoot]),
    byPath("chown-web-dir", "chown", ["www-data", "www-data:www-data", "nobody"], "dir", [s.webRoot]),
    {
      id: "sleep",
      type: "run",
      description: "a slow action (tests)",
      risk: "low",
      program: "sleep",
      args: [{ int: { min: 1, max: 60 } }],
    },
    {
      id: "write-web",
      type: "write_file",
      description: "files under the web root",
      risk: "low",
      path: { roots: [s.webRoot] },
      max_bytes: 65536,
    },
    {
      id: "validate-reload",
      type: "service",
      description: "nginx -t and reload",
      risk: "low",
      ops: ["validate", "reload"],
    },
    {
      id: "http-local",
      type: "http",
      description: "local URLs",
      risk: "low",
      url_prefixes: s.httpPrefixes ?? ["http://127.0.0.1"],
      paths: ["/*"],
    },
  ];
  if (s.confDir)
    rules.push({
      id: "write-conf",
      type: "write_file",
      description: "nginx config",
      risk: "medium",
      path: { roots: [s.confDir] },
      max_bytes: 262144,
      modes: ["0644", "0640"],
    });
  if (s.confDir && s.confChmod)
    rules.push(
      { ...byPath("chmod-conf", "chmod", ["644", "640", "600"], "file", [s.confDir]), risk: "medium" },
      { ...byPath("chmod-conf-dir", "chmod", ["755", "750", "700"], "dir", [s.confDir]), risk: "medium" },
    );
  const service_ops: Record<string, unknown> = {};
  if (s.validate) service_ops.validate = op(s.validate);
  if (s.reload) service_ops.reload = op(s.reload);
  const spec = v.parse(PatternsFile, {
    service: "nginx",
    description: "test nginx",
    log_paths: [],
    service_ops,
    config_files: s.configFiles ?? [],
    policy: { description: "test policy", rules, ...(s.content ? { content: s.content } : {}) },
    patterns: [
      { id: "x", regex: "x", severity: "error", category: "test", description: "x", examples: ["x"] },
    ],
  });
  return new Map([["nginx", { service: "nginx", file: "test:nginx.yml", spec, patterns: [] }]]);
}

export function testConfig(input: Record<string, unknown>): CentralConfig {
  return v.parse(CentralConfig, input);
}

export interface SeedInput {
  actions: unknown[];
  preconditions?: unknown[];
  verify?: unknown[];
  rollback?: unknown[];
  risk?: Fix["risk"];
  approval?: Fix["approval"];
  client_id?: string;
  dry_run?: boolean;
  /** A fix id chosen beforehand (to prepare its backup folder on the host first). */
  fix_id?: string;
  /** Store the fix as already `executing` by a run that is gone (tests of recovery). */
  interrupted?: { executor: string; token: number };
}

/** Store an incident and a queued fix, and put the fix on mcp:fixes. */
export async function seedFix(broker: Broker, input: SeedInput): Promise<Fix> {
  const now = new Date().toISOString();
  const incident: Incident = {
    v: 1,
    incident_id: newId("inc_"),
    fingerprint: newId(),
    service: "nginx",
    pattern_id: "x",
    template: "x",
    severity: "error",
    category: "test",
    hosts: ["127.0.0.1"],
    client_ids: [input.client_id ?? "c1"],
    count: 1,
    first_seen: now,
    last_seen: now,
    samples: [],
    fields: {},
    status: "queued",
    fix_ids: [],
    fixed_at: [],
    regressions: 0,
    history: [],
  };
  const fix = {
    v: 1,
    fix_id: input.fix_id ?? newId("fix_"),
    incident_id: incident.incident_id,
    client_id: input.client_id ?? "c1",
    host: "127.0.0.1",
    service: "nginx",
    source: "manual",
    diagnosis: "test",
    risk: input.risk ?? "low",
    actions: input.actions,
    preconditions: input.preconditions ?? [],
    verify: input.verify ?? [],
    rollback: input.rollback ?? [],
    status: input.interrupted ? "executing" : "queued",
    ...(input.interrupted ? { run: { ...input.interrupted, started_at: now } } : {}),
    dry_run: input.dry_run ?? false,
    steps: [],
    created_at: now,
    updated_at: now,
    ...(input.approval ? { approval: input.approval } : {}),
  } as Fix;
  await broker.putRecord("incident", incident.incident_id, incident, 0);
  await broker.putRecord("fix", fix.fix_id, fix, 0);
  await enqueueFix(broker, fix);
  return fix;
}

/** Wait until the fix record reaches one of `statuses`; returns it. */
export async function waitForStatus(
  broker: Broker,
  fixId: string,
  statuses: FixStatus[],
  timeoutMs = 30_000,
): Promise<Fix> {
  let last: Fix | undefined;
  await waitFor(
    `fix ${fixId} to reach ${statuses.join("|")}`,
    async () => {
      last = (await broker.getRecord<Fix>("fix", fixId))?.value;
      return Boolean(last && statuses.includes(last.status));
    },
    timeoutMs,
    50,
  ).catch((err) => {
    throw new Error(`${(err as Error).message}; last: ${last?.status} ${last?.status_reason}`);
  });
  return last!;
}

export async function getIncident(broker: Broker, id: string): Promise<Incident> {
  return (await broker.getRecord<Incident>("incident", id))!.value;
}

export function sha256(bytes: Uint8Array | string): string {
  return new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
}
