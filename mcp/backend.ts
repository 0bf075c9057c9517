/**
 * What the MCP tools and resources read and change, behind one interface with two sides:
 * `localBackend` calls the API's service functions directly (the /mcp endpoint inside `serve`/`all`,
 * and `mcpmon mcp` with the broker opened itself); `remoteBackend` calls the REST routes of a running
 * server (`mcpmon mcp` with MCP_API_URL), whose routes call the very same functions. Either way the
 * rules (who may approve, what may be ignored, conflicts) live once, in api/services and api/auth.ts.
 */

import type { Principal, Role } from "../api/auth.ts";
import { requireRole } from "../api/auth.ts";
import type { ApiClient } from "../api/client.ts";
import type { ApiDeps } from "../api/deps.ts";
import type { ListQuery } from "../api/schemas.ts";
import { errorStatus, listIncidents } from "../api/services/errors.ts";
import { approveFix, getFix, listFixes, rejectFix } from "../api/services/fixes.ts";
import { ignoreIncident } from "../api/services/incidents.ts";
import {
  clientStatus,
  listClients,
  pause,
  queuesStatus,
  status,
  tokenStatus,
} from "../api/services/system.ts";
import { publishEvent } from "../broker/records.ts";
import type { McpEvent } from "../core/schemas/event.ts";
import type { Fix } from "../core/schemas/fix.ts";
import type { Incident } from "../core/schemas/incident.ts";

export interface Page<T> {
  total: number;
  limit: number;
  offset: number;
  items: T[];
}

export type IncidentDetail = Awaited<ReturnType<typeof errorStatus>>;

export interface Backend {
  /** Who is asking: the token's name and role (the audit trail names it). */
  readonly principal: Principal;
  listIncidents(q: ListQuery): Promise<Page<Incident>>;
  incident(id: string): Promise<IncidentDetail>;
  listFixes(q: ListQuery): Promise<Page<Fix>>;
  fix(id: string): Promise<Fix>;
  queues(): Promise<unknown>;
  tokens(): Promise<unknown>;
  clients(): Promise<{ total: number; items: unknown[] }>;
  client(id: string): Promise<unknown>;
  status(): Promise<Record<string, unknown>>;
  approveFix(id: string, note?: string): Promise<Fix>;
  rejectFix(id: string, reason: string): Promise<Fix>;
  ignoreIncident(id: string, reason?: string): Promise<Incident>;
  setPaused(paused: boolean): Promise<{ paused: boolean }>;
  /** Throws 403 when the caller's role lacks `need` (the remote side's routes check it again). */
  requireRole(need: Role): void;
  /** Append an audit event of an MCP call to `mcp:events`; remote: the API's own events audit it. */
  audit(tool: string, data: Record<string, unknown>): Promise<void>;
  /** Every event of `mcp:events` as it is appended, for resource subscriptions; returns unsubscribe. */
  onEvent(fn: (e: McpEvent) => void): () => void;
}

/** The service layer called in this process, as `principal`. */
export function localBackend(deps: ApiDeps, principal: Principal): Backend {
  return {
    principal,
    listIncidents: (q) => listIncidents(deps, q),
    incident: (id) => errorStatus(deps, id),
    listFixes: (q) => listFixes(deps, q),
    fix: (id) => getFix(deps, id),
    queues: () => queuesStatus(deps),
    tokens: () => tokenStatus(deps),
    clients: () => listClients(deps),
    client: (id) => clientStatus(deps, id),
    status: () => status(deps),
    approveFix: (id, note) => approveFix(deps, id, principal, note ? { note } : {}),
    rejectFix: (id, reason) => rejectFix(deps, id, principal, reason),
    ignoreIncident: (id, reason) => ignoreIncident(deps, id, principal, reason),
    setPaused: (paused) => pause(deps, principal, paused),
    requireRole: (need) => void requireRole(principal, need),
    audit: async (tool, data) => {
      await publishEvent(deps.broker, {
        type: "mcp.tool",
        channel: "system",
        subject: tool,
        data: { by: principal.name, role: principal.role, ...data },
      });
    },
    onEvent: (fn) => deps.hub.subscribe("*", fn),
  };
}

/**
 * The REST API of a running server, as the token's principal. Events for subscriptions come over
 * the API's WebSocket (`/ws`), which tails `mcp:events` on the server.
 */
export function remoteBackend(api: ApiClient, principal: Principal, events: EventSource): Backend {
  const q = (query: ListQuery) => ({ ...query });
  return {
    principal,
    listIncidents: (query) => api.get("/errors", q(query)),
    incident: (id) => api.get(`/errors/${encodeURIComponent(id)}`),
    listFixes: (query) => api.get("/fixes", q(query)),
    fix: (id) => api.get(`/fixes/${encodeURIComponent(id)}`),
    queues: () => api.get("/queues/status"),
    tokens: () => api.get("/tokens/status"),
    clients: () => api.get("/clients"),
    client: (id) => api.get(`/clients/${encodeURIComponent(id)}/status`),
    status: () => api.get("/status"),
    approveFix: (id, note) => api.post(`/fixes/${encodeURIComponent(id)}/approve`, note ? { note } : {}),
    rejectFix: (id, reason) => api.post(`/fixes/${encodeURIComponent(id)}/reject`, { reason }),
    ignoreIncident: (id, reason) =>
      api.post(`/errors/${encodeURIComponent(id)}/ignore`, reason ? { reason } : {}),
    setPaused: (paused) => api.post(paused ? "/processing/pause" : "/processing/resume"),
    requireRole: (need) => void requireRole(principal, need),
    audit: async () => {},
    onEvent: (fn) => events.subscribe(fn),
  };
}

/** A source of `mcp:events` entries (the API's WebSocket for the remote side). */
export interface EventSource {
  subscribe(fn: (e: McpEvent) => void): () => void;
}
