-- The router role (route.Lease). KEYS[1] the lease, KEYS[2] its token
-- counter (same slot). ARGV[1] the operation: acquire (ARGV[3] ttl ms),
-- renew (ARGV[2] token, ARGV[3] ttl ms) or release (ARGV[2] token); the
-- values an operation does not use are sent as "0".
--
-- KEYS = lease epoch
-- ARGV = op token ttl
local op = ARGV[1]
if op == 'acquire' then
  if redis.call('EXISTS', KEYS[1]) == 1 then
    return 0
  end
  local t = redis.call('INCR', KEYS[2])
  redis.call('SET', KEYS[1], t, 'PX', ARGV[3])
  return t
end
if redis.call('GET', KEYS[1]) ~= ARGV[2] then
  return 0
end
if op == 'renew' then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
else
  redis.call('DEL', KEYS[1])
end
return 1
