-- lib.lua: the library of the commit scripts (begin.lua, incr.lua,
-- emit.lua, single.lua, claim.lua): functions they share. Go prepends it to each
-- (redis/committer.go), so each is still one script.

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

-- add_events_skip returns the index after count events in ARGV at p, as
-- add_events reads them, without adding them.
local function add_events_skip(p, count)
  for _ = 1, count do
    if p > #ARGV then break end
    p = p + 1 + 2 * tonumber(ARGV[p])
  end
  return p
end

-- The dedup state: the activities committed within the window, in
-- SeenShards sorted sets ("seen shards", each in a slot of its own: see
-- redis.SeenKeys), activity key -> claim. A claim names the stream entry
-- that counts the activity, and whether its commit finished: (the entry's
-- millisecond (Redis's clock, when it was added) x 1024 + its sequence
-- number, at most 1023) x 2, + 1 once committed; exact in a double until
-- the year 2109. The window is in that same time, so no instance's clock
-- takes part. A claims section of ARGV, from p, is: per shard its number
-- of claims m, whether to trim the shard ("1") or not ("0": the caller
-- trims each shard about once per second of stream time, not every
-- batch), then m (claim, activity key) pairs, in the order ZADD takes them
-- (so that the script hands ARGV to ZADD as it is); the shards' keys are
-- KEYS[k0 + 1 ..]. A claim's ordinal is its place in the
-- whole section (1 for the first shard's first claim): the caller knows
-- which entry each stands for.

-- claim_skip returns the index after a claims section of ns shards at p.
local function claim_skip(p, ns)
  for _ = 1, ns do
    p = p + 2 + 2 * tonumber(ARGV[p])
  end
  return p
end

-- claim_members returns the members (activity keys) of claims c to last
-- of the shard section at p (its pairs follow ARGV[p + 1]).
local function claim_members(p, c, last)
  local members = {}
  for j = c, last do
    members[j - c + 1] = ARGV[p + 1 + 2 * j]
  end
  return members
end

-- claim_dups returns the ordinals of the claims of a claims section whose
-- activity is claimed within the window (a claim at or above since) by
-- another stream entry, or by the same entry whose commit finished (it is
-- delivered again: a consumer group destroyed and recreated): one ZMSCORE
-- per shard (per 1,000 claims), not one call per activity. The same
-- entry's unfinished claim is not a duplicate (a commit crashed after
-- claiming: the entry is committed again).
local function claim_dups(k0, ns, p, since)
  local dups = {}
  local o = 0 -- ordinal of the claim before this shard's first
  since = tonumber(since)
  for s = 1, ns do
    local m = tonumber(ARGV[p])
    for c = 1, m, 1000 do
      local last = math.min(m, c + 999)
      local members = claim_members(p, c, last)
      local scores = redis.call('ZMSCORE', KEYS[k0 + s], unpack(members))
      for j = c, last do
        local sc = scores[j - c + 1]
        if sc then
          sc = tonumber(sc)
          local mine = tonumber(ARGV[p + 2 * j])
          if sc >= since and (math.floor(sc / 2) ~= math.floor(mine / 2) or sc % 2 == 1) then
            dups[#dups + 1] = o + j
          end
        end
      end
    end
    o = o + m
    p = p + 2 + 2 * m
  end
  return dups
end

-- claim_record records the claims of a claims section (none of them a
-- duplicate: claim_dups found none). In each shard it writes whose trim
-- flag is set, it first forgets the claims below since (ARGV string, in
-- claim units), and after the writes forgets the oldest of a shard holding
-- more than cap claims (0: no cap). Every shard it writes expires ttl
-- milliseconds (Redis's clock) after this write, by when every claim in it
-- is outside the window.
local function claim_record(k0, ns, p, since, cap, ttl)
  for s = 1, ns do
    local key, m, trim = KEYS[k0 + s], tonumber(ARGV[p]), ARGV[p + 1] == '1'
    if m > 0 then
      if trim then
        redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. since)
      end
      for c = 1, m, 1000 do
        redis.call('ZADD', key, unpack(ARGV, p + 2 * c, p + 1 + 2 * math.min(m, c + 999)))
      end
      if trim and cap > 0 then
        local over = redis.call('ZCARD', key) - cap
        if over > 0 then
          redis.call('ZREMRANGEBYRANK', key, 0, over - 1)
        end
      end
      redis.call('PEXPIRE', key, ttl)
    end
    p = p + 2 + 2 * m
  end
end

-- claim_confirm marks the claims of a claims section (each given as
-- finished, odd) finished where the shard holds them unfinished.
local function claim_confirm(k0, ns, p)
  for s = 1, ns do
    local key, m = KEYS[k0 + s], tonumber(ARGV[p])
    for c = 1, m, 1000 do
      local last = math.min(m, c + 999)
      local members = claim_members(p, c, last)
      local scores = redis.call('ZMSCORE', key, unpack(members))
      local args = {}
      for j = c, last do
        local sc = scores[j - c + 1]
        if sc and tonumber(sc) == tonumber(ARGV[p + 2 * j]) - 1 then
          args[#args + 1] = ARGV[p + 2 * j]
          args[#args + 1] = ARGV[p + 1 + 2 * j]
        end
      end
      if #args > 0 then
        redis.call('ZADD', key, unpack(args))
      end
    end
    p = p + 2 + 2 * m
  end
end

-- id_less orders two stream entry ids ("<ms>-<seq>").
local function id_less(a, b)
  local am, as = string.match(a, '^(%d+)-?(%d*)$')
  local bm, bs = string.match(b, '^(%d+)-?(%d*)$')
  am, bm = tonumber(am) or 0, tonumber(bm) or 0
  if am ~= bm then return am < bm end
  return (tonumber(as) or 0) < (tonumber(bs) or 0)
end

-- prev_id returns the largest stream id below id ('0-0' for the smallest).
local function prev_id(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  ms, seq = tonumber(ms) or 0, tonumber(seq) or 0
  if seq > 0 then return string.format('%.0f-%.0f', ms, seq - 1) end
  if ms == 0 then return '0-0' end
  return string.format('%.0f', ms - 1) .. '-18446744073709551615'
end

-- raise_mark records the group's low-water mark (field group of the hash
-- mark, "{<stream>}:committed"): the largest entry id at or below which
-- every entry delivered to the group is acknowledged. id is the largest
-- entry this commit acknowledged; an entry still pending below it (in
-- flight at another consumer) holds the mark just below that entry. The
-- mark only rises. The Reader recreates a vanished group there: entries
-- above it are delivered again (those committed already are acknowledged
-- without effects when they name an activity within the dedup window),
-- none below it.
local function raise_mark(mark, stream, group, id)
  local p = redis.call('XPENDING', stream, group)
  if p[1] > 0 and p[2] and id_less(p[2], id) then
    id = prev_id(p[2])
  end
  local cur = redis.call('HGET', mark, group)
  if not cur or id_less(cur, id) then
    redis.call('HSET', mark, group, id)
  end
end
