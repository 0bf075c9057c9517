/**
 * Persistence of miner state, so that every worker and every restart gives the same fingerprint for
 * the same error. The store speaks plain JSON strings; the miner never knows where they go.
 */
import type { StatePort } from "../../broker/types.ts";
import { type MinerOptions, type MinerSnapshot, TemplateMiner } from "./miner.ts";

/** Where a service's template state lives between runs. */
export interface TemplateStore {
  load(service: string): Promise<string | null>;
  save(service: string, json: string): Promise<void>;
}

/**
 * A TemplateStore on the broker's state port: one hash under `key` (the port adds its prefix),
 * one field per service, so all services' templates can be listed with a single HGETALL.
 * `legacyKey` is read when `key` has nothing for a service yet: earlier releases passed an
 * already prefixed key (`mcp:hash:mcp:hash:templates`), and losing those templates would change
 * the fingerprints, hence the incidents, of errors seen before the upgrade. Example:
 * `brokerTemplateStore(broker, "templates", broker.keys.hash("templates"))`.
 */
export function brokerTemplateStore(
  state: Pick<StatePort, "hashGetAll" | "hashSet">,
  key: string,
  legacyKey?: string,
): TemplateStore {
  return {
    async load(service) {
      const all = await state.hashGetAll(key);
      if (all[service] !== undefined || !legacyKey) return all[service] ?? null;
      return (await state.hashGetAll(legacyKey))[service] ?? null;
    },
    async save(service, json) {
      await state.hashSet(key, { [service]: json });
    },
  };
}

/** An in-process store, for tests and single-run tools. */
export function memoryTemplateStore(): TemplateStore & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return {
    data,
    async load(service) {
      return data.get(service) ?? null;
    },
    async save(service, json) {
      data.set(service, json);
    },
  };
}

/** A miner for `service`, restored from the store when it holds state for it. */
export async function loadMiner(
  store: TemplateStore,
  service: string,
  opts: Omit<MinerOptions, "service"> = {},
): Promise<TemplateMiner> {
  const miner = new TemplateMiner({ ...opts, service });
  const json = await store.load(service);
  if (json !== null) miner.restore(JSON.parse(json) as MinerSnapshot);
  return miner;
}

/** Write the miner's state to the store under its service. */
export async function saveMiner(store: TemplateStore, miner: TemplateMiner): Promise<void> {
  await store.save(miner.service, JSON.stringify(miner.snapshot()));
}
