export const HELP = `mcpmon — watch services' logs, understand their failures, fix them safely.

Usage: mcpmon <command> [options]

Commands:
  all            everything in one process on the embedded broker (API, analyzers,
                 executors, and collectors for the client configs the central config lists)
  serve          API + analyzers + executors against the configured broker (Redis to scale out)
  collect        tail logs on this host and ship matches:  --config CLIENT.yml [--config …]
  analyze        analyzer workers only (scale out beside serve)
  execute        executor workers only (scale out beside serve)
  check-config   check central, client and patterns files:  mcpmon check-config FILE...
  templates      show how a log file groups:  mcpmon templates FILE [--service S]
                 [--format text|csv] [--loghub]
  policy check   review a service policy:  mcpmon policy check --service nginx --action JSON
                 (or a JSON array of actions on stdin)
  version        print the version
  help           this text

Options:
  -c, --config FILE   configuration file (central: configs/mcp-config.yml; collect: client configs)
  -p, --port N        API port (overrides api.port)
      --data-dir DIR  where the embedded broker and collector state live (default .data)

Environment:
  CLAUDE_API_KEY / ANTHROPIC_API_KEY   enables Claude (without it: rules and cache only)
  MCP_DEBUG=true                       debug logging
  MCP_PATTERNS_DIR                     folder of patterns/<service>.yml files

Exit codes: 0 fine, 1 runtime failure, 2 usage or configuration error.
`;
