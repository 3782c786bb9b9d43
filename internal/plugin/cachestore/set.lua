-- Stores an entry and indexes it. KEYS[1] is the entry, KEYS[2] the
-- path index, KEYS[3..] the route and tag indexes. ARGV: the entry, its
-- ttl in ms, now in ms (the caller's clock), the path index member, the
-- key (the other indexes' member).
local ttl = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
for i = 2, #KEYS do
  local member = ARGV[5]
  if i == 2 then member = ARGV[4] end
  redis.call('ZADD', KEYS[i], now + ttl, member)
  -- Members of expired entries go as others are added, so an index
  -- holds about as many members as there are live entries.
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', '(' .. ARGV[3])
  if redis.call('PTTL', KEYS[i]) < ttl then
    redis.call('PEXPIRE', KEYS[i], ttl)
  end
end
return 1
