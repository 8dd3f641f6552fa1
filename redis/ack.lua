-- ack.lua: the last step of a commit, on the input stream's slot:
-- acknowledge the entries, all of whose effects are applied, and forget
-- their tokens. KEYS[1] input stream, KEYS[2] intents, KEYS[3] tokens (as
-- in begin.lua). ARGV: group, the number of tokens to forget (tokens all
-- of whose entries are among these), those tokens, then the entry ids.
-- Returns how many acknowledgements took effect.
local group, nt = ARGV[1], tonumber(ARGV[2])
local acked = 0
for c = 3 + nt, #ARGV, 1000 do
  local ids = {}
  for j = c, math.min(#ARGV, c + 999) do
    ids[#ids + 1] = ARGV[j]
  end
  acked = acked + redis.call('XACK', KEYS[1], group, unpack(ids))
  redis.call('HDEL', KEYS[2], unpack(ids))
end
for j = 3, 2 + nt do
  redis.call('HDEL', KEYS[2], 'fx:' .. ARGV[j])
  redis.call('ZREM', KEYS[3], ARGV[j])
end
return acked
