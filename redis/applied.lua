-- applied.lua: the part the commit scripts share (begin.lua, incr.lua,
-- emit.lua, single.lua); Go prepends it to each (redis/committer.go), so
-- each is still one script.

-- want_type returns an error reply when key exists with another type than
-- want, before the script writes anything.
local function want_type(key, want)
  local t = redis.call('TYPE', key)['ok']
  if t ~= 'none' and t ~= want then
    return redis.error_reply('WRONGTYPE pomocore commit: key ' .. key .. ' holds a ' .. t .. ', want a ' .. want)
  end
end

-- has_token tells whether the applied record lists token already, or the
-- token (its score) is below the record's floor: either way its share must
-- not be applied again.
local function has_token(record, token, score)
  local floor = tonumber(redis.call('ZSCORE', record, 'floor')) or -1
  return score < floor or redis.call('ZSCORE', record, token) ~= false
end

-- ids_at returns the entry ids ARGV[first + from .. first + to].
local function ids_at(first, from, to)
  local ids = {}
  for i = from, to do
    ids[#ids + 1] = ARGV[first + i]
  end
  return ids
end

-- pending_of returns the set of the n entry ids ARGV[first + 1 ..
-- first + n], between lo and hi, that are pending in group of stream: one
-- range query (other consumers' entries in the range come too), then one
-- query per entry not seen when the range held more than the query
-- returned.
local function pending_of(stream, group, lo, hi, n, first)
  local limit = 4 * n + 64
  local pending, seen = {}, 0
  for _, p in ipairs(redis.call('XPENDING', stream, group, lo, hi, limit)) do
    pending[p[1]] = true
    seen = seen + 1
  end
  if seen >= limit then
    for i = 1, n do
      local id = ARGV[first + i]
      if not pending[id] and #redis.call('XPENDING', stream, group, id, id, 1) > 0 then
        pending[id] = true
      end
    end
  end
  return pending
end

-- add_events appends to stream up to count events read from ARGV at p
-- (per event: f, then f field/value pairs), stopping at the end of ARGV,
-- capped at about maxlen entries (0: no cap). It returns the index after
-- the last event read.
local function add_events(stream, maxlen, count, p)
  for _ = 1, count do
    if p > #ARGV then break end
    local f = tonumber(ARGV[p])
    local fields = {}
    for j = p + 1, p + 2 * f do
      fields[#fields + 1] = ARGV[j]
    end
    if maxlen > 0 then
      redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', unpack(fields))
    else
      redis.call('XADD', stream, '*', unpack(fields))
    end
    p = p + 1 + 2 * f
  end
  return p
end
