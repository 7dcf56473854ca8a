-- vpcalertd: the commit of the optimistic path (rules/sharedfast.go). The
-- client read the state of a batch's aggregate groups (sharedread.lua) and
-- ran shared.lua's aggregate over the batch itself; this script applies
-- the result atomically, and only if it is what shared.lua would compute
-- now:
--   * every group the batch used holds exactly the value read (absent
--     groups are still absent), else {2} (read again);
--   * no sweep of a rule's groups would run at one of the batch's new
--     groups (shared.lua's sweep: at nextSweep groups, or once the rule's
--     newest time moved keep past lastSweep; the conditions only grow with
--     each new group, so the last one decides), else {3} (the batch goes
--     to shared.lua);
-- then writes what shared.lua's saveAggregates writes: each group used,
-- with its expiry (keep + grace) and its place in the rule's index, the
-- index's expiry, the rule's newest time when it moved, and the record of
-- the batch (its answers) under its id. Returns {1}.
--
-- ARGV: version, prefix, batch id, work, record ttl, grace,
--       number of rules, per rule: key, keep, max_groups, used (0|1),
--         new groups, newest time at the last new group, newest time,
--       number of groups, per group: rule number, group key, present
--         (0|1), value read, new value, last ('' when it did not move),
--       the answers (one character 0|1 each)

local A = ARGV
if A[1] ~= '1' then
  return redis.error_reply('vpcalertd: the correlation script is of another version than the daemon')
end
local prefix, marker, work = A[2], A[3], A[4]
local markerTTL, grace = tonumber(A[5]), tonumber(A[6])
if marker ~= '' and redis.call('EXISTS', prefix .. 'done:' .. marker) == 1 then
  return {2}
end
local pos = 7
local R = {}
for i = 1, tonumber(A[pos]) do
  local b = pos + (i - 1) * 7
  R[i] = {key = A[b + 1], keep = tonumber(A[b + 2]), maxg = tonumber(A[b + 3]), used = A[b + 4] == '1',
    new = tonumber(A[b + 5]), tNew = tonumber(A[b + 6]), tMax = tonumber(A[b + 7])}
  -- The expiry as text once per rule (a number is formatted at every call).
  R[i].ex = tostring(R[i].keep + grace)
  -- By the rule number as sent: no conversion per group.
  R[tostring(i)] = R[i]
end
pos = pos + 1 + #R * 7
local ng = tonumber(A[pos])
local ansPos = pos + 1 + ng * 6
local keys, rules = {}, {}
for i = 1, ng do
  local b = pos + (i - 1) * 6
  local r = R[A[b + 1]]
  rules[i] = r
  keys[i] = prefix .. 'a:' .. r.key .. ':' .. A[b + 2]
end
-- The compare, 500 keys to an MGET (a command per group was most of the
-- script's time); MGET answers false for a missing key.
for i = 1, ng, 500 do
  local cur = redis.call('MGET', unpack(keys, i, math.min(i + 499, ng)))
  for j = 1, #cur do
    local b = pos + (i + j - 2) * 6
    if A[b + 3] == '1' then
      if cur[j] ~= A[b + 4] then return {2} end
    elseif cur[j] then
      return {2}
    end
  end
end

for _, r in ipairs(R) do
  r.index = prefix .. 'ai:' .. r.key
  r.xkey = prefix .. 'ax:' .. r.key
  if r.used then
    local v = redis.call('HMGET', r.xkey, 'maxT', 'lastSweep', 'nextSweep')
    r.maxT = tonumber(v[1]) or -math.huge
    if r.new > 0 then
      local lastSweep = tonumber(v[2]) or 0
      local nextSweep = tonumber(v[3]) or math.min(1024, r.maxg)
      local n = redis.call('ZCARD', r.index) + r.new - 1
      if n >= nextSweep or (n > 0 and math.max(r.maxT, r.tNew) - lastSweep >= r.keep) then
        return {3}
      end
    end
  end
end

-- A stored group is in the index with its last time: unless it moved,
-- it keeps its place. One ZADD per rule and 250 groups.
local moved = {}
for i = 1, ng do
  local b = pos + (i - 1) * 6
  local r = rules[i]
  redis.call('SET', keys[i], A[b + 5], 'EX', r.ex)
  if A[b + 6] ~= '' then
    local z = moved[r]
    if not z then
      z = {}
      moved[r] = z
    end
    z[#z + 1] = A[b + 6]
    z[#z + 1] = keys[i]
    if #z == 500 then
      redis.call('ZADD', r.index, unpack(z))
      moved[r] = {}
    end
  end
end
for r, z in pairs(moved) do
  if #z > 0 then redis.call('ZADD', r.index, unpack(z)) end
end
for _, r in ipairs(R) do
  if r.used then
    redis.call('EXPIRE', r.index, r.keep + grace)
    if r.tMax > r.maxT then
      redis.call('HSET', r.xkey, 'maxT', r.tMax)
      redis.call('EXPIRE', r.xkey, r.keep + grace)
    end
  end
end
if marker ~= '' then
  -- The record: "<work>/f", the number of answers and the positions of
  -- the 1s (nearly every answer is 0: a byte per answer was gigabytes an
  -- hour at scale-out rates).
  local ans = A[ansPos]
  local saved = {work .. '/f', #ans}
  local i = 1
  while true do
    local j = string.find(ans, '1', i, true)
    if not j then break end
    saved[#saved + 1] = j
    i = j + 1
  end
  redis.call('SET', prefix .. 'done:' .. marker, cmsgpack.pack(saved), 'EX', markerTTL)
end
return {1}
