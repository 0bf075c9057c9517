/**
 * Help texts: `mcpmon help` (general) and `mcpmon <command> --help` / `mcpmon help <command>`.
 * Every option a command accepts (cli/args.ts COMMANDS) is described in its text; a test holds
 * the two together.
 */
export const HELP = `mcpmon — watch services' logs, understand their failures, fix them safely.

Usage: mcpmon <command> [options]
       mcpmon <command> --help        that command's options and examples

Commands:
  all            everything in one process on the embedded broker (API, analyzers,
                 executors, and collectors for the client configs the central config lists)
  serve          API + analyzers + executors against the configured broker (Redis to scale out)
  collect        tail logs on this host and ship matches:  --config CLIENT.yml [--config …]
  analyze        analyzer workers only (scale out beside serve)
  execute        executor workers only (scale out beside serve)
  check-config   check central, client and patterns files:  mcpmon check-config FILE...
  templates      show how a log file groups:  mcpmon templates FILE [--service S]
  policy check   review a service policy:  mcpmon policy check --service nginx --action JSON
  redact         show what leaves this host:  mcpmon redact FILE [--service S] [--explain]
  mcp            the MCP server on stdio, for Claude Desktop / Code (HTTP: /mcp on the API port)

Operator commands (talk to a running server's API: --api URL or MCP_API_URL, token MCP_TOKEN):
  incidents      list incidents:  [--status S] [--service S] [--json]
  incident       one incident with its samples, history and fixes:  mcpmon incident ID
  fixes          list fixes:  [--status awaiting_approval] [--service S] [--json]
  approve        approve a fix awaiting approval:  mcpmon approve ID [--note TEXT]
  reject         reject a fix awaiting approval:  mcpmon reject ID --reason TEXT
  ignore         ignore an incident:  mcpmon ignore ID [--reason TEXT]
  status         the server's components, broker, paused or not, incidents by status
  queues         the streams: length, pending, lag, consumers
  version        print the version
  help           this text;  mcpmon help <command>: that command's help

Common options:
  -c, --config FILE   configuration file (central: configs/mcp-config.yml; collect: client configs)
  -p, --port N        API port (overrides api.port; all and serve)
      --data-dir DIR  where the embedded broker and collector state live
  -h, --help          help; with a command, that command's help

${environment()}

Exit codes: 0 fine, 1 runtime failure (also: the API unreachable, or refusing the token or the
request), 2 usage or configuration error.
`;

function environment(): string {
  return `Environment (read by the shipped configs as \${VAR}; any \${VAR} or \${VAR:-default} works):
  MCP_BROKER_URL        broker.url of every config, central and client, even one without broker::
                        redis://HOST:6379, rediss://…, redis+cluster://H:P,H:P,
                        redis+sentinel://H:P,H:P/MASTER, sqlite:PATH
                        (central default sqlite:.data/mcpmon.db; clients' redis://127.0.0.1:6379)
  MCP_ADMIN_TOKEN       the admin API token (default change-me-admin-token: change it)
  MCP_API_HOST          api.host (default 127.0.0.1)
  MCP_API_PORT          api.port (default 8080)
  MCP_METRICS_PORT      api.metrics_port, the separate /metrics port (default 9090)
  MCP_STATE_DIR         a client's state_dir: spool and checkpoints (default /var/lib/mcpmon)
  MCP_DEMO_LOG_DIR      the log folder the local demo client watches (default .data/demo)
  MCP_PATTERNS_DIR      folder of <service>.yml patterns files (added to the shipped ones)
  MCP_DEBUG=true        debug logging
  CLAUDE_API_KEY        enables Claude (ANTHROPIC_API_KEY works too); without it: rules and cache only
  MCP_API_URL           the API operator commands and mcpmon mcp talk to (default http://127.0.0.1:8080)
  MCP_TOKEN             their bearer token (or token= in ~/.config/mcpmon/credentials, mode 0600)`;
}

const SERVER_OPTIONS = `  -c, --config FILE   the central config (default configs/mcp-config.yml)
      --data-dir DIR  an embedded broker's file goes to DIR/mcpmon.db`;

const API_OPTIONS = `      --api URL       the API (default: MCP_API_URL, then api_url in the credentials file,
                      then http://127.0.0.1:8080); the token is MCP_TOKEN or token= in
                      ~/.config/mcpmon/credentials (mode 0600)
      --json          print the API's JSON instead of a table`;

export const COMMAND_HELP: Record<string, string> = {
  all: `Usage: mcpmon all [--config FILE] [--port N] [--data-dir DIR]

Everything in one process on the embedded broker: the API, analyzers, executors, and a collector
for every client config listed under clients: in the central config (fixes for them run on this
host). One machine, nothing but the binary.

Options:
${SERVER_OPTIONS}; collectors' state goes to DIR/state
  -p, --port N        API port (overrides api.port)

Examples:
  mcpmon all --config configs/mcp-config.yml
  mcpmon all --config /etc/mcpmon/mcp-config.yml --port 8081 --data-dir /var/lib/mcpmon`,

  serve: `Usage: mcpmon serve [--config FILE] [--port N] [--data-dir DIR]

The API, analyzers and executors against the configured broker (broker.url or MCP_BROKER_URL);
Redis to scale out with more analyze/execute processes and collectors on every host.

Options:
${SERVER_OPTIONS}
  -p, --port N        API port (overrides api.port)

Examples:
  MCP_BROKER_URL=redis://127.0.0.1:6379 mcpmon serve --config configs/mcp-config.yml
  mcpmon serve --config /etc/mcpmon/mcp-config.yml --port 8081`,

  analyze: `Usage: mcpmon analyze [--config FILE] [--data-dir DIR]

Analyzer workers only (consumer group "analyzers" on mcp:errors), beside a running serve. They
share one token budget with every other analyzer.

Options:
${SERVER_OPTIONS}

Example:
  MCP_BROKER_URL=redis://central:6379 mcpmon analyze --config /etc/mcpmon/mcp-config.yml`,

  execute: `Usage: mcpmon execute [--config FILE] [--data-dir DIR]

Executor workers only (consumer group "executors" on mcp:fixes), beside a running serve. Fixes
run over SSH with ssh_settings (key and known_hosts: relative paths written in the config are
relative to it; the defaults ssh-keys/mcp_key and ssh-keys/known_hosts to the working folder).

Options:
${SERVER_OPTIONS}

Example:
  MCP_BROKER_URL=redis://central:6379 mcpmon execute --config /etc/mcpmon/mcp-config.yml`,

  collect: `Usage: mcpmon collect --config CLIENT.yml [--config CLIENT.yml …] [--data-dir DIR]

Tail the logs of this host's services and ship the matched, redacted records to the broker. One
process can watch several services (one client config each). Lines are kept in a local spool
while the broker is away.

Options:
  -c, --config FILE   a client config (configs/client-configs/*.yml); repeat for more services
      --data-dir DIR  the spool and checkpoints (overrides state_dir)

Examples:
  mcpmon collect --config configs/client-configs/nginx-client.yml
  MCP_BROKER_URL=redis://central:6379 mcpmon collect -c nginx-client.yml -c postgres-client.yml`,

  "check-config": `Usage: mcpmon check-config FILE...

Check central, client and patterns files (each is recognised by its keys) and print every
problem as FILE:LINE key: what was expected. Also checks what the file refers to: a central
config's clients: files, patterns_dir and broker.url; a client config's service_type against the
patterns (shipped and MCP_PATTERNS_DIR); a patterns file's examples and counter-examples.

Options:
  -c, --config FILE   another file to check (same as a FILE argument)

Exit code 0 when every file is valid, 2 otherwise.

Examples:
  mcpmon check-config configs/mcp-config.yml configs/client-configs/*.yml patterns/*.yml`,

  templates: `Usage: mcpmon templates FILE [--service S] [--format text|csv] [--patterns-dir DIR]
       mcpmon templates --loghub FILE_structured.csv

Group the lines of a log file into templates, most frequent first, as the analyzer would.

Options:
  -s, --service S         strip the service's line header (time, level…) before grouping
      --format text|csv   output: an aligned table (default) or CSV (count,template,example)
      --loghub            read a LogHub *_structured.csv (its Content column) and write
                          LineId,EventId,EventTemplate CSV, to score against LogHub's ground truth;
                          not with --format
      --patterns-dir DIR  where --service's patterns file is (default: the shipped ones and
                          MCP_PATTERNS_DIR)

Examples:
  mcpmon templates /var/log/nginx/error.log --service nginx
  mcpmon templates app.log --format csv > templates.csv
  mcpmon templates --loghub HDFS_2k.log_structured.csv`,

  policy: `Usage: mcpmon policy check --service S --action JSON [--config FILE | --patterns-dir DIR]
       … | mcpmon policy check --service S      (a JSON action or array of actions on stdin)

Check fix actions against a service's policy, as the analyzer and executor would: for each, allowed
(the rule and its risk) or refused (why). Exit code 0 when all are allowed, 1 when any is refused,
2 for a usage error (unknown service, JSON that is not an action).

Actions: {"type":"run","program":"…","args":[…]}, {"type":"write_file","path":"…","content":"…"},
{"type":"service","op":"validate|reload|restart"}; a check (precondition/verify) has
"expect_exit" or type "http"; {"kind":"rollback","action":{…}} picks the kind.

Options:
  -s, --service S         the service whose policy applies (nginx, postgres, redis, odoo, …)
      --action JSON       one action, or a JSON array of actions
  -c, --config FILE       use the central config's patterns_dir (as serve does)
      --patterns-dir DIR  use this folder of <service>.yml files
  Either way the shipped services the folder lacks are added; without both: the shipped ones and
  MCP_PATTERNS_DIR.

Examples:
  mcpmon policy check --service nginx --action '{"type":"run","program":"chmod","args":["644","/var/www/html/x.png"]}'
  echo '[{"type":"service","op":"reload"}]' | mcpmon policy check --service nginx --config configs/mcp-config.yml`,

  redact: `Usage: mcpmon redact [FILE|-] [--service S] [--explain] [--patterns-dir DIR]

Print every line of FILE (or stdin, with - or no FILE) as mcpmon would store it: secrets replaced by
[REDACTED:<kind>], one output line per input line. Use it to check what leaves a host before
pointing a collector at a log. Exit code 0 once the input is read, 2 for a usage error.

Options:
  -s, --service S         join lines into records with the service's multiline rule, as the
                          collector does (a secret spread over lines shows its marker on each)
      --explain           on stderr: for each changed line, the kinds and the rules that fired,
                          then a summary (stdout stays exactly what would be stored)
      --patterns-dir DIR  where --service's patterns file is (default: the shipped ones and
                          MCP_PATTERNS_DIR)

Examples:
  mcpmon redact /var/log/postgresql/postgresql-16-main.log --explain
  tail -n 1000 /var/log/nginx/access.log | mcpmon redact - --service nginx | less
  mcpmon redact app.log --explain 2>&1 >/dev/null | sort | uniq -c`,

  mcp: `Usage: mcpmon mcp [--api URL | --config FILE [--data-dir DIR]]

The MCP (Model Context Protocol) server on stdio, for a desktop client's config (Claude Desktop,
Claude Code). With --api or MCP_API_URL it talks to a running server's API as the token MCP_TOKEN
(or the credentials file's) — the server's mcp.allow_writes decides whether write tools are offered;
otherwise it opens the broker of the central config itself (MCP_TOKEN, if given, must be one of its
api.tokens; without it, read-only as a viewer). stdout carries only the protocol; logs go to stderr.
Every serve and all process also serves MCP over Streamable HTTP at /mcp on the API port.

Options:
      --api URL       a running server's API (also MCP_API_URL)
  -c, --config FILE   the central config whose broker to open (default configs/mcp-config.yml)
      --data-dir DIR  an embedded broker's file is DIR/mcpmon.db

Examples:
  MCP_API_URL=http://127.0.0.1:8080 MCP_TOKEN=… mcpmon mcp
  claude mcp add mcpmon --env MCP_API_URL=http://127.0.0.1:8080 --env MCP_TOKEN=… -- mcpmon mcp
  mcpmon mcp --config /etc/mcpmon/mcp-config.yml`,

  incidents: `Usage: mcpmon incidents [--status S] [--service S] [--api URL] [--json]

Incidents of a running server, newest first, as an aligned table (or JSON).

Options:
      --status S      only this status (new, needs_human, awaiting_approval, fixed, ignored, …)
  -s, --service S     only this service
${API_OPTIONS}

Examples:
  mcpmon incidents --status needs_human
  mcpmon incidents --service nginx --json | jq '.items[].incident_id'`,

  incident: `Usage: mcpmon incident ID [--api URL] [--json]

One incident (or a submitted error by its event id): template, samples, fields, history, fixes.

Options:
${API_OPTIONS}

Example:
  mcpmon incident inc_3kq…`,

  fixes: `Usage: mcpmon fixes [--status S] [--service S] [--api URL] [--json]

Fixes of a running server, newest first: status, risk, source and actions.

Options:
      --status S      only this status (awaiting_approval: what waits for you)
  -s, --service S     only this service
${API_OPTIONS}

Example:
  mcpmon fixes --status awaiting_approval`,

  approve: `Usage: mcpmon approve ID [--note TEXT] [--api URL] [--json]

Approve a fix that is awaiting approval (an operator token): it is queued for the executors.

Options:
      --note TEXT     kept on the fix with your token's name
${API_OPTIONS}

Example:
  mcpmon approve fix_8d2… --note "checked the file list"`,

  reject: `Usage: mcpmon reject ID --reason TEXT [--api URL] [--json]

Reject a fix that is awaiting approval; its incident goes to needs_human.

Options:
      --reason TEXT   why (required)
${API_OPTIONS}

Example:
  mcpmon reject fix_8d2… --reason "not during business hours"`,

  ignore: `Usage: mcpmon ignore ID [--reason TEXT] [--api URL] [--json]

Ignore an incident: its events are still counted, nothing is analysed or fixed for it.

Options:
      --reason TEXT   why (kept in its history)
${API_OPTIONS}

Example:
  mcpmon ignore inc_3kq… --reason "known noise"`,

  status: `Usage: mcpmon status [--api URL] [--json]

A running server's status: components and workers, broker, paused or not, incidents by status.

Options:
${API_OPTIONS}

Example:
  MCP_API_URL=http://central:8080 mcpmon status`,

  queues: `Usage: mcpmon queues [--api URL] [--json]

The streams (mcp:errors, mcp:fixes, mcp:events, mcp:dlq): length, pending, lag, consumers.

Options:
${API_OPTIONS}

Example:
  mcpmon queues --json`,

  version: `Usage: mcpmon version   (or mcpmon --version)

Print the version, the Bun version and the platform.`,

  help: `Usage: mcpmon help [COMMAND]

Print the general help, or COMMAND's help (the same as mcpmon COMMAND --help).`,
};
