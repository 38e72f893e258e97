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

-- The targets of another architecture this machine can build and run under emulation
-- (cnnc.toolchain.cross_list: neon via aarch64-linux-gnu-gcc and qemu-aarch64 on x86-64).
-- For each one it cannot, prints "<suite>: skipping <why>" so a log shows what did not run.
function M.cross_targets(suite)
  local list, skipped = require('cnnc.toolchain').cross_list()
  for _, why in ipairs(skipped) do print(string.format('%s: skipping %s', suite, why)) end
  return list
end

return M
