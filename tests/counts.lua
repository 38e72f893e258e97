-- Reads a test log and prints "PASSED FAILED" from the last summary line it recognises
-- (busted, Criterion, or cnnc's own "name: N passed, M failed"); prints nothing if none.
local f = io.open(arg[1], 'rb')
if not f then return end
local text = f:read('*a'):gsub('\27%[[%d;]*m', '') -- strip colour codes
f:close()
local pass, fail
for line in text:gmatch('[^\n]+') do
  local s, fl, e = line:match('(%d+) successes? / (%d+) failures? / (%d+) errors?')
  if s then pass, fail = tonumber(s), tonumber(fl) + tonumber(e) end
  local t, p, f2, c = line:match('Synthesis: Tested: (%d+) | Passing: (%d+) | Failing: (%d+) | Crashing: (%d+)')
  if t then pass, fail = tonumber(p), tonumber(f2) + tonumber(c) end
  local p3, f3 = line:match('^[%w_-]*:? ?(%d+) passed, (%d+) failed')
  if p3 then pass, fail = tonumber(p3), tonumber(f3) end
end
if pass then print(pass .. ' ' .. fail) end
