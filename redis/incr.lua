-- incr.lua: apply one token's increments to one leaderboard sorted set,
-- exactly once, whatever slot the key lives in.
--
-- KEYS[1] the leaderboard; KEYS[2] its applied record "{<KEYS[1]>}:applied",
-- in the same slot: a sorted set of the tokens already applied to KEYS[1]
-- (score: the millisecond of the token's largest entry id), plus the member
-- "floor" whose score is the millisecond below which every entry is known
-- to be applied and acknowledged (records below it were trimmed).
-- ARGV: token, score, ttl seconds of the leaderboard (0: leave), ttl
-- seconds of the record, then (member, seconds) pairs.
-- Returns 1 when it applied the token, 0 when the key already had it.

for i = 1, 2 do
  local t = redis.call('TYPE', KEYS[i])['ok']
  if t ~= 'none' and t ~= 'zset' then
    return redis.error_reply('WRONGTYPE pomocore commit: key ' .. KEYS[i] .. ' holds a ' .. t .. ', want a zset')
  end
end
local token, score, ttl, rttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local floor = tonumber(redis.call('ZSCORE', KEYS[2], 'floor')) or -1
if score < floor or redis.call('ZSCORE', KEYS[2], token) then
  return 0
end
for p = 5, #ARGV, 2 do
  redis.call('ZINCRBY', KEYS[1], ARGV[p + 1], ARGV[p])
end
redis.call('ZADD', KEYS[2], score, token)
if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) end
if rttl > 0 then redis.call('EXPIRE', KEYS[2], rttl) end
return 1
