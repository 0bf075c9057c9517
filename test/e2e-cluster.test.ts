/**
 * The issue-13 symptom end to end: on a real Redis Cluster (3 masters, 3 replicas) the analyzer's
 * scripts used to fail with CROSSSLOT and entries stayed pending. Here serve points a plain
 * redis:// at one node (detected as a cluster at connect) and collect uses redis+cluster://.
 */
import { setDefaultTimeout } from "bun:test";
import { e2eOnRedis } from "./e2e-redis-flow.ts";
import { startRedisCluster } from "./harness/index.ts";

setDefaultTimeout(120_000);

e2eOnRedis({
  name: "cluster",
  label: "Redis Cluster",
  async start() {
    const c = await startRedisCluster();
    return { serveUrl: c.seedUrl, collectUrl: c.url, cli: (a) => c.cli(a), stop: () => c.stop() };
  },
});
