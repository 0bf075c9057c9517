import { script } from "./script.ts";

/**
 * Read this consumer's own pending entries (XREADGROUP id 0) together with their delivery counts.
 * XREADGROUP on history bumps each count, so the counts are read after it, in the same script.
 * Entries deleted from the stream (trimmed) can never be processed: they are acknowledged here.
 * KEYS[1] stream
 * ARGV[1] group, ARGV[2] consumer, ARGV[3] count
 * Result: { {id, {field, value, …}, deliveries}, … }
 */
export const READ_OWN = script(
  "read_own",
  1,
  `
local res = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3], 'STREAMS', KEYS[1], '0')
local out = {}
if not res or not res[1] then return out end
for _, e in ipairs(res[1][2]) do
  local id, fields = e[1], e[2]
  if not fields or fields == false then
    redis.call('XACK', KEYS[1], ARGV[1], id)
  else
    local p = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
    local n = 1
    if p[1] then n = p[1][4] end
    out[#out + 1] = { id, fields, n }
  end
end
return out
`,
);

/**
 * XAUTOCLAIM plus the delivery count of every claimed entry (XAUTOCLAIM increments it; XPENDING
 * reads it back), atomically so no other claimer can interleave.
 * KEYS[1] stream
 * ARGV[1] group, ARGV[2] consumer, ARGV[3] min idle ms, ARGV[4] start id, ARGV[5] count
 * Result: { next cursor, { {id, {field, value, …}, deliveries}, … }, { deleted id, … } }
 */
export const CLAIM = script(
  "claim",
  1,
  `
local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', ARGV[5])
local out = {}
for _, e in ipairs(r[2]) do
  if e and e[2] then
    local p = redis.call('XPENDING', KEYS[1], ARGV[1], e[1], e[1], 1)
    local n = 1
    if p[1] then n = p[1][4] end
    out[#out + 1] = { e[1], e[2], n }
  end
end
return { r[1], out, r[3] or {} }
`,
);

/**
 * Touch: reset the idle time of the given entries, but only those pending for this consumer.
 * XCLAIM with min-idle 0 and JUSTID resets the idle time without incrementing the delivery count
 * (checked on Redis 7.0), but it would also take entries of other consumers, hence the XPENDING
 * check of each id's owner first, in the same script so no claim can interleave.
 * KEYS[1] stream
 * ARGV[1] group, ARGV[2] consumer, ARGV[3…] entry ids
 * Result: how many entries were touched (trimmed ones leave the PEL and are not counted)
 */
export const TOUCH = script(
  "touch",
  1,
  `
local args = { 'XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0 }
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then args[#args + 1] = ARGV[i] end
end
if #args == 5 then return 0 end
args[#args + 1] = 'JUSTID'
return #redis.call(unpack(args))
`,
);

/**
 * Dead-letter: append the entry to the DLQ and acknowledge it in its group in one step, so the
 * entry is either in the DLQ or still pending, never lost between the two.
 * KEYS[1] dlq stream, KEYS[2] source stream
 * ARGV[1] group, ARGV[2] entry id, ARGV[3] dlq entry type, ARGV[4] dlq entry data (JSON), ARGV[5] dlq MAXLEN ~
 * Result: the DLQ entry id
 */
export const DEAD_LETTER = script(
  "dead_letter",
  2,
  `
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[5], '*', 'type', ARGV[3], 'data', ARGV[4])
redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
return id
`,
);
