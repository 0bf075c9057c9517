/** Payment card numbers: digit runs of card shape whose issuer prefix, length and Luhn check hold (card.ts). */
import { isCardNumber } from "../card.ts";
import type { Rule } from "../types.ts";

// Grouped 4-4-4-4(-3) or Amex/Diners 4-6-4/5 with one consistent separator, or 13-19 bare digits;
// never glued to letters, decimals or dashes, so ids, floats and dates do not qualify.
const CARD =
  /(?<![\w.+-])(?:\d{4}([ -])\d{4}\1\d{4}\1\d{4}(?:\1\d{3})?|\d{4}([ -])\d{6}\2\d{4,5}|\d{13,19})(?![\w]|[.-]\d)/g;

export const cardNumber: Rule = {
  name: "payment card number",
  shape: true,
  // Looser than the rule (no look-behind): look-behinds make the pre-check several times slower.
  gate: /\d{13}|\d{4}[ -]\d{4}[ -]\d{4}|\d{4}[ -]\d{6}[ -]\d{4}/,
  find(text, report) {
    CARD.lastIndex = 0;
    for (let m = CARD.exec(text); m !== null; m = CARD.exec(text)) {
      if (isCardNumber(m[0].replace(/[ -]/g, ""))) report(m.index, m.index + m[0].length, "credit-card");
    }
  },
  examples: [
    ["paid with 4111 1111 1111 1111 ok", "paid with [REDACTED:credit-card] ok"],
    ["card=378282246310005", "card=[REDACTED:credit-card]"],
  ],
  counterExamples: [
    "order_id=98765432101234 status=shipped ts=1715682151123",
    "ingest batch ts_ns=1715682151123456789 rows=4096",
    "Processing 4111 items in 1111 batches of 1111",
  ],
};
