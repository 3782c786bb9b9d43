-- Fixed and sliding windows of one key, checked and counted at once on
-- the Redis server's clock (so that gateway nodes with skewed clocks agree
-- on the windows).
--
-- KEYS[1]  a hash with, for each period code P, the fields sP (start of
--          the window counted, Unix seconds), cP (its count) and, when
--          sliding, pP (the count of the window before it)
-- ARGV[1]  "1": sliding, "0": fixed
-- ARGV[2]  cost (at least 1)
-- ARGV[3]  most permits to grant: the cost, more for batching, 0 to only
--          report whether the cost would be admitted
-- ARGV[4…] pairs of period code (0 second … 5 year) and limit
--
-- Reply: {allowed, granted, now seconds, now microseconds, then for each
-- limit: window start, window end (Unix seconds), count, previous count}.
-- Admitted: every window has room for the cost; then the grant (the cost,
-- or up to the batch size when every window has room for it) is counted
-- in every window. Rejected: nothing is written. The hash expires when
-- its counts stop mattering; that moment only moves when a window starts,
-- so only then is the expiry (and the windows' starts) written.

if redis.replicate_commands then
  redis.replicate_commands()
end

local floor = math.floor

-- Days since 1970-01-01 of a proleptic Gregorian date, and back
-- (H. Hinnant's civil calendar algorithms).
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

local function civil_from_days(z)
  z = z + 719468
  local era = floor(z / 146097)
  local doe = z - era * 146097
  local yoe = floor((doe - floor(doe / 1460) + floor(doe / 36524) - floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + floor(yoe / 4) - floor(yoe / 100))
  local mp = floor((5 * doy + 2) / 153)
  local m = mp < 10 and mp + 3 or mp - 9
  if m <= 2 then y = y + 1 end
  return y, m
end

local sizes = { [0] = 1, 60, 3600, 86400 }

-- The calendar window (UTC, Unix seconds) of period p containing second s.
local function bounds(p, s)
  local size = sizes[p]
  if size then
    local start = s - s % size
    return start, start + size
  end
  local y, m = civil_from_days(floor(s / 86400))
  if p == 4 then
    local ny, nm = y, m + 1
    if nm == 13 then ny, nm = y + 1, 1 end
    return days_from_civil(y, m, 1) * 86400, days_from_civil(ny, nm, 1) * 86400
  end
  return days_from_civil(y, 1, 1) * 86400, days_from_civil(y + 1, 1, 1) * 86400
end

local function int(x)
  return string.format('%.0f', x)
end

local time = redis.call('TIME')
local now_s = tonumber(time[1])
local now_us = now_s * 1000000 + tonumber(time[2])
local sliding = ARGV[1] == '1'
local cost = tonumber(ARGV[2])
local batch = tonumber(ARGV[3])
local k = (#ARGV - 3) / 2

local fields = {}
for i = 1, k do
  local p = ARGV[2 + 2 * i]
  fields[3 * i - 2] = 's' .. p
  fields[3 * i - 1] = 'c' .. p
  fields[3 * i] = 'p' .. p
end
local stored = redis.call('HMGET', KEYS[1], unpack(fields))

local wins = {}
local room = nil
local rolled = false -- a window is new: its start (and the expiry) to write
for i = 1, k do
  local p = tonumber(ARGV[2 + 2 * i])
  local limit = tonumber(ARGV[3 + 2 * i])
  local start, stop = bounds(p, now_s)
  local s = tonumber(stored[3 * i - 2])
  local cur, prev = 0, 0
  if s == start then
    cur = tonumber(stored[3 * i - 1]) or 0
    prev = tonumber(stored[3 * i]) or 0
  else
    rolled = true
    if sliding and s ~= nil and s == bounds(p, start - 1) then
      prev = tonumber(stored[3 * i - 1]) or 0
    end
  end
  local r
  if sliding then
    local est = cur
    if prev > 0 then
      est = prev * (stop * 1000000 - now_us) / ((stop - start) * 1000000) + cur
    end
    r = floor(limit - est)
  else
    r = limit - cur
  end
  if room == nil or r < room then room = r end
  wins[i] = { p, start, stop, cur, prev }
end

local allowed = room >= cost
local granted = 0
if allowed and batch > 0 then
  granted = math.min(batch, room)
  local args = {}
  local expires = 0
  for i = 1, k do
    local w = wins[i]
    w[4] = w[4] + granted
    local p = w[1]
    args[#args + 1] = 'c' .. p
    args[#args + 1] = int(w[4])
    if rolled then
      args[#args + 1] = 's' .. p
      args[#args + 1] = int(w[2])
      local stop = w[3]
      if sliding then
        args[#args + 1] = 'p' .. p
        args[#args + 1] = int(w[5])
        local _, next_stop = bounds(p, stop)
        stop = next_stop
      end
      if stop > expires then expires = stop end
    end
  end
  redis.call('HSET', KEYS[1], unpack(args))
  -- The expiry follows the windows: unless one is new, it is set already.
  if rolled then
    redis.call('PEXPIRE', KEYS[1], int(math.ceil(expires * 1000 - now_us / 1000)))
  end
end

local reply = { allowed and 1 or 0, granted, now_s, tonumber(time[2]) }
for i = 1, k do
  local w = wins[i]
  reply[#reply + 1] = w[2]
  reply[#reply + 1] = w[3]
  reply[#reply + 1] = w[4]
  reply[#reply + 1] = w[5]
end
return reply
