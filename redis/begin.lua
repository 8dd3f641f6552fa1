-- begin.lua: the first step of a commit, on the input stream's slot. It
-- gives the batch's entries to a token (this commit attempt) and stores the
-- token's effects, so that whoever later holds one of these entries applies
-- exactly these effects, whatever its own classification says. (The
-- batch's activities were claimed before it, by claim.lua, in the seen
-- shards' slots.)
--
-- KEYS[1] input stream, KEYS[2] intents "{<stream>}:intent" (hash: entry id
-- -> token; "fx:<token>" -> the token's encoded effects), KEYS[3] tokens
-- "{<stream>}:tokens" (sorted set: token -> its largest entry's
-- millisecond). ARGV: group, ttl seconds, token, score, effects, n, the
-- smallest and largest entry id, then the n entry ids.
--
-- When every entry is pending and has no token yet, it records them and
-- returns {"ok"}. Otherwise it writes nothing and returns {"retry", v1..vn,
-- t1, fx1, s1, t2, fx2, s2, ...}: per entry "" (pending, no token: give it
-- to a new token), "-" (not pending: acknowledged already, skip it) or the
-- token it has; then each such token with its effects ("" if they are gone)
-- and its score. Uses want_type, ids_at and pending_of of lib.lua.
--
-- KEYS = stream intents tokens
-- ARGV = group ttl token score fx n lo hi ids[n]

local err = want_type(KEYS[2], 'hash') or want_type(KEYS[3], 'zset')
if err then return err end
local group, ttl, token, score, fx = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
local n, lo, hi = tonumber(ARGV[6]), ARGV[7], ARGV[8]
local first = 8

local pending = pending_of(KEYS[1], group, lo, hi, n, first)

local verdicts, clean = {}, true
for c = 1, n, 1000 do
  local last = math.min(n, c + 999)
  local had = redis.call('HMGET', KEYS[2], unpack(ids_at(first, c, last)))
  for i = c, last do
    local h = had[i - c + 1]
    if not pending[ARGV[first + i]] then
      verdicts[i] = '-'
      clean = false
    elseif h then
      verdicts[i] = h
      clean = false
    else
      verdicts[i] = ''
    end
  end
end

if clean then
  for c = 1, n, 1000 do
    local set = {}
    for i = c, math.min(n, c + 999) do
      set[#set + 1] = ARGV[first + i]
      set[#set + 1] = token
    end
    redis.call('HSET', KEYS[2], unpack(set))
  end
  redis.call('HSET', KEYS[2], 'fx:' .. token, fx)
  redis.call('ZADD', KEYS[3], score, token)
  if ttl > 0 then
    redis.call('EXPIRE', KEYS[2], ttl)
    redis.call('EXPIRE', KEYS[3], ttl)
  end
  return {'ok'}
end

local out = {'retry'}
local tokens = {}
for i = 1, n do
  local v = verdicts[i]
  out[#out + 1] = v
  if v ~= '' and v ~= '-' and tokens[v] == nil then
    tokens[v] = true
  end
end
for t in pairs(tokens) do
  out[#out + 1] = t
  out[#out + 1] = redis.call('HGET', KEYS[2], 'fx:' .. t) or ''
  out[#out + 1] = redis.call('ZSCORE', KEYS[3], t) or '0'
end
return out
