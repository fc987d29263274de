-- qxt.serve.shared.scripts: the Redis scripts behind shared/store.lua.
-- Each decision is one script, so it is atomic over every instance (Redis
-- runs one script at a time), and each takes its time from Redis `TIME`:
-- the clocks of the instances' hosts never matter. Times are milliseconds.
--
-- Values are hashes of a few fields, never a mobile or a name:
--   c code  k class  s status  a area  i carrier (isp)  pc "1" when
--   possibly charged  t when it was written (Redis time, ms)  p the pair's
--   keyed hash (idempotency keys only)
-- Every key written gets a time to live in the same script.
local _M = {}

local NOW = [[
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
]]

-- Every check: the name counted against the mobile's distinct names (a
-- sorted set of pair hashes scored by when each was last checked, over a
-- sliding window), then the pair's cached answer.
-- KEYS: names, answer.  ARGV: pair hash, limit (0: off), window ms.
-- -> { 1, fields (flat; empty: a miss), now }
--  | { 0, ms until the oldest other name leaves the window }
_M.LOOKUP = NOW .. [==[
local limit, window = tonumber(ARGV[2]), tonumber(ARGV[3])
if limit > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
  if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
    if redis.call('ZCARD', KEYS[1]) >= limit then
      local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
      return { 0, tonumber(oldest[2]) + window - now }
    end
  end
  redis.call('ZADD', KEYS[1], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], window)
end
return { 1, redis.call('HGETALL', KEYS[2]), now }
]==]

-- Who asks the provider for a pair: the answer if it is cached by now;
-- else the holder of the lock (another instance is asking: wait for it);
-- else a refusal while the pair's interval runs; else this instance, which
-- takes the lock (until it expires: an owner that dies frees it) and
-- starts the interval.
-- KEYS: answer, lock, interval.  ARGV: token, lock ms, interval ms (0: off).
-- -> { 'cache', fields, now } | { 'wait', holder } | { 'pair', ms left } | { 'owner' }
_M.CLAIM = NOW .. [==[
local h = redis.call('HGETALL', KEYS[1])
if #h > 0 then return { 'cache', h, now } end
local holder = redis.call('GET', KEYS[2])
if holder then return { 'wait', holder } end
local interval = tonumber(ARGV[3])
if interval > 0 then
  local left = redis.call('PTTL', KEYS[3])
  if left > 0 then return { 'pair', left } end
end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
if interval > 0 then redis.call('SET', KEYS[3], '1', 'PX', interval) end
return { 'owner' }
]==]

-- The owner gives its lock back without an answer (refused after all, or
-- its query failed before it was sent): the interval goes too when asked.
-- KEYS: lock, interval.  ARGV: token, "1" to end the interval.
_M.RELEASE = [==[
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  if ARGV[2] == '1' then redis.call('DEL', KEYS[2]) end
end
return 1
]==]

-- The owner's answer: for the waiters (done, by the owner's token, briefly)
-- and in the cache (by outcome; ttl 0: not cached); then the lock goes, and
-- the interval with it when asked (the query was never sent) -- only while
-- the lock is still the owner's: past it, the interval may be another's.
-- KEYS: answer, lock, done, interval.  ARGV: token, cache ttl ms, done ttl
-- ms, "1" to end the interval, fields...
_M.FINISH = NOW .. [==[
local fields = {}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
fields[#fields + 1] = 't'
fields[#fields + 1] = now
if tonumber(ARGV[2]) > 0 then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], unpack(fields))
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], unpack(fields))
redis.call('PEXPIRE', KEYS[3], ARGV[3])
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
  if ARGV[4] == '1' then redis.call('DEL', KEYS[4]) end
end
return 1
]==]

-- A waiter's look: the owner's answer, or still asking, or lost (the lock
-- is gone without an answer: the owner died or Redis lost its data).
-- KEYS: done, lock, interval.  ARGV: the owner's token.
-- -> { 'done', fields, now } | { 'wait' } | { 'lost', ms left of the interval }
_M.POLL = NOW .. [==[
local h = redis.call('HGETALL', KEYS[1])
if #h > 0 then return { 'done', h, now } end
if redis.call('GET', KEYS[2]) == ARGV[1] then return { 'wait' } end
return { 'lost', redis.call('PTTL', KEYS[3]) }
]==]

-- A request_id (its keyed hash, with the caller): new (then held for this
-- pair, since now, until it is answered or the window ends), answered
-- before, used for another pair, or lost: held longer than a query can
-- take while nobody asks for its pair (its instance stopped before it
-- answered; what it sent may have been charged).
-- KEYS: id, the pair's lock.  ARGV: pair hash, window ms, grace ms, token.
-- -> { 'new', 1 } (held by token) | { 'new', 0 } (held by another, in flight)
--  | { 'kept', fields, now } | { 'conflict' } | { 'lost' }
_M.ID_CLAIM = NOW .. [==[
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then
  redis.call('HSET', KEYS[1], 'p', ARGV[1], 'h', now, 'o', ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return { 'new', 1 }
end
local f = {}
for i = 1, #h, 2 do f[h[i]] = h[i + 1] end
if f.p ~= ARGV[1] then return { 'conflict' } end
if f.t then return { 'kept', h, now } end
if redis.call('EXISTS', KEYS[2]) == 1 or now - tonumber(f.h or 0) < tonumber(ARGV[3]) then
  return { 'new', 0 }
end
return { 'lost' }
]==]

-- The answer kept for a request_id for the window; window 0: keep none
-- (the id is freed if this token holds it and it is unanswered: a holder
-- that stopped mid-query leaves it held, see ID_CLAIM).
-- KEYS: id.  ARGV: pair hash, window ms, token, fields...
_M.ID_DONE = NOW .. [==[
if tonumber(ARGV[2]) == 0 then
  if redis.call('HGET', KEYS[1], 'o') == ARGV[3] and not redis.call('HGET', KEYS[1], 't') then
    redis.call('DEL', KEYS[1])
  end
  return 0
end
local fields = { 'p', ARGV[1] }
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
fields[#fields + 1] = 't'
fields[#fields + 1] = now
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
]==]

return _M
