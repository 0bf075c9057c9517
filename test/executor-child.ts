// A separate executor process for test/executor-crash.test.ts, which kills it with SIGKILL mid-fix.
// Everything it needs comes as JSON in MCP_EXECUTOR_CHILD: broker, config, and the web root.
import { createRedisBroker } from "../broker/redis/index.ts";
import { silentLogger } from "../core/log.ts";
import { startExecutors } from "../executor/worker.ts";
import { testConfig, testPatterns } from "./executor-fixtures.ts";

const input = JSON.parse(process.env.MCP_EXECUTOR_CHILD ?? "{}");
const broker = createRedisBroker({ url: input.url, prefix: input.prefix });
await startExecutors({
  broker,
  config: testConfig(input.config),
  patterns: testPatterns({ webRoot: input.webRoot }),
  log: silentLogger,
  name: "child",
  blockMs: 100,
});
console.log("ready");
