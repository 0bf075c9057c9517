/**
 * What Python programs write (CPython 3.11 logging, json, xml.etree, configparser, http.client
 * debug, urllib3 debug, the AWS CLI): each case is a snippet run by the real interpreter with the
 * secret in `S`; whatever it prints to stdout or stderr is captured and labelled.
 */
import { type Family, type LabelledLine, label, type Split, secret } from "./label.ts";

interface PyCase {
  split: Split;
  family: Family;
  shape: string;
  source: string;
  code: string;
  env?: (s: string) => Record<string, string>;
}

const LOG = `import logging, json, sys\nlogging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(levelname)s %(name)s: %(message)s")\nlog = logging.getLogger("app")\n`;

// A local HTTP server in a thread, so clients really send their request (and log it).
const SERVE = `import threading, http.server\nsrv = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)\nthreading.Thread(target=srv.serve_forever, daemon=True).start()\nPORT = srv.server_address[1]\n`;

const CASES: PyCase[] = [
  {
    split: "written",
    family: "structured",
    shape: '%"#',
    source: "python logging + json.dumps",
    code: `${LOG}log.info("login payload %s", json.dumps({"user": "bob", "password": S, "request_id": "r-1f3a9c"}))`,
  },
  {
    split: "written",
    family: "structured",
    shape: "%",
    source: "python logging + json.dumps of an argument list",
    code: `${LOG}log.debug("exec %s", json.dumps(["psql", "--username", "app", "password", S]))`,
  },
  {
    split: "written",
    family: "structured",
    shape: "%",
    source: "python xml.etree.ElementTree.tostring",
    code: `import xml.etree.ElementTree as ET\ne = ET.Element("credentials"); ET.SubElement(e, "username").text = "bob"; ET.SubElement(e, "password").text = S\nprint("SOAP request body:", ET.tostring(e).decode())`,
  },
  {
    split: "written",
    family: "structured",
    shape: "%'#",
    source: "python logging of a dict (repr)",
    code: `${LOG}log.warning("connect failed with %r", {"host": "db", "port": 5432, "password": S})`,
  },
  {
    split: "written",
    family: "spacing",
    shape: "%",
    source: "python logging, aligned settings dump",
    code: `${LOG}for k, v in [("db_host", "db.internal"), ("db_password", S), ("workers", 4)]:\n    log.info("%-16s   =   %s", k, v)`,
  },
  {
    split: "written",
    family: "spacing",
    shape: "%",
    source: "python configparser.write",
    code: `import configparser, sys\nc = configparser.ConfigParser(); c["options"] = {"db_user": "odoo", "db_password": S, "admin_passwd": S + "x"}\nc.write(sys.stdout)`,
  },
  {
    split: "written",
    family: "query-header",
    shape: "###",
    source: "python http.client debuglevel=1 (requests)",
    code: `${SERVE}import http.client, requests\nhttp.client.HTTPConnection.debuglevel = 1\ntry: requests.get(f"http://127.0.0.1:{PORT}/x", headers={"Authorization": "Token " + S}, timeout=1)\nexcept Exception as e: print("error:", e)`,
  },
  {
    split: "written",
    family: "cloud",
    shape: "#####",
    source: "aws-cli 1.45 s3 presign (real, offline)",
    code: `import subprocess\nprint(subprocess.run(["aws", "s3", "presign", "s3://reports/q3.pdf", "--expires-in", "600", "--region", "eu-west-1"], capture_output=True, text=True).stdout)`,
    env: (s) => ({ AWS_ACCESS_KEY_ID: "AKIAIOSFODNN7EXAMPLE", AWS_SECRET_ACCESS_KEY: s.slice(0, 40) }),
  },
  {
    split: "written",
    family: "cloud",
    shape: "#####",
    source: "aws-cli 1.45 configure set, then the credentials file it wrote",
    code: `import subprocess, os\nsubprocess.run(["aws", "configure", "set", "aws_secret_access_key", S[:40], "--profile", "ci"])\nprint(open(os.environ["AWS_SHARED_CREDENTIALS_FILE"]).read())`,
    env: () => ({ AWS_SHARED_CREDENTIALS_FILE: `/tmp/mcpmon-aws-cred-${process.pid}` }),
  },
  // Held out.
  {
    split: "heldout",
    family: "structured",
    shape: '%\\"#',
    source: "python logging + json.dumps nested (a JSON string inside JSON)",
    code: `${LOG}inner = json.dumps({"passwd": S}); log.error(json.dumps({"event": "db.connect", "config": inner}))`,
  },
  {
    split: "heldout",
    family: "structured",
    shape: "%",
    source: "python xml.etree with a namespace",
    code: `import xml.etree.ElementTree as ET\ne = ET.Element("{urn:auth}Login"); ET.SubElement(e, "{urn:auth}Password").text = S\nprint(ET.tostring(e).decode())`,
  },
  {
    split: "heldout",
    family: "structured",
    shape: "%",
    source: "python logging of a nested dict (repr)",
    code: `${LOG}log.info("settings loaded: %s", {"DATABASES": {"default": {"NAME": "shop", "PASSWORD": S}}})`,
  },
  {
    split: "heldout",
    family: "spacing",
    shape: "%",
    source: "python logging, colon-aligned dump",
    code: `${LOG}for k, v in [("smtp_user", "mailer"), ("smtp_password", S)]:\n    log.info("%-14s  :  %s", k, v)`,
  },
  {
    split: "heldout",
    family: "query-header",
    shape: "#",
    source: "urllib3 debug log (requests, real)",
    code: `${LOG}${SERVE}import requests\ntry: requests.get(f"http://127.0.0.1:{PORT}/v1/geo?key=" + S, timeout=1)\nexcept Exception as e: log.error("geo lookup failed: %s", e)`,
  },
  {
    split: "heldout",
    family: "cloud",
    shape: "#####",
    source: "aws-cli 1.45 --debug against a local endpoint (real)",
    code: `import subprocess\nr = subprocess.run(["aws", "--debug", "s3api", "list-buckets", "--endpoint-url", "http://127.0.0.1:9", "--region", "us-east-1", "--cli-connect-timeout", "1"], capture_output=True, text=True)\nprint("\\n".join(l for l in r.stderr.splitlines() if "Authorization" in l or "Signature" in l or "Credential" in l))`,
    env: (s) => ({
      AWS_ACCESS_KEY_ID: "AKIAIOSFODNN7EXAMPLE",
      AWS_SECRET_ACCESS_KEY: s.slice(0, 40),
      AWS_MAX_ATTEMPTS: "1",
    }),
  },
];

export async function capturePython(): Promise<LabelledLine[]> {
  const out: LabelledLine[] = [];
  for (const c of CASES) {
    const s = secret(c.shape);
    const p = Bun.spawn(["python3", "-c", `S = ${JSON.stringify(s)}\n${c.code}`], {
      env: { ...process.env, ...(c.env?.(s) ?? {}) },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [o, e] = await Promise.all([
      new Response(p.stdout).text(),
      new Response(p.stderr).text(),
      p.exited,
    ]);
    // The presigned URL's secret is the signature the CLI derived from S, not S itself.
    const secrets = [s.slice(0, 40), s];
    if (c.source.includes("presign")) secrets.push(...(o.match(/Signature=([^&\s]+)/) ?? []).slice(1));
    const lines = `${o}\n${e}`.split("\n");
    out.push(...label(lines, { family: c.family, secrets, source: c.source, split: c.split }));
  }
  return out;
}
