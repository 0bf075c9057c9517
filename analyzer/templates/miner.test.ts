import { describe, expect, test } from "bun:test";
import { shortHash } from "../../core/ids.ts";
import { TemplateMiner } from "./miner.ts";
import { brokerTemplateStore, loadMiner, memoryTemplateStore, saveMiner } from "./store.ts";

const LINES = [
  "Accepted password for root from 10.0.0.1 port 22 ssh2",
  "Accepted password for alice from 10.0.0.2 port 2200 ssh2",
  "Failed password for invalid user admin from 10.0.0.3 port 1234 ssh2",
  "Connection closed by 10.0.0.4 [preauth]",
];

describe("TemplateMiner", () => {
  test("groups lines that differ in values and keeps different messages apart", () => {
    const m = new TemplateMiner({ service: "sshd" });
    const a = m.add(LINES[0]!);
    const b = m.add(LINES[1]!);
    const c = m.add(LINES[2]!);
    expect(b.clusterId).toBe(a.clusterId);
    // `22 ssh2` is a run of two values, collapsed into one wildcard.
    expect(b.template).toBe("Accepted password for <*> from <*> port <*>");
    expect(c.clusterId).not.toBe(a.clusterId);
    expect(a.created && !b.created && b.changed).toBe(true);
  });

  test("fingerprint hashes service, pattern id and the cluster id", () => {
    const m = new TemplateMiner({ service: "sshd" });
    const r = m.add(LINES[0]!, "auth");
    expect(r.fingerprint).toBe(shortHash(`sshd\u0000auth\u0000${r.clusterId}`));
    expect(m.add(LINES[0]!, "other").fingerprint).not.toBe(r.fingerprint);
    expect(new TemplateMiner({ service: "nginx" }).add(LINES[0]!, "auth").fingerprint).not.toBe(
      r.fingerprint,
    );
  });

  test("fingerprint survives generalisation of the template", () => {
    const m = new TemplateMiner({ service: "sshd" });
    const first = m.add(LINES[0]!);
    const second = m.add(LINES[1]!);
    expect(second.template).not.toBe(first.template);
    expect(second.fingerprint).toBe(first.fingerprint);
  });

  test("two workers seeing the same first line agree on the fingerprint", () => {
    const w1 = new TemplateMiner({ service: "sshd" });
    const w2 = new TemplateMiner({ service: "sshd" });
    w2.add(LINES[3]!);
    expect(w1.add(LINES[0]!).fingerprint).toBe(w2.add(LINES[0]!).fingerprint);
  });

  test("snapshot/restore through JSON gives the same ids, templates and fingerprints", () => {
    const m = new TemplateMiner({ service: "sshd" });
    const before = LINES.map((l) => m.add(l, "p"));
    const copy = new TemplateMiner({ service: "sshd" });
    copy.restore(JSON.parse(JSON.stringify(m.snapshot())));
    expect(copy.clusters()).toEqual(m.clusters());
    for (const [i, l] of LINES.entries()) {
      const r = copy.add(l, "p");
      expect(r.fingerprint).toBe(before[i]!.fingerprint);
      expect(r.created).toBe(false);
    }
    // A new value after the restart still joins the old cluster.
    expect(copy.add("Accepted password for bob from 10.9.9.9 port 1 ssh2", "p").fingerprint).toBe(
      before[0]!.fingerprint,
    );
  });

  test("restore rejects an unknown version or a malformed snapshot and keeps its state", () => {
    const m = new TemplateMiner();
    const id = m.add(LINES[0]!).clusterId;
    expect(() => m.restore('{"v":9,"clusters":[],"aliases":{}}')).toThrow(/version/);
    expect(() => m.restore('{"v":1,"clusters":[{"id":"x"}],"aliases":{}}')).toThrow(/malformed/);
    expect(() => m.restore("{not json")).toThrow(/JSON/);
    expect(m.resolve(id)).toBe(id);
  });

  test("clusters that become equal merge; the older id survives and the younger resolves to it", () => {
    const m = new TemplateMiner({ similarity: 0.7 });
    // 2 of 5 words differ: too far apart to join, so two clusters start.
    const a = m.add("job run alpha ok red");
    const b = m.add("job run beta ok blue");
    expect(b.clusterId).not.toBe(a.clusterId);
    m.add("job run alpha ok green"); // a: job run alpha ok <*>
    m.add("job run beta ok red"); // b: job run beta ok <*>
    // a generalises to `job run <*> ok <*>`, which covers b: they are one cluster now.
    const last = m.add("job run gamma ok red");
    expect(m.clusters().length).toBe(1);
    expect(last.template).toBe("job run <*> ok <*>");
    expect(last.count).toBe(5);
    expect(m.resolve(b.clusterId)).toBe(m.resolve(a.clusterId));
    expect(last.clusterId).toBe(a.clusterId);
    expect(m.fingerprint(b.clusterId)).toBe(m.fingerprint(a.clusterId));
  });
});

test("a first word that is a value does not split the cluster, before and after a restore", () => {
  const tail = "scheduler told me to run this job; however, the start time is not for 30 seconds";
  const m = new TemplateMiner({ service: "mac" });
  const a = m.add(`com.apple.heartbeat: ${tail}`);
  const b = m.add(`com.apple.SafeBrowsing: ${tail}`);
  expect(b.clusterId).toBe(a.clusterId);
  expect(b.template).toBe(`<*>: ${tail.replace("30", "<*>")}`);
  const copy = new TemplateMiner({ service: "mac" });
  copy.restore(JSON.stringify(m.snapshot()));
  expect(copy.add(`com.apple.CacheDelete: ${tail}`).fingerprint).toBe(a.fingerprint);
});

test("a different first word with a different message stays apart", () => {
  const m = new TemplateMiner();
  const a = m.add("disk sda1 is almost full on host");
  const b = m.add("link eth0 is down again on host");
  expect(b.clusterId).not.toBe(a.clusterId);
});

describe("template stores", () => {
  test("a miner saved and loaded through the store keeps its fingerprints", async () => {
    const store = memoryTemplateStore();
    const m = await loadMiner(store, "sshd");
    const fp = m.add(LINES[0]!).fingerprint;
    await saveMiner(store, m);
    const restarted = await loadMiner(store, "sshd");
    expect(restarted.add(LINES[1]!).fingerprint).toBe(fp);
    expect(await store.load("nginx")).toBeNull();
  });

  test("broker store keeps one hash field per service", async () => {
    const hashes = new Map<string, Record<string, string>>();
    const state = {
      async hashGetAll(key: string) {
        return { ...(hashes.get(key) ?? {}) };
      },
      async hashSet(key: string, values: Record<string, string>) {
        hashes.set(key, { ...(hashes.get(key) ?? {}), ...values });
      },
    };
    const store = brokerTemplateStore(state, "mcp:hash:templates");
    await store.save("sshd", "{}");
    await store.save("nginx", "[]");
    expect(await store.load("sshd")).toBe("{}");
    expect(await store.load("redis")).toBeNull();
    expect(Object.keys(hashes.get("mcp:hash:templates") ?? {}).sort()).toEqual(["nginx", "sshd"]);
  });

  test("broker store reads templates saved under the old doubled key until they are saved again", async () => {
    const hashes = new Map<string, Record<string, string>>([
      ["mcp:hash:mcp:hash:templates", { sshd: '{"old":1}' }],
    ]);
    const state = {
      async hashGetAll(key: string) {
        return { ...(hashes.get(`mcp:hash:${key}`) ?? {}) };
      },
      async hashSet(key: string, values: Record<string, string>) {
        hashes.set(`mcp:hash:${key}`, { ...(hashes.get(`mcp:hash:${key}`) ?? {}), ...values });
      },
    };
    const store = brokerTemplateStore(state, "templates", "mcp:hash:templates");
    expect(await store.load("sshd")).toBe('{"old":1}');
    await store.save("sshd", '{"new":1}');
    expect(await store.load("sshd")).toBe('{"new":1}');
    expect(hashes.get("mcp:hash:templates")).toEqual({ sshd: '{"new":1}' });
  });
});
