import { script } from "./script.ts";

/**
 * Lua that appends the audit events of a record change to `mcp:events` in the same script:
 * `list` is a JSON array of flat [field, value, …] arrays, `cap` the stream's MAXLEN ~.
 */
const APPEND_EVENTS = (stream: string, cap: string, list: string) => `
for _, fields in ipairs(cjson.decode(${list})) do
  redis.call('XADD', ${stream}, 'MAXLEN', '~', ${cap}, '*', unpack(fields))
end`;

/*
 * Records of one kind live in two hashes: KEYS[1] maps id → JSON, KEYS[2] maps id → version.
 * Both are read and written together by these scripts so a reader never sees a value with the
 * wrong version.
 */

/**
 * Compare-and-set one record, with its audit events.
 * KEYS[1] values hash, KEYS[2] versions hash, KEYS[3] events stream
 * ARGV[1] id, ARGV[2] JSON value, ARGV[3] expected version (0 = must not exist),
 * ARGV[4] events cap, ARGV[5] events (JSON list of flat field lists)
 * Result: the new version, or false on conflict
 */
export const PUT_RECORD = script(
  "put_record",
  3,
  `
local cur = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if cur ~= tonumber(ARGV[3]) then return false end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], cur + 1)
${APPEND_EVENTS("KEYS[3]", "ARGV[4]", "ARGV[5]")}
return cur + 1
`,
);

/**
 * KEYS[1] values hash, KEYS[2] versions hash, KEYS[3] mark key, KEYS[4] events stream;
 * ARGV[1] id, ARGV[2] JSON, ARGV[3] expected version, ARGV[4] mark value, ARGV[5] mark TTL ms,
 * ARGV[6] events cap, ARGV[7] events (JSON list of flat field lists)
 * Result: -1 when the mark exists (nothing written), false on a version conflict, else the new version
 */
export const PUT_RECORD_IF_UNMARKED = script(
  "put_record_if_unmarked",
  4,
  `
if redis.call('EXISTS', KEYS[3]) == 1 then return -1 end
local cur = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if cur ~= tonumber(ARGV[3]) then return false end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], cur + 1)
redis.call('SET', KEYS[3], ARGV[4], 'PX', ARGV[5])
${APPEND_EVENTS("KEYS[4]", "ARGV[6]", "ARGV[7]")}
return cur + 1
`,
);

/**
 * KEYS[1] values hash, KEYS[2] versions hash; ARGV[1] id
 * Result: { version, JSON } or false when absent
 */
export const GET_RECORD = script(
  "get_record",
  2,
  `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return false end
return { tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '1'), v }
`,
);

/**
 * KEYS[1] values hash, KEYS[2] versions hash
 * Result: { id, version, JSON, id, version, JSON, … }
 */
export const LIST_RECORDS = script(
  "list_records",
  2,
  `
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  out[#out + 1] = all[i]
  out[#out + 1] = tonumber(redis.call('HGET', KEYS[2], all[i]) or '1')
  out[#out + 1] = all[i + 1]
end
return out
`,
);

/**
 * Sliding-window token budget shared by every process. The clock is Redis TIME so all processes
 * agree on it. KEYS[1] sorted set (member = reservation id, score = reserve time ms),
 * KEYS[2] hash reservation id → amount.
 * ARGV[1] reservation id, ARGV[2] amount, ARGV[3] limit, ARGV[4] window ms
 * Result: { granted 0/1, used after the call, retry after ms }
 * Re-reserving an id already inside the window is idempotent (granted, nothing added).
 * An amount larger than the limit can never be granted: retry after = the whole window.
 */
export const BUDGET_RESERVE = script(
  "budget_reserve",
  2,
  `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local amount, limit, window = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - window)
for _, id in ipairs(expired) do redis.call('HDEL', KEYS[2], id) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local live = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local used = 0
local amounts = {}
for i = 1, #live, 2 do
  local a = tonumber(redis.call('HGET', KEYS[2], live[i]) or '0')
  amounts[#amounts + 1] = { a, tonumber(live[i + 1]) }
  used = used + a
end
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return { 1, used, 0 } end
if used + amount <= limit then
  redis.call('ZADD', KEYS[1], now, ARGV[1])
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[1], window)
  redis.call('PEXPIRE', KEYS[2], window)
  return { 1, used + amount, 0 }
end
if amount > limit then return { 0, used, window } end
local need = used + amount - limit
for _, e in ipairs(amounts) do
  need = need - e[1]
  if need <= 0 then return { 0, used, math.max(1, e[2] + window - now) } end
end
return { 0, used, window }
`,
);

/**
 * KEYS[1] sorted set, KEYS[2] amounts hash; ARGV[1] reservation id, ARGV[2] actual amount
 * Result: 1 when the reservation was still inside the window and was updated, else 0
 */
export const BUDGET_SETTLE = script(
  "budget_settle",
  2,
  `
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
`,
);

/**
 * KEYS[1] sorted set, KEYS[2] amounts hash; ARGV[1] window ms
 * Result: the sum of amounts reserved inside the window (read-only)
 */
export const BUDGET_USED = script(
  "budget_used",
  2,
  `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (now - tonumber(ARGV[1])), '+inf')
local used = 0
for _, id in ipairs(live) do used = used + tonumber(redis.call('HGET', KEYS[2], id) or '0') end
return used
`,
);
