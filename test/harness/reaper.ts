/**
 * Cleans up servers if this test process dies without their stop(): `bun test` never runs "exit"
 * listeners and a crash runs nothing. A shell reads "pid match" lines from a pipe only we hold
 * open; EOF means we are gone, so it signals each pid whose command line still contains its match
 * text (pids get reused) and removes `dir` when given. It ignores the Ctrl-C that reaches our whole
 * process group, so that it lives long enough to clean up. Match texts contain no whitespace.
 */
export interface Reaper {
  /** Signal `pid` when we die, if its command line still contains `match` (default: the dir). */
  watch(pid: number, match?: string): void;
  /** stop() ran: the reaper has nothing left to do. */
  cancel(): void;
}

export function reaper(opts: { dir?: string; signal: string }): Reaper {
  const script = `trap "" INT TERM HUP; p=""; while read -r x y; do p="$p $x:$y"; done
    for e in $p; do x=\${e%%:*}; y=\${e#*:}; grep -qsaF -- "$y" /proc/$x/cmdline && kill -$1 $x; done
    [ -n "$0" ] && sleep 2 && rm -rf -- "$0"`;
  const sh = Bun.spawn(["sh", "-c", script, opts.dir ?? "", opts.signal], {
    stdin: "pipe",
    stdout: "ignore",
    stderr: "ignore",
  });
  sh.unref();
  return {
    watch(pid, match) {
      const text = match ?? opts.dir;
      if (!text) throw new Error("reaper.watch: a match text is needed when there is no dir");
      sh.stdin.write(`${pid} ${text}\n`);
      sh.stdin.flush();
    },
    cancel: () => sh.kill("SIGKILL"),
  };
}
