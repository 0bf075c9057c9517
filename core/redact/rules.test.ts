/**
 * Every rule's own table: each example must come out exactly as written (and name the rule under
 * --explain), each counter-example must come out unchanged. A second pass changes nothing.
 */
import { describe, expect, test } from "bun:test";
import { RULES, redact } from "./index.ts";

const name = (l: string) => l.replaceAll("\n", "⏎").slice(0, 80);

for (const rule of RULES) {
  describe(rule.name, () => {
    test("has examples and counter-examples", () => {
      expect(rule.examples.length).toBeGreaterThanOrEqual(1);
      expect(rule.counterExamples.length).toBeGreaterThanOrEqual(2);
    });
    test.each(rule.examples.map(([i, o]) => [name(i), i, o] as const))("redacts %s", (_, input, output) => {
      const r = redact(input);
      expect(r.text).toBe(output);
      expect(r.rules).toContain(rule.name);
      expect(redact(r.text).text).toBe(r.text);
    });
    test.each(rule.counterExamples.map((l) => [name(l), l] as const))("keeps %s", (_, line) => {
      expect(redact(line).text).toBe(line);
    });
  });
}
