import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";
import * as v from "valibot";
import { type ApiHandle, startApi } from "../api/server.ts";
import { createEmbeddedBroker } from "../broker/index.ts";
import type { Broker } from "../broker/types.ts";
import { CentralConfig } from "../core/config/central.ts";
import { silentLogger } from "../core/log.ts";
import { tempDir } from "./harness/tmp.ts";

/**
 * The Swagger UI works on a host without internet access: a real headless Chromium (Debian's
 * package, never a downloaded one) opens /swagger of the real server with every non-loopback
 * request refused, and the endpoint list renders from assets the binary serves itself.
 */

const CHROMIUM = "/usr/bin/chromium";

let broker: Broker;
let api: ApiHandle;
let browser: Browser | null = null;
const profile = tempDir("mcpmon-chromium-");

beforeAll(async () => {
  const config = v.parse(CentralConfig, {
    api: { tokens: [{ name: "vera", token: "viewer-token-123", role: "viewer" }] },
  });
  broker = createEmbeddedBroker({ path: ":memory:" });
  api = await startApi({ broker, config, log: silentLogger, version: "test", host: "127.0.0.1", port: 0 });
});

afterAll(async () => {
  await browser?.close().catch(() => {});
  await api?.stop();
  await broker?.close();
  profile.cleanup();
});

test("Swagger UI renders every endpoint in headless Chromium with the network cut off", async () => {
  const context = await chromium.launchPersistentContext(join(profile.path, "profile"), {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
    timeout: 15_000,
  });
  browser = context.browser();
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(10_000);
    const loopback: string[] = [];
    const refused: string[] = [];
    // Every request of the page (documents, scripts, CSS, fonts, fetches) passes through here.
    await context.route("**/*", (route) => {
      const url = new URL(route.request().url());
      if (url.hostname === "127.0.0.1" || url.hostname === "localhost") {
        loopback.push(url.pathname);
        return route.continue();
      }
      refused.push(url.href);
      return route.abort("internetdisconnected");
    });
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(e.message));

    const res = await page.goto(`${api.url}/swagger`, { waitUntil: "load" });
    expect(res?.status()).toBe(200);
    await page.waitForSelector(".opblock", { state: "visible" });
    const ops = await page.$$eval(".opblock", (els) =>
      els.map((el) => ({
        method: el.querySelector(".opblock-summary-method")?.textContent?.trim() ?? "",
        path: el.querySelector(".opblock-summary-path")?.getAttribute("data-path") ?? "",
      })),
    );
    const shown = ops.map((o) => `${o.method} ${o.path}`);
    for (const expected of [
      "GET /health",
      "GET /status",
      "POST /errors",
      "GET /errors/{id}",
      "GET /queues/status",
      "POST /queues/errors/clear",
      "GET /fixes",
      "POST /fixes/{id}/approve",
      "POST /fixes/{id}/reject",
      "POST /clients",
      "DELETE /clients/{id}",
      "GET /tokens/status",
      "GET /metrics",
    ]) {
      expect(shown).toContain(expected);
    }
    // The title comes from the document the page fetched from the server, not from a CDN.
    expect(await page.locator(".info .title").first().textContent()).toContain("mcpmon API");
    expect(loopback).toContain("/swagger/json");
    expect(loopback.some((p) => p.endsWith("swagger-ui-bundle.js"))).toBe(true);
    // Expanding POST /errors shows its request body schema (valibot → JSON Schema), fields and all.
    const submit = page.locator(".opblock-post", { has: page.locator('[data-path="/errors"]') }).first();
    await submit.locator(".opblock-summary").click();
    await submit.locator(".opblock-body").getByText("client_id").first().waitFor({ state: "attached" });
    expect(refused).toEqual([]);
    expect(pageErrors).toEqual([]);

    const shot = process.env.SWAGGER_SCREENSHOT ?? join(profile.path, "swagger.png");
    await page.screenshot({ path: shot, fullPage: false });
    expect(existsSync(shot)).toBe(true);
  } finally {
    await context.close();
    browser = null;
  }
}, 30_000);
