import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { encode } from "../../core/schemas/codec.ts";
import { tempDir } from "../../test/harness/tmp.ts";
import { brokerContract } from "../contract.ts";
import { createEmbeddedBroker } from "./index.ts";

const tmp = tempDir("mcpmon-embedded-");
afterAll(() => tmp.cleanup());

// Brokers made for one test share the file (the contract opens a second one with the same prefix
// to race writers), so the file is per prefix.
brokerContract("embedded", (prefix) =>
  createEmbeddedBroker({ path: join(tmp.path, `${prefix}.db`), prefix }),
);

describe("embedded broker on one file shared by several connections", () => {
  test(":memory: works", async () => {
    const b = createEmbeddedBroker({ path: ":memory:" });
    expect(await b.append(b.keys.errors, [encode("x", {})])).toHaveLength(1);
    await b.close();
  });
});

/** Run a consumer in a second `bun` process on the same file; it prints the ids it got as JSON. */
async function childConsumer(path: string, prefix: string, mode: "drain" | "tail"): Promise<string[]> {
  const mod = join(import.meta.dir, "index.ts");
  const code = `
    import { createEmbeddedBroker } from ${JSON.stringify(mod)};
    const b = createEmbeddedBroker({ path: ${JSON.stringify(path)}, prefix: ${JSON.stringify(prefix)} });
    const got = [];
    if (${JSON.stringify(mode)} === "tail") {
      console.error("ready");
      for (const e of await b.read(b.keys.events, "0", { blockMs: 20000 })) got.push(e.id);
    } else {
      for (;;) {
        const batch = await b.readGroup(b.keys.errors, "g", "child", { count: 7, blockMs: 300 });
        if (batch.length === 0) break;
        await b.ack(b.keys.errors, "g", batch.map((d) => d.id));
        for (const d of batch) got.push(d.id);
      }
    }
    console.log(JSON.stringify(got));
    await b.close();
  `;
  const proc = Bun.spawn([process.execPath, "-e", code], { stdout: "pipe", stderr: "pipe" });
  const [out, code_] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  if (code_ !== 0) throw new Error(`child exited ${code_}: ${await new Response(proc.stderr).text()}`);
  return JSON.parse(out.trim().split("\n").pop()!) as string[];
}

describe("embedded broker shared by two processes", () => {
  test("two consumers in two processes split the work: every entry once", async () => {
    const path = join(tmp.path, "shared.db");
    const prefix = "mp:";
    const parent = createEmbeddedBroker({ path, prefix });
    try {
      await parent.ensureGroup(parent.keys.errors, "g", "0");
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) {
        ids.push(
          ...(await parent.append(
            parent.keys.errors,
            Array.from({ length: 20 }, (_, j) => encode("x", { i, j })),
          )),
        );
      }
      const mine: string[] = [];
      const child = childConsumer(path, prefix, "drain");
      // Start consuming once the child has joined the group, so both really compete for entries.
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline) {
        const g = (await parent.stats(parent.keys.errors)).groups[0]!;
        if (g.consumers.some((c) => c.name === "child")) break;
        await Bun.sleep(20);
      }
      for (;;) {
        const batch = await parent.readGroup(parent.keys.errors, "g", "parent", { count: 5, blockMs: 300 });
        if (batch.length === 0) break;
        await parent.ack(
          parent.keys.errors,
          "g",
          batch.map((d) => d.id),
        );
        mine.push(...batch.map((d) => d.id));
        await Bun.sleep(1); // let the other process take its turn at the write lock
      }
      const theirs = await child;
      expect([...mine, ...theirs].sort()).toEqual([...ids].sort());
      expect(new Set([...mine, ...theirs]).size).toBe(ids.length);
      expect(theirs.length).toBeGreaterThan(0); // the child joined before the entries ran out
      expect((await parent.stats(parent.keys.errors)).groups[0]!.pending).toBe(0);
    } finally {
      await parent.close();
    }
  });

  test("a blocked read in another process sees this process's append", async () => {
    const path = join(tmp.path, "tail.db");
    const parent = createEmbeddedBroker({ path, prefix: "tail:" });
    try {
      await parent.stats(parent.keys.events); // creates the schema before the child opens the file
      const child = childConsumer(path, "tail:", "tail");
      await Bun.sleep(500);
      const ids = await parent.append(parent.keys.events, [encode("e", { n: 1 })]);
      expect(await child).toEqual(ids);
    } finally {
      await parent.close();
    }
  });
});
