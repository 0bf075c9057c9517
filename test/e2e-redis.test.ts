import { setDefaultTimeout } from "bun:test";
import { e2eOnRedis } from "./e2e-redis-flow.ts";
import { startRedis } from "./harness/index.ts";

setDefaultTimeout(120_000);

e2eOnRedis({
  name: "redis",
  label: "Redis",
  async start() {
    const r = await startRedis();
    return { serveUrl: r.url, collectUrl: r.url, cli: (a) => r.cli(a), stop: () => r.stop() };
  },
});
