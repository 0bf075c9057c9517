/**
 * Every redaction rule, in priority order: when two rules report overlapping spans, the earlier
 * one names the merged span. Shapes that identify their issuer come first, then the protocols
 * (URLs, headers, SQL, Redis, command lines), then the key vocabulary, then the fallbacks.
 */
import type { Rule } from "../types.ts";
import { privateKey } from "./blocks.ts";
import { cardNumber } from "./cards.ts";
import { toolOption } from "./cli.ts";
import { highEntropy } from "./entropy.ts";
import { FORMAT_RULES } from "./formats.ts";
import { authorization, bearer, curlUser } from "./headers.ts";
import { keyValue } from "./keys.ts";
import { redisCommand } from "./redis.ts";
import { sqlPassword } from "./sql.ts";
import { pathToken, urlPassword } from "./url.ts";

export const RULES: readonly Rule[] = [
  privateKey,
  ...FORMAT_RULES,
  urlPassword,
  authorization,
  bearer,
  curlUser,
  sqlPassword,
  redisCommand,
  toolOption,
  keyValue,
  pathToken,
  cardNumber,
  highEntropy,
];
