-- qxt.serve.lru: a map of bounded size whose entries expire: the answer
-- cache and the idempotency keys of `qxtv serve` (cache.lua, policy.lua).
--
--   local m = lru.new(100000)
--   m:put(key, value, now, expires)   -- evicts the least recently used at the cap
--   local value, at = m:get(key, now) -- nil once expired (and then dropped)
--
-- Times are seconds on the caller's clock; nothing here reads a clock.
-- get and put are O(1): a doubly linked list in use order plus a table by key.
local _M = {}

local Lru = {}
Lru.__index = Lru

local function unlink(node)
  node.prev.next, node.next.prev = node.next, node.prev
end

local function push_front(self, node)
  local head = self.head
  node.prev, node.next = head, head.next
  head.next.prev = node
  head.next = node
end

--- new(max) -> an empty map holding at most max entries (max >= 1).
function _M.new(max)
  if math.type(max) ~= "integer" or max < 1 then
    error("the size of a cache is a positive integer", 2)
  end
  local head = {}
  head.prev, head.next = head, head
  return setmetatable({ max = max, n = 0, head = head, by_key = {}, evicted = 0 }, Lru)
end

--- m:get(key, now) -> value, at (when it was put) | nil. A hit becomes the
--- most recently used; an expired entry is dropped.
function Lru:get(key, now)
  local node = self.by_key[key]
  if not node then return nil end
  if now >= node.expires then
    self:delete(key)
    return nil
  end
  unlink(node)
  push_front(self, node)
  return node.value, node.at
end

--- m:put(key, value, now, expires): value until `expires` (a time), put at
--- `now`. At the cap the least recently used entry makes room.
function Lru:put(key, value, now, expires)
  local node = self.by_key[key]
  if node then
    unlink(node)
  else
    if self.n >= self.max then
      local last = self.head.prev
      self:delete(last.key)
      self.evicted = self.evicted + 1
    end
    node = { key = key }
    self.by_key[key] = node
    self.n = self.n + 1
  end
  node.value, node.at, node.expires = value, now, expires
  push_front(self, node)
end

--- m:delete(key)
function Lru:delete(key)
  local node = self.by_key[key]
  if not node then return end
  unlink(node)
  node.prev, node.next = nil, nil
  self.by_key[key] = nil
  self.n = self.n - 1
end

--- m:count() -> the entries held (expired ones included until touched or evicted)
function Lru:count() return self.n end

return _M
