/**
 * Credentials recognised by their own shape, wherever they appear: each issuer's prefix, alphabet
 * and length. Each is a rule of its own so `--explain` names the issuer. Fake values in the
 * examples are built from repeated characters so no secret scanner mistakes this file for a leak.
 */
import type { RedactKind, Report, Rule } from "../types.ts";

function shape(
  name: string,
  kind: RedactKind,
  gate: RegExp,
  re: RegExp,
  examples: Array<[string, string]>,
  counterExamples: string[],
  accept: (s: string) => boolean = () => true,
): Rule {
  return {
    name,
    group: "token shapes",
    gate,
    find(text: string, report: Report) {
      re.lastIndex = 0;
      for (let m = re.exec(text); m !== null; m = re.exec(text)) {
        // The secret is group 1 when the regex has one (the Slack webhook's path), else the match.
        const s = m[1] ?? m[0];
        const at = m.index + m[0].length - s.length;
        if (accept(s)) report(at, at + s.length, kind);
      }
    },
    examples,
    counterExamples,
  };
}

const r = (c: string, n: number) => c.repeat(n);
const mixed = (n: number) => "aB3".repeat(Math.ceil(n / 3)).slice(0, n);
const K = (kind: string) => `[REDACTED:${kind}]`;

export const FORMAT_RULES: Rule[] = [
  shape(
    "Anthropic API key",
    "anthropic-key",
    /sk-ant-/,
    /(?<![A-Za-z0-9_-])sk-ant-[A-Za-z0-9_-]{16,256}/g,
    [[`key sk-ant-api03-${mixed(40)}`, `key ${K("anthropic-key")}`]],
    ["sk-ant- is the prefix of Anthropic keys", "task-ant-1"],
  ),
  shape(
    "OpenAI API key",
    "openai-key",
    /sk-/,
    /(?<![A-Za-z0-9_-])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,256}/g,
    [[`OPENAI sk-proj-${mixed(40)}`, `OPENAI ${K("openai-key")}`]],
    ["disk-usage-warning-threshold-exceeded-for-volume", "task-runner-queue-depth-exceeded"],
    (s) => /\d/.test(s),
  ),
  shape(
    "GitHub token",
    "github-token",
    /gh[pousr]_|github_pat_/,
    /(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{22,255})/g,
    [[`push with ghp_${mixed(36)}`, `push with ${K("github-token")}`]],
    ["ghp_ tokens are rejected", "my_ghp_value"],
  ),
  shape(
    "GitLab token",
    "gitlab-token",
    /glpat-|gldt-|glrt-|glptt-|glft-|glcbt-|glsoat-|glimt-|glagent-|gloas-|glwt-|glffct-/,
    /(?<![A-Za-z0-9_-])gl(?:pat|dt|rt|ptt|ft|cbt|soat|imt|agent|oas|wt|ffct)-[A-Za-z0-9_-]{20,64}/g,
    [
      [`token glpat-${mixed(20)} rejected`, `token ${K("gitlab-token")} rejected`],
      [`runner=glrt-${mixed(24)}`, `runner=${K("gitlab-token")}`],
    ],
    ["glpat- tokens expire after a year", "global-settings-reloaded"],
  ),
  shape(
    "Slack token",
    "slack-token",
    /xox[abposr]-|xapp-/,
    /(?<![A-Za-z0-9-])(?:xox[abposr]|xapp)-[A-Za-z0-9-]{10,255}/g,
    [[`slack xoxb-${r("1", 12)}-${mixed(24)}`, `slack ${K("slack-token")}`]],
    ["xoxb- is a bot token prefix", "sox-compliance"],
  ),
  shape(
    "Slack webhook URL",
    "slack-token",
    /hooks\.slack\.com\//,
    /hooks\.slack\.com\/(?:services|workflows|triggers)\/([A-Za-z0-9/_-]{8,255})/g,
    [
      [
        `POST https://hooks.slack.com/services/T0/B0/${mixed(24)}`,
        `POST https://hooks.slack.com/services/${K("slack-token")}`,
      ],
    ],
    ["see https://hooks.slack.com/ for setup", "hooks.slack.com/services/ is the base"],
  ),
  shape(
    "Google API key",
    "google-api-key",
    /AIza/,
    /(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])/g,
    [[`maps key=AIza${mixed(35)}`, `maps key=${K("google-api-key")}`]],
    ["AIzaSy is how they start", "CAIzaBlob"],
  ),
  shape(
    "Google OAuth access token",
    "google-oauth-token",
    /ya29\./,
    /(?<![A-Za-z0-9_-])ya29\.[A-Za-z0-9_-]{20,2048}/g,
    [[`authorization: Bearer ya29.a0${mixed(60)}`, `authorization: Bearer ${K("google-oauth-token")}`]],
    ["ya29.x", "version ya29.1 released"],
  ),
  shape(
    "Stripe secret or restricted key",
    "stripe-key",
    /[sr]k_(?:live|test)_/,
    /(?<![A-Za-z0-9_])[sr]k_(?:live|test)_[0-9A-Za-z]{10,255}/g,
    [[`stripe sk_live_${mixed(24)}`, `stripe ${K("stripe-key")}`]],
    ["pk_live_ keys are public", "sk_live_ prefix"],
  ),
  shape(
    "Stripe webhook secret",
    "stripe-key",
    /whsec_/,
    /(?<![A-Za-z0-9_])whsec_[0-9A-Za-z]{24,128}/g,
    [[`signing secret is whsec_${mixed(32)} (^C`, `signing secret is ${K("stripe-key")} (^C`]],
    ["whsec_ prefix", "whsec_short"],
  ),
  shape(
    "SendGrid API key",
    "sendgrid-key",
    /SG\./,
    /(?<![A-Za-z0-9_-])SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64}/g,
    [[`loaded (SG.${mixed(22)}.${mixed(43)})`, `loaded (${K("sendgrid-key")})`]],
    ["SG.example.com resolved", "ASG.group.scale-out"],
  ),
  shape(
    "Hugging Face token",
    "huggingface-token",
    /hf_/,
    /(?<![A-Za-z0-9_])hf_[A-Za-z0-9]{30,64}(?![A-Za-z0-9_])/g,
    [[`using token hf_${"aBcD".repeat(9)}`, `using token ${K("huggingface-token")}`]],
    ["hf_hub_download called", "leaf_hf_cache"],
  ),
  shape(
    "Vault token",
    "vault-token",
    /hv[sbr]\./,
    /(?<![A-Za-z0-9_.-])hv[sbr]\.[A-Za-z0-9_-]{20,512}/g,
    [[`token                  hvs.${mixed(90)}`, `token                  ${K("vault-token")}`]],
    ["hvs.x", "archive.hvs.tar"],
  ),
  shape(
    "npm / Docker Hub / PyPI token",
    "npm-token",
    /npm_|dckr_pat_|pypi-/,
    /(?<![A-Za-z0-9_])(?:npm_[A-Za-z0-9]{36}|dckr_pat_[A-Za-z0-9_-]{20,64}|pypi-[A-Za-z0-9_-]{50,256})/g,
    [
      [
        `//registry.npmjs.org/:_authToken=npm_${mixed(36)}`,
        `//registry.npmjs.org/:_authToken=${K("npm-token")}`,
      ],
    ],
    ["npm_config_cache=/tmp", "pypi-simple index"],
  ),
  shape(
    "AWS access key id",
    "aws-access-key",
    /AKIA|ASIA/,
    /(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])/g,
    [[`id AKIA${"Q7".repeat(8)}`, `id ${K("aws-access-key")}`]],
    ["AKIA is the prefix", "ASIAN markets"],
  ),
  {
    ...shape(
      "Telegram bot token",
      "telegram-bot-token",
      /\d:[A-Za-z0-9_-]{30}/,
      /(?<![A-Za-z0-9])(?:bot)?\d{6,12}:([A-Za-z0-9_-]{30,64})(?![A-Za-z0-9_-])/g,
      [
        [
          `upstream: "http://127.0.0.1:1/bot22243491:${mixed(32)}/sendMessage"`,
          `upstream: "http://127.0.0.1:1/bot22243491:${K("telegram-bot-token")}/sendMessage"`,
        ],
      ],
      ["listening on 127.0.0.1:8080", "at 12:30:45 job 1234567:done"],
    ),
    shape: true,
    group: "telegram",
  },
  shape(
    "JSON Web Token",
    "jwt",
    /eyJ/,
    /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,4096}\.[A-Za-z0-9_-]{2,8192}\.[A-Za-z0-9_-]{0,4096}/g,
    [[`jwt=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.${mixed(43)}`, `jwt=${K("jwt")}`]],
    ['eyJ is base64 for {"', "keyJar.load"],
  ),
];
