-- forget.lua: drop the effects of tokens whose entries are all below the
-- group's floor (left by commits that crashed after begin): no commit can
-- need them. KEYS[1] intents, KEYS[2] tokens (as in begin.lua); ARGV[1]
-- the floor (milliseconds). Returns how many it dropped.
--
-- KEYS = intents tokens
-- ARGV = floor
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1])
for _, t in ipairs(old) do
  redis.call('HDEL', KEYS[1], 'fx:' .. t)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1])
return #old
