-- Helpers the Lua test runners share (run from the repository root).
local M = {}

-- Largest |got - want| over want's elements (NaN counts as infinitely far) and the largest
-- |want|, for tolerances of the form max error <= rel * (1 + max |want|).
function M.max_err(got, want)
  local e, m = 0, 0
  for k = 0, want.n - 1 do
    local d = math.abs(got.data[k] - want.data[k])
    if d ~= d then d = math.huge end
    e = math.max(e, d)
    m = math.max(m, math.abs(want.data[k]))
  end
  return e, m
end

-- Runs f() with every layer that can be shared among threads shared, however small (a
-- --threads build otherwise keeps small layers, and small nets, on one thread), so test
-- networks exercise the team code: shared layers, thread 0's own runs and the hand-offs.
-- The same for `cnnc build` in a shell: the environment prefix M.SHARE_ALL_ENV.
M.SHARE_ALL_ENV = 'CNNC_SHARE_MIN_NS=0 CNNC_TEAM_MIN_NS=0 '
function M.share_all(f)
  local sharing = require 'cnnc.threads'
  local a, b = sharing.SHARE_MIN_NS, sharing.TEAM_MIN_NS
  sharing.SHARE_MIN_NS, sharing.TEAM_MIN_NS = 0, 0
  local r = { pcall(f) }
  sharing.SHARE_MIN_NS, sharing.TEAM_MIN_NS = a, b
  if not r[1] then error(r[2], 0) end
  return unpack(r, 2, table.maxn(r))
end

return M
