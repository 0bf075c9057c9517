// One import for tests:
//   import { startNginx, startPostgres, startRedis, startSshd } from "../harness/index.ts";
export * from "./nginx.ts";
export * from "./ports.ts";
export * from "./postgres.ts";
export * from "./redis.ts";
export * from "./redis-cluster.ts";
export * from "./redis-sentinel.ts";
export * from "./sshd.ts";
export * from "./tmp.ts";
