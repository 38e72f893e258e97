-- bench/compare.lua: do two outputs agree? The bench's equality check.
--
--   luajit bench/compare.lua REF.npy OTHER.npy [LABEL]     (run from the repository root)
--
-- Compares the values in order (shapes may differ if the counts agree: the harnesses
-- write flat vectors) and prints one line:
--   check LABEL: max abs error E (tolerance T, max|ref| M, relative R) ok|FAILED
-- with T = 1e-3 * (1 + max|ref|) and R = E / max|ref| (worth a look when the outputs are
-- small, as deep nets with seeded weights make them: the tolerance is then loose).
-- Exits 1 when the check fails or a file is unreadable.

package.path = 'compiler/?.lua;' .. package.path
local npy = require 'cnnc.npy'

local ref_path, other_path, label = arg[1], arg[2], arg[3] or (arg[2] or '')
if not (ref_path and other_path) then
  io.stderr:write('usage: luajit bench/compare.lua REF.npy OTHER.npy [LABEL]\n')
  os.exit(2)
end
local a, err = npy.read(ref_path)
if not a then print(string.format('check %s: FAILED (%s)', label, err)); os.exit(1) end
local b
b, err = npy.read(other_path)
if not b then print(string.format('check %s: FAILED (%s)', label, err)); os.exit(1) end
if a.n ~= b.n then
  print(string.format('check %s: FAILED (%d values in %s, %d in %s)', label, a.n, ref_path, b.n, other_path))
  os.exit(1)
end
local max_err, max_ref, bad = 0, 0, false
for i = 0, a.n - 1 do
  local x, y = a.data[i], b.data[i]
  if x ~= x or y ~= y then bad = true end
  max_err = math.max(max_err, math.abs(x - y))
  max_ref = math.max(max_ref, math.abs(x))
end
local tol = 1e-3 * (1 + max_ref)
local ok = not bad and max_err <= tol
print(string.format('check %s: max abs error %.3g (tolerance %.3g, max|ref| %.3g, relative %.3g) %s', label, max_err,
  tol, max_ref, max_ref > 0 and max_err / max_ref or 0, ok and 'ok' or (bad and 'FAILED (NaN)' or 'FAILED')))
os.exit(ok and 0 or 1)
