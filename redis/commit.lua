-- commit.lua: acknowledge a batch of input-stream entries and apply, for
-- each entry whose XACK returns 1, its effects. Redis runs a script
-- atomically, so either the whole batch's acknowledgements and effects apply
-- or (the script never ran) none do. The encoding is documented on
-- Committer.encode in committer.go.
--
-- KEYS[1] input stream, KEYS[2] dead-letter stream, KEYS[3] session stream,
-- KEYS[4..] leaderboard sorted sets.
-- Returns {applied, skipped}.

-- Refuse before any write when a key has the wrong type, so that the script
-- cannot fail half-way and leave some effects applied.
for i = 1, #KEYS do
  local t = redis.call('TYPE', KEYS[i])['ok']
  local want = 'zset'
  if i <= 3 then want = 'stream' end
  if t ~= 'none' and t ~= want then
    return redis.error_reply('WRONGTYPE pomocore commit: key ' .. KEYS[i] .. ' holds a ' .. t .. ', want a ' .. want)
  end
end

local group = ARGV[1]
local n = tonumber(ARGV[2])
local deadMax = tonumber(ARGV[3])
local p = 4
local applied, skipped = 0, 0
local sums = {}   -- key index -> member -> seconds
local order = {}  -- key indexes in first-seen order

for _ = 1, n do
  local id = ARGV[p]
  local flags = ARGV[p + 1]
  p = p + 2
  local ok = redis.call('XACK', KEYS[1], group, id) == 1
  if ok then applied = applied + 1 else skipped = skipped + 1 end

  if string.find(flags, 'i', 1, true) then
    local member, delta, nk = ARGV[p], tonumber(ARGV[p + 1]), tonumber(ARGV[p + 2])
    p = p + 3
    for j = 0, nk - 1 do
      if ok then
        local k = tonumber(ARGV[p + j])
        local m = sums[k]
        if m == nil then
          m = {}
          sums[k] = m
          order[#order + 1] = k
        end
        m[member] = (m[member] or 0) + delta
      end
    end
    p = p + nk
  end

  if string.find(flags, 's', 1, true) then
    if ok then
      redis.call('XADD', KEYS[3], '*', 'userId', ARGV[p], 'sessionDate', ARGV[p + 1], 'session', ARGV[p + 2])
    end
    p = p + 3
  end

  if string.find(flags, 'd', 1, true) then
    local reason, kind, nf = ARGV[p], ARGV[p + 1], tonumber(ARGV[p + 2])
    p = p + 3
    if ok then
      local fields = {'dead.id', id, 'dead.reason', reason, 'dead.kind', kind}
      for j = 0, 2 * nf - 1 do
        fields[#fields + 1] = ARGV[p + j]
      end
      if deadMax > 0 then
        redis.call('XADD', KEYS[2], 'MAXLEN', '~', deadMax, '*', unpack(fields))
      else
        redis.call('XADD', KEYS[2], '*', unpack(fields))
      end
    end
    p = p + 2 * nf
  end
end

for _, k in ipairs(order) do
  for member, seconds in pairs(sums[k]) do
    redis.call('ZINCRBY', KEYS[k], string.format('%.17g', seconds), member)
  end
end

-- Retention: a key that was incremented expires that long after now.
local nttl = tonumber(ARGV[p]) or 0
p = p + 1
for _ = 1, nttl do
  local k, secs = tonumber(ARGV[p]), tonumber(ARGV[p + 1])
  p = p + 2
  if sums[k] ~= nil and secs > 0 then
    redis.call('EXPIRE', KEYS[k], secs)
  end
end

return {applied, skipped}
