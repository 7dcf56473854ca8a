-- vpcalertd: the stateful half of rule evaluation for a batch of events,
-- run atomically by Redis (EVAL). rules/shared.go writes the arguments
-- (SharedBatch.Args) and reads the reply (SharedBatch.SetReply,
-- Evaluator.Complete); this script decides exactly what Evaluator.Finish
-- decides with the process's own state (rules/aggregate.go for aggregate
-- windows, rules/correlate.go for if_matched_sid, rules/eval.go for
-- ignore), on state kept in Redis keys:
--
--   <prefix>a:<rule>:<group>   an aggregate group: msgpack {last, firedAt|false, data}
--                              data: 12 (slot, value) pairs (count, sum) or
--                              (value, time) pairs (distinct)
--   <prefix>ai:<rule>          sorted set of the rule's groups by their last time
--   <prefix>ax:<rule>          hash: maxT (the newest time the rule saw), lastSweep, nextSweep
--   <prefix>m:<target>         list of the events remembered as <target>:
--                              msgpack {seq, proc, evt, matched, full_log, values...}
--   <prefix>mx:<target>        hash: maxEvt, seq
--   <prefix>mm:<target>        hash: seq -> matched level set by a later firing
--   <prefix>i:<rule>           when the rule's ignore window started
--   <prefix>done:<batch id>    a batch applied: msgpack {work hash, reply...}
--
-- Every key expires its window (or cooldown, or ignore) plus the grace after
-- its last write. Numbers are Lua numbers (doubles): times and counts are
-- exact, sums up to 2^53.
--
-- The reply: {replayed (0|1), answers...}, where the answers are, in the
-- order Finish meets them, one 0|1 per gate reached (fired) and per ignore
-- test (ignored); a search that fired is followed by the number of events
-- it counted (at most 11) and their full_logs.

local A = ARGV
local pos = 1
local function nx() local v = A[pos]; pos = pos + 1; return v end
local function nn() local v = tonumber(A[pos]); pos = pos + 1; return v end

if nx() ~= '1' then
  return redis.error_reply('vpcalertd: the correlation script is of another version than the daemon')
end
local prefix = nx()
local marker = nx()
local markerTTL = nn()
local grace = nn()
local work = nx()

if marker ~= '' then
  local key = prefix .. 'done:' .. marker
  local saved = redis.call('GET', key)
  if saved then
    local ok, t = pcall(cmsgpack.unpack, saved)
    if not ok or type(t) ~= 'table' or type(t[1]) ~= 'string' then
      return redis.error_reply('vpcalertd: the batch record ' .. key .. ' is damaged (not a msgpack array ' ..
        'that starts with a string): it is not what vpcalertd writes, so the answers of that batch cannot ' ..
        'be read back; delete the key (DEL) to have the batch applied again, its events then counted again')
    end
    if t[1] == work then
      t[1] = 1
      return t
    end
  end
end

local out = {0}
local function emit(v) out[#out + 1] = v end

-- The rule table.
local R = {}
for i = 1, nn() do
  local r = {kind = nx()}
  if r.kind == 'A' then
    r.key = nx(); r.agg = nx(); r.threshold = nn(); r.tf = nn(); r.width = nn()
    r.cool = nn(); r.maxg = nn(); r.keep = nn()
    r.buckets = r.agg ~= 'distinct'
  elseif r.kind == 'S' then
    r.mem = nn(); r.level = nn(); r.count = nn(); r.tf = nn(); r.ev = nx() == 'e'
    r.nsame = nn(); r.ndiff = nn()
    r.same = {}; r.diff = {}
    for j = 1, r.nsame do r.same[j] = nn() end
    for j = 1, r.ndiff do r.diff[j] = nn() end
  elseif r.kind == 'M' then
    r.key = nx(); r.procWin = nn(); r.evWin = nn(); r.nsyms = nn(); r.cap = nn()
    r.ttl = math.max(r.procWin, r.evWin, 0) + grace
  elseif r.kind == 'F' then
    r.level = nn(); r.ignore = nn(); r.iev = nx() == 'e'; r.ikey = nx(); r.mem = nn()
  else
    return redis.error_reply('vpcalertd: unknown rule table entry ' .. tostring(r.kind))
  end
  R[i] = r
end

local NB = 12 -- aggBuckets

-- Aggregates: groups and rule state are read once per batch and written
-- back at its end.
local groups = {}   -- key -> group table (false: known absent)
local dirty = {}    -- key -> rule
local aggRules = {} -- rule -> {maxT, index key, ...}

local function aggRule(r)
  local s = aggRules[r]
  if s then return s end
  s = {index = prefix .. 'ai:' .. r.key, xkey = prefix .. 'ax:' .. r.key}
  local v = redis.call('HMGET', s.xkey, 'maxT', 'lastSweep', 'nextSweep')
  s.maxT = tonumber(v[1]) or -math.huge
  s.lastSweep = tonumber(v[2]) or 0
  s.nextSweep = tonumber(v[3]) or math.min(1024, r.maxg)
  -- The rule's groups: those of the index and those added by the batch
  -- (indexed when the batch is saved, or before a sweep).
  s.count = redis.call('ZCARD', s.index)
  aggRules[r] = s
  return s
end

local function newGroup(r, t)
  local g = {last = t, fired = nil, bs = {}, bv = {}, seen = {}}
  return g
end

local function loadGroup(r, key)
  local g = groups[key]
  if g ~= nil then return g end
  local blob = redis.call('GET', key)
  if not blob then groups[key] = false; return false end
  local t = cmsgpack.unpack(blob)
  g = {last = t[1], fired = t[2] or nil, bs = {}, bv = {}, seen = {}}
  local d = t[3]
  if r.buckets then
    for i = 1, #d, 2 do
      local slot = d[i]
      local j = slot % NB + 1
      g.bs[j] = slot; g.bv[j] = d[i + 1]
    end
  else
    for i = 1, #d, 2 do g.seen[d[i]] = d[i + 1] end
  end
  groups[key] = g
  return g
end

local function clearWindow(g)
  g.bs = {}; g.bv = {}; g.seen = {}
end

-- Drops the groups of rule r whose keys are in list (from the index).
local function dropGroups(s, list)
  for i = 1, #list do
    groups[list[i]] = false
    dirty[list[i]] = nil
  end
  for i = 1, #list, 500 do
    local j = math.min(i + 499, #list)
    redis.call('DEL', unpack(list, i, j))
    redis.call('ZREM', s.index, unpack(list, i, j))
  end
end

-- sweep is aggState.sweep, run when a group is about to be added: at
-- nextSweep groups, or once the rule's newest time moved keep past the
-- last sweep, the dead groups go (older than the newest time less keep),
-- then, at max_groups, the oldest quarter.
local function sweep(r, s)
  local n = s.count
  if n < s.nextSweep and not (n > 0 and s.maxT - s.lastSweep >= r.keep) then return end
  s.lastSweep = s.maxT; s.dirtyT = true
  -- The index must hold the groups' current last times.
  for key, rr in pairs(dirty) do
    local g = groups[key]
    if rr == r and g then redis.call('ZADD', s.index, g.last, key) end
  end
  local dead = s.maxT - r.keep
  dropGroups(s, redis.call('ZRANGEBYSCORE', s.index, '-inf', '(' .. dead))
  n = redis.call('ZCARD', s.index)
  if n >= r.maxg then
    local drop = math.max(1, math.floor(n / 4))
    dropGroups(s, redis.call('ZRANGE', s.index, 0, drop - 1))
    n = redis.call('ZCARD', s.index)
  end
  s.count = n
  s.nextSweep = math.min(math.max(1024, 2 * n), r.maxg)
end

local function addBuckets(r, g, t, n)
  local slot = math.floor(t / r.width)
  local top = slot
  if g.last > t then top = math.floor(g.last / r.width) end
  if slot > top - NB then
    local j = slot % NB + 1
    if g.bs[j] ~= slot then g.bs[j] = slot; g.bv[j] = 0 end
    g.bv[j] = g.bv[j] + n
  end
  local lo = top - NB
  local total = 0
  for j = 1, NB do
    local s = g.bs[j]
    if s and s > lo and s <= top then total = total + g.bv[j] end
  end
  return total
end

local function addDistinct(r, g, t, v)
  local lim = math.max(t, g.last) - r.tf
  local n, found = 0, false
  for k, st in pairs(g.seen) do
    if st < lim then
      g.seen[k] = nil
    else
      n = n + 1
      if k == v then
        found = true
        if t > st then g.seen[k] = t end
      end
    end
  end
  if not found then g.seen[v] = t; n = n + 1 end
  return n
end

-- aggregate is aggState.addKey: whether the rule fires.
local function aggregate(r, t, gk, v)
  local s = aggRule(r)
  if t > s.maxT then s.maxT = t; s.dirtyT = true end
  local key = prefix .. 'a:' .. r.key .. ':' .. gk
  local g = loadGroup(r, key)
  if g and g.last < t - r.keep then
    -- Nothing of it is inside the window or the cooldown any more.
    g.fired = nil; clearWindow(g); g.last = t
  end
  if not g then
    sweep(r, s)
    g = newGroup(r, t)
    groups[key] = g
    s.count = s.count + 1
  end
  dirty[key] = r
  if t < g.last - r.tf then return false end
  local value
  if r.buckets then
    local n = 1
    if r.agg == 'sum' then n = tonumber(v) end
    value = addBuckets(r, g, t, n)
  else
    value = addDistinct(r, g, t, v)
  end
  if t > g.last then g.last = t end
  if value < r.threshold then return false end
  if g.fired and t - g.fired < r.cool then return false end
  g.fired = t
  clearWindow(g)
  return true
end

local function saveAggregates()
  for key, r in pairs(dirty) do
    local g = groups[key]
    if g then
      local d = {}
      if r.buckets then
        for j = 1, NB do
          if g.bs[j] then d[#d + 1] = g.bs[j]; d[#d + 1] = g.bv[j] end
        end
      else
        for k, st in pairs(g.seen) do d[#d + 1] = k; d[#d + 1] = st end
      end
      redis.call('SET', key, cmsgpack.pack({g.last, g.fired or false, d}), 'EX', r.keep + grace)
      redis.call('ZADD', aggRule(r).index, g.last, key)
    end
  end
  for r, s in pairs(aggRules) do
    redis.call('EXPIRE', s.index, r.keep + grace)
    if s.dirtyT then
      redis.call('HSET', s.xkey, 'maxT', s.maxT, 'lastSweep', s.lastSweep, 'nextSweep', s.nextSweep)
      redis.call('EXPIRE', s.xkey, r.keep + grace)
    end
  end
end

-- if_matched_sid memories (correlate.go).
local mems = {}
local function mem(M)
  local x = mems[M]
  if x then return x end
  x = {list = prefix .. 'm:' .. M.key, mx = prefix .. 'mx:' .. M.key, mm = prefix .. 'mm:' .. M.key}
  local v = redis.call('HMGET', x.mx, 'maxEvt', 'seq')
  x.maxEvt = tonumber(v[1]) or 0
  x.seq = tonumber(v[2]) or 0
  x.len = redis.call('LLEN', x.list)
  mems[M] = x
  return x
end

-- expire is memory.expire.
local function expire(M, x, now)
  while x.len > 0 do
    local e = cmsgpack.unpack(redis.call('LINDEX', x.list, 0))
    local oldProc = M.procWin < 0 or now - e[2] > M.procWin
    local oldEvt = M.evWin < 0 or x.maxEvt - e[3] > M.evWin
    if not (oldProc and oldEvt) and x.len <= M.cap then break end
    redis.call('LPOP', x.list)
    redis.call('HDEL', x.mm, e[1])
    x.len = x.len - 1
  end
end

-- remember is memory.store.
local function remember(M, now, evt, matched, fullLog, vals)
  local x = mem(M)
  if evt > x.maxEvt then x.maxEvt = evt end
  x.seq = x.seq + 1
  local e = {x.seq, now, evt, matched, fullLog}
  for j = 1, M.nsyms do e[5 + j] = vals[j] end
  redis.call('RPUSH', x.list, cmsgpack.pack(e))
  x.len = x.len + 1
  expire(M, x, now)
  x.dirty = M -- saved once, at the end of the batch (saveMemories)
end

local function saveMemories()
  for _, x in pairs(mems) do
    local M = x.dirty
    if M then
      redis.call('HSET', x.mx, 'maxEvt', x.maxEvt, 'seq', x.seq)
      redis.call('EXPIRE', x.list, M.ttl)
      redis.call('EXPIRE', x.mx, M.ttl)
      if redis.call('EXISTS', x.mm) == 1 then redis.call('EXPIRE', x.mm, M.ttl) end
    end
  end
end

-- search is memory.search: whether S fires; on a firing, the full_logs
-- counted.
local function search(S, now, evt, same, diff)
  local M = R[S.mem]
  local x = mem(M)
  expire(M, x, now)
  local count, first, prev = 0, nil, {}
  local i = x.len
  while i > 0 do
    local lo = math.max(1, i - 31)
    local chunk = redis.call('LRANGE', x.list, lo - 1, i - 1)
    for k = #chunk, 1, -1 do
      local e = cmsgpack.unpack(chunk[k])
      local skip = false
      if not S.ev then
        if now - e[2] > S.tf then return false end
      else
        local d = evt - e[3]
        if d > S.tf or -d > S.tf then skip = true end
      end
      if not skip then
        for j = 1, S.nsame do
          local cur, old = same[j], e[5 + S.same[j]]
          if not cur or not old or cur ~= old then skip = true; break end
        end
      end
      if not skip then
        for j = 1, S.ndiff do
          local cur, old = diff[j], e[5 + S.diff[j]]
          if cur and old and cur == old then skip = true; break end
        end
      end
      if not skip then
        local matched = tonumber(redis.call('HGET', x.mm, e[1])) or e[4]
        if matched >= S.level then return false end
        if count <= 10 then prev[#prev + 1] = e[5] end
        if count < S.count then
          count = count + 1
          if first == nil then first = e[1] end
        else
          if first ~= nil then
            redis.call('HSET', x.mm, first, S.level)
            redis.call('EXPIRE', x.mm, M.ttl)
          end
          return true, prev
        end
      end
    end
    i = lo - 1
  end
  return false
end

-- ignore windows, read once per batch and written back at its end.
local ignores = {}
local function ignored(F, t)
  local key = prefix .. 'i:' .. F.ikey
  local s = ignores[key]
  if not s then
    s = {t0 = tonumber(redis.call('GET', key)) or 0, ttl = F.ignore + grace}
    ignores[key] = s
  end
  if s.t0 == 0 or t - s.t0 >= F.ignore then
    s.t0 = t; s.dirty = true
    return false
  end
  return true
end

-- The events.
local proc, evt, fullLog, payload, curMatched

local function value(tok)
  if tok == '' then return false end
  return string.sub(tok, 2)
end

-- gate runs a gate's window or search and says whether it fired.
local function gate()
  local r = R[nn()]
  if r.kind == 'A' then
    local t = nx(); local gk = nx(); local v = nx()
    if t == '' then emit(0); return false end
    if aggregate(r, tonumber(t), gk, v) then emit(1); return true end
    emit(0)
    return false
  end
  local same, diff = {}, {}
  for j = 1, r.nsame do same[j] = value(nx()) end
  for j = 1, r.ndiff do diff[j] = value(nx()) end
  local fired, prev = search(r, proc, evt, same, diff)
  if not fired then emit(0); return false end
  curMatched = r.level
  emit(1)
  emit(#prev)
  for j = 1, #prev do emit(prev[j]) end
  return true
end

-- skipWalk passes over a walk the evaluation does not reach.
local function skipWalk()
  local ng = nn()
  for _ = 1, ng do
    local r = R[nn()]
    if r.kind == 'A' then pos = pos + 3 else pos = pos + r.nsame + r.ndiff end
    skipWalk()
  end
  pos = pos + 2
end

-- walk runs the gates of one walk in order; the first that fires and whose
-- subtree walk has a result decides it. Returns the result (nil: none, 0:
-- one that asks nothing of the store, else its rule table entry) and the
-- rule above it.
local function walk()
  local ng = nn()
  for k = 1, ng do
    if gate() then
      local f, parent = walk()
      if f ~= nil then
        for _ = k + 1, ng do
          local r = R[nn()]
          if r.kind == 'A' then pos = pos + 3 else pos = pos + r.nsame + r.ndiff end
          skipWalk()
        end
        pos = pos + 2
        return f, parent
      end
    else
      skipWalk()
    end
  end
  local d = nx()
  local parent = nn()
  if d == '-' then return nil, nil end
  return tonumber(d), parent
end

-- finish is the stateful part of evalCtx.finish: ignore, then remembering
-- the event as its result.
local function finish(f, parent)
  if f == nil or f == 0 then return end
  local F = R[f]
  local r = F
  if F.ignore > 0 then
    local t = proc
    if F.iev then t = evt end
    if ignored(F, t) then
      emit(1)
      if parent == 0 then return end
      r = R[parent]
    else
      emit(0)
    end
  end
  if r.mem > 0 then
    remember(R[r.mem], proc, evt, curMatched, fullLog, payload[r.mem])
  end
end

for _ = 1, nn() do
  proc = nn(); evt = nn(); fullLog = nx()
  payload = {}
  for _ = 1, nn() do
    local m = nn()
    local vals = {}
    for j = 1, R[m].nsyms do vals[j] = value(nx()) end
    payload[m] = vals
  end
  for _ = 1, nn() do
    curMatched = 0
    local f, parent = walk()
    finish(f, parent)
  end
end

saveAggregates()
saveMemories()
for key, s in pairs(ignores) do
  if s.dirty then redis.call('SET', key, s.t0, 'EX', s.ttl) end
end
if marker ~= '' then
  local saved = {work}
  for j = 2, #out do saved[j] = out[j] end
  redis.call('SET', prefix .. 'done:' .. marker, cmsgpack.pack(saved), 'EX', markerTTL)
end
return out
