import { errorMessage } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import type { TailEvents } from "./tail/tailer.ts";

/** A client's own counters besides the pipeline's and the shipper's (in `ClientStatus.counters`). */
export function newRunnerCounters() {
  return {
    files_opened: 0,
    files_closed: 0,
    files_lost: 0,
    rotations: 0,
    truncations: 0,
    replaced: 0,
    read_errors: 0,
    commit_errors: 0,
    heartbeat_errors: 0,
  };
}
export type RunnerCounters = ReturnType<typeof newRunnerCounters>;

/**
 * The tailer's events as the host reports them: each one counted and logged in one place, with
 * the path and file id an operator needs (the tailer itself imports no logger or metrics).
 */
export function tailTelemetry(t: RunnerCounters, log: Logger): TailEvents {
  return {
    opened: (path, id, offset, resumed) => {
      t.files_opened++;
      log.info({ path, file_id: id, offset, resumed }, "following file");
    },
    truncated: (path, id) => {
      t.truncations++;
      log.warn({ path, file_id: id }, "file truncated (copytruncate?): reading again from offset 0");
    },
    replaced: (path, id) => {
      t.replaced++;
      log.info({ path, old_file_id: id }, "inode reused by another file: starting it from 0");
    },
    detached: (path, id, deleted) => {
      t.rotations++;
      log.info(
        { path, file_id: id, deleted },
        deleted ? "file deleted: draining it" : "file rotated: draining it",
      );
    },
    closed: (path, id) => {
      t.files_closed++;
      log.info({ path, file_id: id }, "file drained and closed");
    },
    lost: (path, id, offset) => {
      t.files_lost++;
      log.warn(
        { path, file_id: id, offset },
        "a file with a checkpoint is gone before it was read to its end: its bytes past offset are lost",
      );
    },
    error: (path, err, repeated) => {
      t.read_errors++;
      // Counted at every attempt; logged once per file until it changes (a poll every 250 ms).
      if (!repeated)
        log.warn(
          { path, err: errorMessage(err) },
          "cannot read file (retried at every poll, logged again if it changes)",
        );
    },
  };
}
