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

/**
 * Trim what every group is done with (StreamsPort.trimAcked), in one script so that no read, claim
 * or group creation can slip in between computing the bound and trimming. Per group the bound is
 * its oldest pending id, or, with nothing pending, the id just after its last-delivered-id; the
 * smallest bound over the groups wins, and the `keep` newest entries lower it further. Ids are
 * compared as digit strings (lengths first): Lua numbers are doubles and lose 64-bit precision.
 * KEYS[1] stream
 * ARGV[1] keep
 * Result: how many entries were deleted
 */
export const TRIM_ACKED = script(
  "trim_acked",
  1,
  `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local function parts(id) return string.match(id, '^(%d+)-(%d+)$') end
local function less(a, b)
  local am, as = parts(a)
  local bm, bs = parts(b)
  if am ~= bm then
    if #am ~= #bm then return #am < #bm end
    return am < bm
  end
  if #as ~= #bs then return #as < #bs end
  return as < bs
end
local bound = nil
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local info = {}
  for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
  local p = redis.call('XPENDING', KEYS[1], info['name'])
  local b
  if tonumber(p[1]) > 0 then
    b = p[2]
  else
    local ms, seq = parts(info['last-delivered-id'])
    -- A sequence too long for exact arithmetic keeps the last delivered entry: harmless.
    if #seq < 15 then b = ms .. '-' .. string.format('%d', tonumber(seq) + 1) else b = info['last-delivered-id'] end
  end
  if bound == nil or less(b, bound) then bound = b end
end
if bound == nil then return 0 end
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
if #first == 0 or not less(first[1][1], bound) then return 0 end
local keep = tonumber(ARGV[1])
if keep > 0 then
  local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', keep)
  if #newest < keep then return 0 end
  local k = newest[#newest][1]
  if less(k, bound) then bound = k end
end
return redis.call('XTRIM', KEYS[1], 'MINID', bound)
`,
);

/**
 * Remove consumers that left (StreamsPort.removeConsumers): each listed consumer, and with an idle
 * bound every consumer idle longer, when it has nothing pending, checked and deleted in one
 * script so that no claim or read can hand it an entry in between.
 * KEYS[1] stream
 * ARGV[1] group, ARGV[2] idle ms (-1 = no idle bound), ARGV[3…] consumer names
 * Result: { removed name, … }
 */
export const REMOVE_CONSUMERS = script(
  "remove_consumers",
  1,
  `
local ok, list = pcall(redis.call, 'XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if not ok then return {} end
local named = {}
for i = 3, #ARGV do named[ARGV[i]] = true end
local idle = tonumber(ARGV[2])
local removed = {}
for _, c in ipairs(list) do
  local info = {}
  for i = 1, #c, 2 do info[c[i]] = c[i + 1] end
  if tonumber(info['pending']) == 0 and (named[info['name']] or (idle >= 0 and tonumber(info['idle']) > idle)) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
    removed[#removed + 1] = info['name']
  end
end
return removed
`,
);
