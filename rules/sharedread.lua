-- vpcalertd: the read of the optimistic path (rules/sharedfast.go). It
-- returns, for a batch whose stateful work is aggregate windows only, the
-- state shared.lua would read: per rule (the keys of ARGV) its maxT,
-- lastSweep and nextSweep (strings, or nil when not set) and the number of
-- its indexed groups; then the stored value of each group named (nil when
-- absent). When the part (its id, the batch's work) was applied before, it
-- returns that record instead: {1, end of the part, answers...} (records
-- of parts name their work "<work>/<end>").
--
-- ARGV: version, prefix, batch id, work, number of rules, rule keys...,
--       number of groups, (rule number, group key) pairs...

local A = ARGV
if A[1] ~= '1' then
  return redis.error_reply('vpcalertd: the correlation script is of another version than the daemon')
end
local prefix, marker, work = A[2], A[3], A[4]
if marker ~= '' then
  local saved = redis.call('GET', prefix .. 'done:' .. marker)
  if saved then
    local t = cmsgpack.unpack(saved)
    local w = t[1]
    if string.sub(w, 1, #work + 1) == work .. '/' then
      t[1] = tonumber(string.sub(w, #work + 2))
      table.insert(t, 1, 1)
      return t
    end
  end
end
local out = {0}
local nr = tonumber(A[5])
local keys = {}
for i = 1, nr do
  local k = A[5 + i]
  keys[i] = k
  local v = redis.call('HMGET', prefix .. 'ax:' .. k, 'maxT', 'lastSweep', 'nextSweep')
  out[#out + 1] = v[1]
  out[#out + 1] = v[2]
  out[#out + 1] = v[3]
  out[#out + 1] = redis.call('ZCARD', prefix .. 'ai:' .. k)
end
local pos = 6 + nr
local ng = tonumber(A[pos])
pos = pos + 1
for _ = 1, ng do
  out[#out + 1] = redis.call('GET', prefix .. 'a:' .. keys[tonumber(A[pos])] .. ':' .. A[pos + 1])
  pos = pos + 2
end
return out
