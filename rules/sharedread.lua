-- vpcalertd: the read of the optimistic path (rules/sharedfast.go). It
-- returns, for a batch whose stateful work is aggregate windows only, the
-- state shared.lua would read: per rule (the keys of ARGV) its maxT,
-- lastSweep and nextSweep (strings, or nil when not set) and the number of
-- its indexed groups; then the stored value of each group named (nil when
-- absent). When the part (its id, the batch's work) was applied before, it
-- returns that record instead: {1, end of the part, answers...} (records
-- of parts name their work "<work>/<end>" (shared.lua's) or
-- "<work>/<end>/f" (sharedcommit.lua's, the positions of the 1s only)).
--
-- ARGV: version, prefix, batch id, work, number of rules, rule keys...,
--       number of groups, (rule number, group key) pairs...

local A = ARGV
if A[1] ~= '1' then
  return redis.error_reply('vpcalertd: the correlation script is of another version than the daemon')
end
local prefix, marker, work = A[2], A[3], A[4]
if marker ~= '' then
  local key = prefix .. 'done:' .. marker
  local saved = redis.call('GET', key)
  if saved then
    local function damaged(what)
      return redis.error_reply('vpcalertd: the batch record ' .. key .. ' is damaged (' .. what ..
        '): it is not what vpcalertd writes, so the answers of that batch cannot be read back; ' ..
        'delete the key (DEL) to have the batch applied again, its events then counted again')
    end
    local ok, t = pcall(cmsgpack.unpack, saved)
    if not ok or type(t) ~= 'table' or type(t[1]) ~= 'string' then
      return damaged('not a msgpack array that starts with a string')
    end
    local w = t[1]
    if string.sub(w, 1, #work + 1) == work .. '/' then
      local rest = string.sub(w, #work + 2)
      local to, f = string.match(rest, '^(%d+)(.*)$')
      if not to or (f ~= '' and f ~= '/f') then
        return damaged('its work ends in "' .. rest .. '"')
      end
      if f == '/f' then
        -- sharedcommit.lua's: the number of answers, the positions of 1s.
        local n = t[2]
        if type(n) ~= 'number' or n < 0 or n ~= math.floor(n) then
          return damaged('no count of answers')
        end
        local out = {1, tonumber(to)}
        for j = 1, n do out[j + 2] = 0 end
        for j = 3, #t do
          local at = t[j]
          if type(at) ~= 'number' or at < 1 or at > n or at ~= math.floor(at) then
            return damaged('answer position ' .. tostring(at) .. ' outside 1..' .. n)
          end
          out[at + 2] = 1
        end
        return out
      end
      -- shared.lua's (a part sent to the interpreter): the answers.
      t[1] = tonumber(to)
      table.insert(t, 1, 1)
      return t
    end
  end
end
local out = {0}
local nr = tonumber(A[5])
-- keys by the rule number as sent (a string: no conversion per group).
local keys = {}
for i = 1, nr do
  local k = A[5 + i]
  keys[tostring(i)] = k
  local v = redis.call('HMGET', prefix .. 'ax:' .. k, 'maxT', 'lastSweep', 'nextSweep')
  out[#out + 1] = v[1]
  out[#out + 1] = v[2]
  out[#out + 1] = v[3]
  out[#out + 1] = redis.call('ZCARD', prefix .. 'ai:' .. k)
end
local pos = 6 + nr
local ng = tonumber(A[pos])
pos = pos + 1
-- The groups' values, 500 keys to an MGET (a command per group was most
-- of the script's time).
local names = {}
for i = 1, ng do
  names[i] = prefix .. 'a:' .. keys[A[pos]] .. ':' .. A[pos + 1]
  pos = pos + 2
end
for i = 1, ng, 500 do
  local v = redis.call('MGET', unpack(names, i, math.min(i + 499, ng)))
  for j = 1, #v do
    -- MGET answers false (Lua) for a missing key: nil for the client.
    out[#out + 1] = v[j]
  end
end
return out
