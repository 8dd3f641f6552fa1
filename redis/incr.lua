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
-- Uses want_type and has_token of lib.lua.
--
-- KEYS = board record
-- ARGV = token score ttl rttl pairs[*]{member sum}

for i = 1, 2 do
  local err = want_type(KEYS[i], 'zset')
  if err then return err end
end
local token, score, ttl, rttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if has_token(KEYS[2], token, score) then
  return 0
end
for p = 5, #ARGV, 2 do
  redis.call('ZINCRBY', KEYS[1], ARGV[p + 1], ARGV[p])
end
redis.call('ZADD', KEYS[2], score, token)
if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) end
if rttl > 0 then redis.call('EXPIRE', KEYS[2], rttl) end
return 1
