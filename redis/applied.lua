-- applied.lua: the part incr.lua and emit.lua share; Go prepends it to
-- each (redis/committer.go), so each is still one script.

-- want_type returns an error reply when key exists with another type than
-- want, before the script writes anything.
local function want_type(key, want)
  local t = redis.call('TYPE', key)['ok']
  if t ~= 'none' and t ~= want then
    return redis.error_reply('WRONGTYPE pomocore commit: key ' .. key .. ' holds a ' .. t .. ', want a ' .. want)
  end
end

-- has_token tells whether the applied record lists token already, or the
-- token (its score) is below the record's floor: either way its share must
-- not be applied again.
local function has_token(record, token, score)
  local floor = tonumber(redis.call('ZSCORE', record, 'floor')) or -1
  return score < floor or redis.call('ZSCORE', record, token) ~= false
end
