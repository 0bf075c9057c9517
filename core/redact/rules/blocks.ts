/**
 * Private keys: PEM blocks (`-----BEGIN … PRIVATE KEY-----` to its END, or to the end of the record
 * when truncated), PuTTY key files (the `Private-Lines` body and `Private-MAC`), and key bodies seen
 * without their BEGIN line (a record cut in the middle of a key): a line that is only base64 and
 * starts like a DER or OpenSSH private key, or any line of 64 base64 characters, the width PEM wraps at.
 */
import type { Report, Rule } from "../types.ts";

const BEGIN = /-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----/g;
const END = /-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----/g;
// DER of RSA/PKCS#8/EC private keys and the OpenSSH key format, base64-encoded.
const KEY_START =
  /^(?:MII[A-Za-z0-9+/]{2}[A-Za-z0-9+/]{0,2}(?:AgEA|IBAA|AgEB)|MH[A-Za-z0-9+/]{2}AgEB|b3BlbnNzaC1rZXktdjE)/;
const B64_LINE = /^[ \t]*([A-Za-z0-9+/]{40,}={0,2})[ \t]*\r?$/gm;

const BODY_GATE = /^[ \t]*[A-Za-z0-9+/]{40}|\n[ \t]*[A-Za-z0-9+/]{40}/;

function pem(text: string, report: Report): void {
  BEGIN.lastIndex = 0;
  for (let m = BEGIN.exec(text); m !== null; m = BEGIN.exec(text)) {
    END.lastIndex = BEGIN.lastIndex;
    const e = END.exec(text);
    const stop = e === null ? text.length : END.lastIndex;
    report(m.index, stop, "private-key");
    BEGIN.lastIndex = stop;
  }
}

function putty(text: string, report: Report): void {
  const lines = /Private-Lines:[ \t]*(\d{1,3})[ \t]*\r?\n/g;
  for (let m = lines.exec(text); m !== null; m = lines.exec(text)) {
    let end = lines.lastIndex;
    for (let n = Number(m[1]); n > 0 && end < text.length; n--) {
      const nl = text.indexOf("\n", end);
      end = nl < 0 ? text.length : nl + 1;
    }
    report(lines.lastIndex, end > lines.lastIndex && text[end - 1] === "\n" ? end - 1 : end, "private-key");
  }
  const mac = /Private-MAC:[ \t]*([0-9a-fA-F]{20,128})/dg;
  for (let m = mac.exec(text); m !== null; m = mac.exec(text))
    report(m.indices![1]![0], m.indices![1]![1], "private-key");
}

function bodies(text: string, report: Report): void {
  B64_LINE.lastIndex = 0;
  for (let m = B64_LINE.exec(text); m !== null; m = B64_LINE.exec(text)) {
    const b = m[1]!;
    // PEM wraps at 64 (OpenSSH at 70); the last line of a body is shorter but then ends in '='
    // or follows a full line, which this line-by-line view cannot see: only full or key-start lines.
    const full = b.length === 64 || b.length === 70 || b.length === 76;
    if (!KEY_START.test(b) && !(full && /[a-z]/.test(b) && /[A-Z]/.test(b) && /\d/.test(b))) continue;
    const start = m.index + m[0].indexOf(b);
    report(start, start + b.length, "private-key");
  }
}

export const privateKey: Rule = {
  name: "private key",
  shape: true,
  // Anchored at a line start: an unanchored run of 40 would be tried at every position.
  gate: /-----BEGIN|Private-(?:Lines|MAC)|^[ \t]*[A-Za-z0-9+/]{40}|\n[ \t]*[A-Za-z0-9+/]{40}/,
  find(text, report) {
    if (text.includes("-----BEGIN")) pem(text, report);
    if (text.includes("Private-")) putty(text, report);
    if (BODY_GATE.test(text)) bodies(text, report);
  },
  examples: [
    [
      "key:\n-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBbb\n-----END EC PRIVATE KEY-----\nok",
      "key:\n[REDACTED:private-key]\nok",
    ],
    ["key:\n-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBbb\nAoGCCqGSM49", "key:\n[REDACTED:private-key]"],
    ["MIICdgIBADANBgkqhkiG9w0BAQEFAASCAmAwggJcAgEAAoGBAOZGcv6HYlWPb3xi", "[REDACTED:private-key]"],
    ["ZrCDD0KWGZNZLIq3uuv6veJZ6tJ0nXiaG5YAwNrRms+i5WiDka3338dNnhTCTaMz", "[REDACTED:private-key]"],
    [
      "PuTTY-User-Key-File-3: ssh-ed25519\nPrivate-Lines: 1\nAAAAIGb0dHRoaXNpc25vdGFyZWFsa2V5YXRhbGw=\nPrivate-MAC: 0a1b2c3d4e5f60718293a4b5c6d7e8f9",
      "PuTTY-User-Key-File-3: ssh-ed25519\nPrivate-Lines: 1\n[REDACTED:private-key]\nPrivate-MAC: [REDACTED:private-key]",
    ],
  ],
  counterExamples: [
    "-----BEGIN CERTIFICATE-----",
    "pulled image sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "org.apache.hadoop.hdfs.server.datanode.DataNode$PacketResponder",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKL",
  ],
};
