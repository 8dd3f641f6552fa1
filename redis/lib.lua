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

-- claim_skip returns the index after a claims section of ns shards at p,
-- and the number of claims in it.
local function claim_skip(p, ns)
  local total = 0
  for _ = 1, ns do
    local m = tonumber(ARGV[p])
    total = total + m
    p = p + 2 + 2 * m
  end
  return p, total
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

-- claim_kept tells whether the claims of the shard section at p are kept
-- in the shard: its flag is "0" or "1" (trim first); "c" marks claims that
-- are only checked against the shard, because they are kept in seen
-- bitmaps (below).
local function claim_kept(p)
  return ARGV[p + 1] ~= 'c'
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
    if m > 0 and claim_kept(p) then
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

-- Seen bitmaps: on a single server, activities whose key is an ObjectId
-- (the main server's pomodoroUsageLogId) are remembered as one bit each,
-- committed and finished, in a string per (ObjectId's second, process and
-- counter / 2048), at bit counter % 2048 after a 16-byte header
-- (redis.bitOf); the header is the newest stream time (ms, decimal) of a
-- commit that wrote the string. Consecutive ObjectIds of one process share
-- a string, so a batch reads and writes a few short ranges instead of a
-- sorted-set member per activity. A string whose newest write is below the
-- window's start is forgotten whole (read as empty, cleared before the
-- next write), so an activity is remembered for at least the window and at
-- most for the window after the last commit of an activity of its string;
-- the string also expires ttl ms after its last write. A bits section of
-- ARGV, from p, is per bitmap: its number of claims m, the first and last
-- byte the claims touch (after the header), and the claims' bit offsets,
-- two bytes each (big-endian) in one string; the bitmaps' keys are
-- KEYS[k0 + 1 ..]. The claims' ordinals continue those of the claims
-- section before it (o0 of them).

-- bits_header is the length of a seen bitmap's header.
local bits_header = 16

-- bit_masks[r + 1] is the value of bit r of a byte, bit 0 first (as
-- SETBIT numbers them).
local bit_masks = {128, 64, 32, 16, 8, 4, 2, 1}

-- bits_dups appends to dups the ordinals of the claims of a bits section
-- of nb bitmaps at p whose bit is set in a bitmap written within the
-- window (at or after since, claim units): the activity was committed. It
-- returns, per bitmap, its bits from byte lo to hi as a table (bit i of
-- the range at [i + 1]) with the claims' bits set, and whether the bitmap
-- was forgotten: what bits_record writes when no claim was a duplicate
-- (claim.lua only checks, and drops them). Two GETRANGEs per bitmap, and
-- per claim a table look-up: no arithmetic on bytes per claim, no C call.
local function bits_dups(k0, nb, p, o0, dups, since)
  local maps = {}
  local since_ms = tonumber(since) / 2048
  for b = 1, nb do
    local key, m, lo, hi, packed = KEYS[k0 + b], tonumber(ARGV[p]), tonumber(ARGV[p + 1]), tonumber(ARGV[p + 2]), ARGV[p + 3]
    local newest = tonumber(redis.call('GETRANGE', key, 0, bits_header - 1))
    local set, live = {}, newest ~= nil and newest >= since_ms
    if live then
      local got = redis.call('GETRANGE', key, bits_header + lo, bits_header + hi)
      if #got > 0 then
        local bytes = {string.byte(got, 1, -1)}
        for i = 1, #bytes do
          local v = bytes[i]
          if v > 0 then
            local at = (i - 1) * 8
            for r = 1, 8 do
              local mask = bit_masks[r]
              if v >= mask then
                set[at + r] = true
                v = v - mask
              end
            end
          end
        end
      end
    end
    local base = lo * 8 - 1
    for c = 1, m, 1000 do
      local last = math.min(m, c + 999)
      local offs = {string.byte(packed, 2 * c - 1, 2 * last)}
      for j = 1, last - c + 1 do
        local i = offs[2 * j - 1] * 256 + offs[2 * j] - base
        if set[i] then
          dups[#dups + 1] = o0 + c - 1 + j
        else
          set[i] = true
        end
      end
    end
    maps[b] = {set = set, live = live, newest = newest}
    o0 = o0 + m
    p = p + 4
  end
  return maps
end

-- bits_bytes is the length of a seen bitmap's bits (2,048 of them).
local bits_bytes = 256

-- bits_record writes the bits bits_dups returned (none of the claims a
-- duplicate) back, raises the bitmap's header to ms (the commit's newest
-- entry, stream time), and makes it expire ttl ms after this write: a
-- live bitmap with one SETRANGE of the bytes the claims touch and one of
-- the header; a new or forgotten one whole, with one SET (written at its
-- full length at once: a string grown by SETRANGE keeps twice its length
-- allocated).
local function bits_record(k0, nb, p, maps, ttl, ms)
  for b = 1, nb do
    local key, lo, hi = KEYS[k0 + b], tonumber(ARGV[p + 1]), tonumber(ARGV[p + 2])
    local set = maps[b].set
    local bytes = {}
    for i = 1, hi - lo + 1 do
      local v, at = 0, (i - 1) * 8
      for r = 1, 8 do
        if set[at + r] then v = v + bit_masks[r] end
      end
      bytes[i] = v
    end
    local range = string.char(unpack(bytes))
    if maps[b].live then
      redis.call('SETRANGE', key, 0, string.format('%016.0f', math.max(ms, maps[b].newest)))
      redis.call('SETRANGE', key, bits_header + lo, range)
      redis.call('PEXPIRE', key, ttl)
    else
      redis.call('SET', key, string.format('%016.0f', ms) .. string.rep('\0', lo) .. range .. string.rep('\0', bits_bytes - 1 - hi), 'PX', ttl)
    end
    p = p + 4
  end
end

-- entry_ms returns the millisecond of a stream entry id ("<ms>-<seq>").
local function entry_ms(id)
  return tonumber(string.match(id, '^(%d+)')) or 0
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
