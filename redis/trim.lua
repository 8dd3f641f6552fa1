-- trim.lua: raise the floor of one applied record and drop the records
-- below it. KEYS[1] the record; ARGV[1] the new floor (milliseconds): every
-- input entry whose id's millisecond part is below it is acknowledged, so
-- it can never be committed again.
-- Returns the number of records removed.
--
-- KEYS = record
-- ARGV = floor
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local floor = tonumber(ARGV[1])
redis.call('ZADD', KEYS[1], 'GT', floor, 'floor')
return redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. floor)
