-- cnnc.tune: the experiment knobs of the kernel-selection and thread-sharing cost models.
--
-- Every constant a measurement set (tile shapes, cache budgets, thresholds for sharing a
-- layer among threads) has a default here and can be changed for one build with
-- `cnnc build --tune KEY=VALUE` (repeatable) or `model:compile{tune = {KEY = VALUE}}`.
-- They are build options, not environment variables, so the same command always gives
-- the same bytes; the generated file's banner lists every knob that differs from its
-- default. They exist for experiments (bench/README.md): the defaults are what the
-- measurements chose.

local util = require 'cnnc.util'

local M = {}

-- key -> {default, kind, doc}. kind: 'int' (>= 0), 'int+' (> 0), 'tile' (V,PH,PW).
M.KNOBS = {
  tile = { nil, 'tile', 'V,PH,PW: the register tile (V vectors x PH x PW pixels) of every direct convolution '
    .. 'without a pool in its tiles (capped by the layer\'s size)' },
  min_step = { 8, 'int+', 'least cycles the direct kernel\'s cost model charges one input-channel step of a tile' },
  l1_weights = { 32 * 1024, 'int+', 'bytes of packed weights per input-channel chunk of a direct convolution (L1)' },
  l2_band = { 256 * 1024, 'int+', 'bytes of output a band of rows of a direct convolution keeps in L2' },
  wino_block = { 768 * 1024, 'int+', 'bytes of transformed tiles (V and M) of one Winograd block (L2)' },
  wino_m = { nil, 'int+', '2, 4 or 6: the Winograd output tile of every Winograd layer (2-D: F(2x2) or F(4x4), 6 meaning 4; '
    .. '1-D: F(m,3), or F(m,A) x F(3,3) for 4 to 9 taps) (default: per layer)' },
  wino_t = { nil, 'int+', 'tiles per Winograd block (default: from wino_block)' },
  wdw_block = { 768 * 1024, 'int+', 'bytes of the transformed input and dy of one chunk of a Winograd weight gradient (L2)' },
  wino_ksplit = { 24 * 1024 * 1024, 'int+', 'bytes of U read by all threads (threads x a Winograd layer\'s transformed kernel U) '
    .. 'from which a --threads build shares the layer\'s output channels rather than its tiles' },
  wino_nv = { nil, 'int+', 'at most this many vectors per Winograd GEMM register tile' },
  share_min_ns = { 20000, 'int', 'a --threads build shares a layer among threads only if it takes this long alone (ns)' },
  team_min_ns = { 250000, 'int', 'a --threads build starts threads only if a prediction gains this much (ns)' },
}

M.NAMES = util.sorted_keys(M.KNOBS)

local function check(key, v)
  local k = M.KNOBS[key]
  if not k then
    util.fail(nil, "unknown tuning knob '%s' (knobs: %s)", tostring(key), table.concat(M.NAMES, ', '))
  end
  if k[2] == 'tile' then
    local a, b, c
    if type(v) == 'string' then a, b, c = v:match('^(%d+),(%d+),(%d+)$') end
    if type(v) == 'table' then a, b, c = v[1], v[2], v[3] end
    a, b, c = tonumber(a), tonumber(b), tonumber(c)
    if not (a and b and c and a >= 1 and b >= 1 and c >= 1) then
      util.fail(nil, "tuning knob tile takes V,PH,PW (three whole numbers from 1), got '%s'", tostring(v))
    end
    return { a, b, c }
  end
  local n = tonumber(v)
  local least = k[2] == 'int+' and 1 or 0
  if not n or n ~= math.floor(n) or n < least then
    util.fail(nil, "tuning knob %s takes a whole number from %d, got '%s'", key, least, tostring(v))
  end
  if key == 'wino_m' and n ~= 2 and n ~= 4 and n ~= 6 then util.fail(nil, 'tuning knob wino_m takes 2, 4 or 6, got %d', n) end
  return n
end

-- The knobs of a build: given (a table key -> value, or a list of "KEY=VALUE" strings)
-- checked and merged over the defaults. Fails (cnnc.util) on an unknown key or bad value.
function M.resolve(given)
  local t = { set = {} }
  for key, k in pairs(M.KNOBS) do t[key] = k[1] end
  for key, v in pairs(given or {}) do
    if type(key) == 'number' then
      local kk, vv = tostring(v):match('^([%w_]+)=(.*)$')
      if not kk then util.fail(nil, "--tune takes KEY=VALUE, got '%s'", tostring(v)) end
      key, v = kk, vv
    end
    t[key] = check(key, v)
    t.set[key] = true
  end
  return t
end

-- "min_step=6, tile=2,3,8": the knobs set away from their defaults ('' when none).
function M.describe(t)
  local parts = {}
  for _, key in ipairs(M.NAMES) do
    local v = t[key]
    if t.set[key] and v ~= M.KNOBS[key][1] then
      parts[#parts + 1] = key .. '=' .. (type(v) == 'table' and table.concat(v, ',') or tostring(v))
    end
  end
  return table.concat(parts, ', ')
end

-- The --help text listing the knobs, wrapped to 88 columns.
function M.help()
  local lines = {}
  for _, key in ipairs(M.NAMES) do
    local k = M.KNOBS[key]
    local text = k[3] .. (k[1] and string.format(' (default %d)', k[1]) or '')
    local line = string.format('    %-13s', key)
    for word in text:gmatch('%S+') do
      if #line + 1 + #word > 88 then
        lines[#lines + 1] = line
        line = string.rep(' ', 18) .. word
      else
        line = line .. ' ' .. word
      end
    end
    lines[#lines + 1] = line
  end
  return table.concat(lines, '\n')
end

return M
