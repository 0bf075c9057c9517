// The shipper survives errors of its own spool (a full disk, an I/O error), not only the broker's.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { memoryBroker, until } from "../test/fixtures/collector-util.ts";
import { Shipper } from "./ship.ts";
import { StateDb } from "./spool.ts";

const dir = mkdtempSync(join(tmpdir(), "mcpmon-ship-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const full = () => Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" });

test("a failed spool read or delete is retried with backoff and reported; every event is shipped", async () => {
  const db = new StateDb(join(dir, "collector.db"));
  const mb = memoryBroker();
  // The first peek and the first delete fail as SQLite does on a full disk.
  let peekFails = 1;
  let removeFails = 1;
  const peek = db.peek.bind(db);
  const remove = db.remove.bind(db);
  db.peek = (...a) => {
    if (peekFails-- > 0) throw full();
    return peek(...a);
  };
  db.remove = (...a) => {
    if (removeFails-- > 0) throw full();
    return remove(...a);
  };
  const event = (i: number) => ({ event_id: `e${i}`, data: JSON.stringify({ i }) });
  db.commit("c", { events: [0, 1, 2].map(event), checkpoints: [] });
  const where: string[] = [];
  const sh = new Shipper(db, mb.broker, {
    clientId: "c",
    stream: "s",
    maxEvents: 100,
    idleMs: 20,
    minBackoffMs: 1,
    maxBackoffMs: 5,
    onError: (_err, _n, w) => where.push(w),
  });
  sh.start();
  try {
    await until("first batch shipped and removed", () => db.depthOf("c").rows === 0);
    db.commit("c", { events: [3, 4].map(event), checkpoints: [] });
    sh.notify();
    await until("later events shipped", () => db.depthOf("c").rows === 0 && sh.status.shipped === 5);
  } finally {
    await sh.stop();
    db.close();
  }
  expect(where).toEqual(["spool", "spool"]);
  expect(sh.status.errors).toBe(2);
  expect(sh.status.last_error).toBe("spool: database or disk is full");
  expect(sh.status.broker_down).toBe(false);
  // The batch whose delete failed was appended again, with the same event ids.
  const ids = mb.entries.map((e) => JSON.parse(e.data!).i);
  expect(ids).toEqual([0, 1, 2, 0, 1, 2, 3, 4]);
});
