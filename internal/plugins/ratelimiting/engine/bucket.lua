-- A token bucket (NGINX limit_req) of one key, checked and counted at
-- once on the Redis server's clock.
--
-- KEYS[1]  a hash: l (last update, Unix microseconds) and b (backlog at
--          that moment, in permits: admitted permits not yet drained)
-- ARGV[1]  interval: nanoseconds for one permit to drain (1/rate)
-- ARGV[2]  burst
-- ARGV[3]  cost (at least 1)
-- ARGV[4]  "1" to count the cost when admitted, "0" to only report
--
-- Reply: {allowed, now seconds, now microseconds, backlog after the
-- decision in nanoseconds}. The backlog drains at one permit per
-- interval; a request's last permit would wait backlog + (cost-1)
-- intervals, and is admitted when that is at most burst intervals. A
-- rejected request changes nothing.

if redis.replicate_commands then
  redis.replicate_commands()
end

local time = redis.call('TIME')
local now_us = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local count = ARGV[4] == '1'

local state = redis.call('HMGET', KEYS[1], 'l', 'b')
local backlog = 0
local last = tonumber(state[1])
if last ~= nil then
  backlog = (tonumber(state[2]) or 0) - (now_us - last) * 1000 / interval
  if backlog < 0 then backlog = 0 end
end

local allowed = backlog + cost - 1 <= burst + 1e-9
if allowed and count then
  backlog = backlog + cost
  redis.call('HSET', KEYS[1], 'l', string.format('%.0f', now_us), 'b', string.format('%.17g', backlog))
  redis.call('PEXPIRE', KEYS[1], string.format('%.0f', math.ceil(backlog * interval / 1000000) + 1))
end

return { allowed and 1 or 0, tonumber(time[1]), tonumber(time[2]), math.floor(backlog * interval) }
