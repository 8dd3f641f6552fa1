-- janitor.lua: remove the consumers of a group that are idle and own
-- nothing, atomically: no consumer can take an entry between the check and
-- the removal (XGROUP DELCONSUMER drops the consumer's pending entries with
-- it, so a consumer removed just after it read would lose them).
--
-- KEYS[1] the stream. ARGV: group, the consumer to keep (the caller), the
-- idle time in milliseconds a consumer must have reached.
-- Returns the number of consumers removed.
--
-- KEYS = stream
-- ARGV = group keep idle
local group, keep, idle = ARGV[1], ARGV[2], tonumber(ARGV[3])
local removed = 0
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], group)) do
  local f = {}
  for i = 1, #c, 2 do
    f[c[i]] = c[i + 1]
  end
  if f['name'] ~= keep and tonumber(f['pending']) == 0 and tonumber(f['idle']) >= idle then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], group, f['name'])
    removed = removed + 1
  end
end
return removed
