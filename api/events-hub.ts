import type { Broker } from "../broker/types.ts";
import type { Logger } from "../core/log.ts";
import type { Channel, McpEvent } from "../core/schemas/event.ts";

type Listener = (event: McpEvent) => void;

/**
 * Tails `mcp:events` (one blocking read loop per API instance) and fans every event out to the
 * WebSocket subscribers of its channel and to the metrics. Because every instance reads the
 * stream itself, every API instance sees every event, whichever process wrote it.
 */
export class EventsHub {
  private readonly listeners = new Map<Channel | "*", Set<Listener>>();
  private running = false;
  private loop: Promise<void> | null = null;

  constructor(
    private readonly broker: Broker,
    private readonly log: Logger,
  ) {}

  subscribe(channel: Channel | "*", fn: Listener): () => void {
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
    }
    set.add(fn);
    return () => set.delete(fn);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private async run(): Promise<void> {
    const stream = this.broker.keys.events;
    let last = "$";
    let backoff = 100;
    while (this.running) {
      try {
        if (last === "$") last = (await this.broker.stats(stream)).last_id ?? "0-0";
        const entries = await this.broker.read(stream, last, { count: 200, blockMs: 500 });
        backoff = 100;
        for (const entry of entries) {
          last = entry.id;
          const event = parseEvent(entry.fields.data);
          if (event) this.dispatch(event);
        }
      } catch (err) {
        if (!this.running) break;
        this.log.warn({ err: String(err) }, "events tail failed; retrying");
        await Bun.sleep(backoff);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }

  private dispatch(event: McpEvent): void {
    for (const key of [event.channel, "*"] as const) {
      for (const fn of this.listeners.get(key) ?? []) {
        try {
          fn(event);
        } catch (err) {
          this.log.warn({ err: String(err), type: event.type }, "event listener failed");
        }
      }
    }
  }
}

function parseEvent(data: string | undefined): McpEvent | null {
  if (!data) return null;
  try {
    const e = JSON.parse(data) as McpEvent;
    return typeof e.type === "string" && typeof e.channel === "string" ? e : null;
  } catch {
    return null;
  }
}
