// Frozen copy of core/redact as of ef5271b (before issue 10), kept only as the baseline bench/redact.bench.ts compares against.
/**
 * Payment-card recognition for the `credit-card` rule. The regex only finds digit runs of card
 * shape; this decides whether a run really is a card number. Two checks keep order ids, epoch
 * timestamps (13 digits in ms, 19 in ns, both starting with 1) and decimal trace ids out:
 * the issuer prefix and length must belong to a real card network, and the Luhn checksum must hold.
 */

/** True when `digits` (0-9 only) has a known issuer prefix and length and passes the Luhn check. */
export function isCardNumber(digits: string): boolean {
  return issuerAccepts(digits) && luhn(digits);
}

/** Luhn mod-10 checksum, without allocating (no split/map) since it runs on every candidate. */
export function luhn(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

// Issuer identification numbers and the lengths each network issues (ISO/IEC 7812 registry,
// as published by the networks). Anything else is far more likely an id than a card.
function issuerAccepts(d: string): boolean {
  const n = d.length;
  const p2 = Number(d.slice(0, 2));
  const p4 = Number(d.slice(0, 4));
  switch (d.charCodeAt(0) - 48) {
    case 4: // Visa
      return n === 13 || n === 16 || n === 19;
    case 5: // Mastercard 51-55
      return p2 >= 51 && p2 <= 55 && n === 16;
    case 2: // Mastercard 2221-2720
      return p4 >= 2221 && p4 <= 2720 && n === 16;
    case 3:
      if (p2 === 34 || p2 === 37) return n === 15; // American Express
      if (p2 === 35) return p4 >= 3528 && p4 <= 3589 && n >= 16 && n <= 19; // JCB
      if (p2 === 36 || p2 === 38 || p2 === 39 || (p4 >= 3000 && p4 <= 3059)) return n >= 14 && n <= 19; // Diners
      return false;
    case 6: // Discover 6011, 644-649, 65; UnionPay 62
      if (p4 === 6011 || p2 === 65 || p2 === 62 || (p4 >= 6440 && p4 <= 6499)) return n >= 16 && n <= 19;
      return false;
    default:
      return false;
  }
}
