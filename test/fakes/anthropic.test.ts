import { afterAll, beforeAll, expect, test } from "bun:test";
import Anthropic from "@anthropic-ai/sdk";
import { type FakeAnthropic, startFakeAnthropic, tokensOf } from "./anthropic.ts";

let fake: FakeAnthropic;
let client: Anthropic;
beforeAll(async () => {
  fake = await startFakeAnthropic();
  client = new Anthropic({ apiKey: "sk-ant-test", baseURL: fake.url, maxRetries: 0, timeout: 10_000 });
});
afterAll(() => fake.stop());

const ask = () =>
  client.messages.create({
    model: "claude-sonnet-5-5",
    max_tokens: 512,
    tools: [{ name: "propose_fixes", input_schema: { type: "object" } }],
    tool_choice: { type: "tool", name: "propose_fixes" },
    messages: [{ role: "user", content: 'two incidents: <incident id="inc_a"> and <incident id="inc_b">' }],
  });

test("the real SDK reaches the fake with a Bearer key and gets one proposal per incident", async () => {
  const msg = await ask();
  const use = msg.content.find((b) => b.type === "tool_use") as {
    input: { proposals: Array<{ incident_id: string }> };
  };
  expect(use.input.proposals.map((p) => p.incident_id)).toEqual(["inc_a", "inc_b"]);
  const req = fake.requests.at(-1)!;
  expect(req.headers.authorization).toBe("Bearer sk-ant-test");
  expect(msg.usage.output_tokens).toBeGreaterThan(0);
  expect(tokensOf(req.usage)).toBeGreaterThan(0);
});

test("429 carries retry-after and reaches the SDK as RateLimitError with headers", async () => {
  fake.script("429");
  const err = await ask().catch((e) => e);
  expect(err).toBeInstanceOf(Anthropic.RateLimitError);
  expect((err as InstanceType<typeof Anthropic.RateLimitError>).headers.get("retry-after")).toBe("1");
});

test("529 is an overloaded error", async () => {
  fake.script("529");
  const err = await ask().catch((e) => e);
  expect(err).toBeInstanceOf(Anthropic.APIError);
  expect((err as InstanceType<typeof Anthropic.APIError>).status).toBe(529);
});

test("requests without a key are refused", async () => {
  const res = await fetch(`${fake.url}/v1/messages`, { method: "POST", body: "{}" });
  expect(res.status).toBe(401);
});
