-- ack.lua: the last step of a commit, on the input stream's slot:
-- acknowledge the entries, all of whose effects are applied, and forget
-- their tokens, and raise the group's committed position. KEYS[1] input
-- stream, KEYS[2] intents, KEYS[3] tokens (as in begin.lua), KEYS[4] the
-- committed positions (as in single.lua). ARGV: group, the number of
-- tokens to forget (tokens all of whose entries are among these), those
-- tokens, then the entry ids.
-- Returns how many acknowledgements took effect. Uses want_type, id_less
-- and raise_mark of lib.lua.
--
-- KEYS = stream intents tokens committed
-- ARGV = group nt tokens[nt] ids[*]
local err = want_type(KEYS[4], 'hash')
if err then return err end
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
if #ARGV >= 3 + nt then
  local hi = ARGV[3 + nt]
  for j = 4 + nt, #ARGV do
    if id_less(hi, ARGV[j]) then hi = ARGV[j] end
  end
  raise_mark(KEYS[4], KEYS[1], group, hi)
end
for j = 3, 2 + nt do
  redis.call('HDEL', KEYS[2], 'fx:' .. ARGV[j])
  redis.call('ZREM', KEYS[3], ARGV[j])
end
return acked
