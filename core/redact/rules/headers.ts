/**
 * Authorization headers however a log writes them (`Authorization: Basic …`, `authorization="…"`,
 * nginx's `Authorization "Basic …"` with nothing between the name and the value), a bare
 * `Bearer <token>`, and `curl -u user:password`. The scheme word and the user stay readable.
 */
import type { Rule } from "../types.ts";
import { isPlaceholder } from "../types.ts";

const AUTHZ =
  /(?:proxy-)?authori[sz]ation\\?["']?(?:[ \t]{0,8}(?::|=|=>)[ \t]{0,8}|[ \t]{1,8})\\?["']?(?:(basic|bearer|token|digest|negotiate|ntlm|apikey|sso-key|aws4-hmac-sha256|gtoken)[ \t]{1,3})?([^\s"'\\,]{4,4096}(?:,[ \t]?[A-Za-z]+=[^\s"'\\,]{1,1024}){0,4})/dgi;
const BEARER = /(?<![A-Za-z=])(?:Bearer|bearer|BEARER)[ \t]{1,3}([A-Za-z0-9._~+/=-]{12,4096})/dg;
const CURL_U =
  /\b(?:curl|wget|http)\b[^\n]{0,256}?[ \t](?:-u|--user)[ \t]{1,3}['"]?[^\s:'"]{1,128}:([^\s'"]{1,256})/dg;

export const authorization: Rule = {
  name: "Authorization header",
  group: "protocols",
  gate: /authori[sz]ation/i,
  find(text, report) {
    AUTHZ.lastIndex = 0;
    for (let m = AUTHZ.exec(text); m !== null; m = AUTHZ.exec(text)) {
      const v = m[2]!;
      // Without a scheme group the match may be the scheme word itself, or prose ("Authorization failed").
      if (m[1] === undefined && (/^(?:basic|bearer|token|digest|negotiate|ntlm)$/i.test(v) || !/\d/.test(v)))
        continue;
      if (isPlaceholder(v)) continue;
      const [s, e] = m.indices![2]!;
      report(s, e, "authorization");
    }
  },
  examples: [
    ["Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic [REDACTED:authorization]"],
    ['Authorization "Basic YWRtaW46SnVuaXBlcjgx"', 'Authorization "Basic [REDACTED:authorization]"'],
    ['authorization: "Bearer abc123def456"', 'authorization: "Bearer [REDACTED:authorization]"'],
    [
      "Authorization: AWS4-HMAC-SHA256 Credential=AKID/2024, SignedHeaders=host, Signature=5d6c7a",
      "Authorization: AWS4-HMAC-SHA256 [REDACTED:authorization]",
    ],
  ],
  counterExamples: [
    "Authorization failed for client web-frontend",
    "authorization: none",
    "authorization_code grant accepted",
    'WWW-Authenticate: Bearer realm="api", error="invalid_token"',
  ],
};

export const bearer: Rule = {
  name: "bare Bearer token",
  group: "protocols",
  gate: /[Bb]earer|BEARER/,
  find(text, report) {
    BEARER.lastIndex = 0;
    for (let m = BEARER.exec(text); m !== null; m = BEARER.exec(text)) {
      // English prose ("Bearer authentication failed") has no digits; random tokens practically always do.
      if (!/\d/.test(m[1]!)) continue;
      const [s, e] = m.indices![1]!;
      report(s, e, "bearer");
    }
  },
  examples: [["sent Bearer eBGqLh4yMBAni1tvbyGa", "sent Bearer [REDACTED:bearer]"]],
  counterExamples: [
    "Bearer authentication failed for client web",
    '{"token_type":"bearer"}',
    "GET /api/items?token_type=bearer HTTP/1.1",
  ],
};

export const curlUser: Rule = {
  name: "curl -u user:password",
  group: "protocols",
  gate: /curl|wget/,
  find(text, report) {
    CURL_U.lastIndex = 0;
    for (let m = CURL_U.exec(text); m !== null; m = CURL_U.exec(text)) {
      const [s, e] = m.indices![1]!;
      if (!isPlaceholder(m[1]!)) report(s, e, "password");
    }
  },
  examples: [
    [
      "+ curl -fsS -u deploy:Velvet3053 https://ci/x",
      "+ curl -fsS -u deploy:[REDACTED:password] https://ci/x",
    ],
    ["curl --user 'ops:p@ss' -X POST", "curl --user 'ops:[REDACTED:password]' -X POST"],
  ],
  counterExamples: ["curl -u deploy https://ci/x", "curl -s -u $USER:$PASS https://ci"],
};
