-- emit.lua: append one token's events to one stream (the session stream or
-- the dead-letter stream), exactly once.
--
-- KEYS[1] the stream; KEYS[2] its applied record, as in incr.lua. ARGV:
-- token, score, MAXLEN of the stream (0: no cap), ttl seconds of the
-- record, then per event: f, and f field/value pairs.
-- Returns 1 when it applied the token, 0 when the stream already had it.
-- Uses want_type, has_token and add_events of lib.lua.
--
-- KEYS = stream record
-- ARGV = token score maxlen rttl events[*]{f fields[f]{field value}}

local err = want_type(KEYS[1], 'stream') or want_type(KEYS[2], 'zset')
if err then return err end
local token, score, maxlen, rttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if has_token(KEYS[2], token, score) then
  return 0
end
add_events(KEYS[1], maxlen, math.huge, 5)
redis.call('ZADD', KEYS[2], score, token)
if rttl > 0 then redis.call('EXPIRE', KEYS[2], rttl) end
return 1
