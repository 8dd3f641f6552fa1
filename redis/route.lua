-- Appends entries to one partition stream under a router's lease token,
-- each under its source entry's id (route.Writer.Write).
-- KEYS[1] the partition stream, KEYS[2] its fence key (same slot).
-- ARGV[1] the token; then per entry: id, number of field values n, and n
-- field names and values.
-- A token older than the fence's is refused (FENCED): a newer router owns
-- the partition. An id not larger than the stream's last one is already
-- routed and skipped. Returns the number of entries added.
--
-- KEYS = stream fence
-- ARGV = token entries[*]{id n fields[n]}
local token = tonumber(ARGV[1])
local fence = tonumber(redis.call('GET', KEYS[2]) or '0')
if fence > token then
  return redis.error_reply('FENCED by token ' .. fence)
end
if fence < token then
  redis.call('SET', KEYS[2], token)
end
local added = 0
local i = 2
while i <= #ARGV do
  local n = tonumber(ARGV[i + 1])
  local r = redis.pcall('XADD', KEYS[1], ARGV[i], unpack(ARGV, i + 2, i + 1 + n))
  if type(r) == 'table' and r.err then
    if not string.find(r.err, 'equal or smaller', 1, true) then
      return redis.error_reply(r.err)
    end
  else
    added = added + 1
  end
  i = i + 2 + n
end
return added
