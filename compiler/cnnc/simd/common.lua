-- cnnc.simd.common: what the SIMD kernels (direct, Winograd, depthwise convolution, Dense)
-- share.
--
--   step cost model   cycles of one step of a register tile (FMAs against loads), which
--                     the kernels' tile searches minimise
--   padded constants  bias and batch-norm scale/shift padded with zeros to whole vectors,
--                     so the last vector of channels needs no special load
--   register tiles    the inner step of a tile: weight vectors kept in registers, one value
--                     broadcast per row of accumulators
--   pool windows      the values of one pool window combined in registers
--   the scalar pass   epilogue steps without a vector form, over the finished output
--
-- Nothing here decides anything: cnnc.passes.select chooses the kernels and their plans.

local epilogue = require 'cnnc.epilogue'
local ir = require 'cnnc.ir'
local template = require 'cnnc.template'
local util = require 'cnnc.util'

local M = {}

-- Is geometry g a 1-D window (a Conv1D, or a 2-D layer on one row with a one-row kernel)?
function M.is_1d(g)
  return g.ih == 1 and g.kh == 1 and g.oh == 1 and g.pt == 0 and g.pb == 0
end

-- Accumulators a register tile may hold: the rest of the registers hold the weight vectors,
-- the broadcast value and the epilogue's temporaries.
function M.budget(t) return t.regs >= 32 and 24 or 12 end

-- Cycles of one step of a register tile of `rows` x `vecs` accumulators: rows * vecs FMAs
-- on two ports, vecs weight loads and rows broadcasts on two load ports, and at least
-- `floor` (an accumulator chain waits one FMA latency per step, and small tiles measured
-- slower still: cnnc.tune's min_step).
function M.step(rows, vecs, floor)
  if rows == 0 or vecs == 0 then return 0 end
  return math.max(rows * vecs / 2, (vecs + rows) / 2, floor)
end

-- The weight-gradient register tile (cnnc.simd.conv_backward, winograd_dw): it rows x v
-- vectors of accumulators a<i>_<k>, summing x[i] (broadcast) times the v vectors at g.
-- store(i, k, acc): the C statement storing accumulator acc. Returns the C of the
-- accumulators' declarations, the vector loads, the multiply-adds and the stores.
function M.outer_tile(it, v, W, store)
  local init, loads, fmas, stores = {}, {}, {}, {}
  for k = 0, v - 1 do loads[#loads + 1] = string.format('vf g%d = vf_load(g + %d); vf_keep(g%d);', k, k * W, k) end
  for i = 0, it - 1 do
    local line = { string.format('xb = vf_set1(x[%d]);', i) }
    for k = 0, v - 1 do
      local acc = string.format('a%d_%d', i, k)
      init[#init + 1] = string.format('vf %s = vf_zero();', acc)
      line[#line + 1] = string.format('%s = vf_fma(xb, g%d, %s);', acc, k, acc)
      stores[#stores + 1] = store(i, k, acc)
    end
    fmas[#fmas + 1] = table.concat(line, ' ')
  end
  return table.concat(init, '\n'), table.concat(loads, '\n'), table.concat(fmas, '\n'), table.concat(stores, '\n')
end

-- FMA lanes a core retires per cycle on target t (two FMA ports; sse4 has no FMA, so a
-- multiply and an add take both).
function M.macs_per_cycle(t) return 2 * t.width * (t.name == 'sse4' and 0.5 or 1) end

-- A list of `count` values, value(i) for i < n (0-based) and zeros after.
function M.padded(count, n, value)
  local t = {}
  for i = 0, count - 1 do t[i + 1] = i < n and value(i) or 0 end
  return t
end

-- The node's bias padded to nvec whole vectors, as a constant (zeros without a bias).
function M.padded_bias(node, E, nvec, W, suffix)
  local b = ir.weight(node, 'bias')
  local channels = node.shape[#node.shape]
  local vals = M.padded(nvec * W, channels, function(c) return b and b.data[c] or 0 end)
  return E:constant(node, suffix or 'bias_packed', vals, node.name .. '.bias padded to whole vectors')
end

-- padded(st): the names of an affine step's scale/shift arrays padded to whole vectors (made
-- once per step).
function M.padded_affine(node, E, nvec, W, channels)
  local cache = {}
  return function(st)
    if cache[st] then return cache[st][1], cache[st][2] end
    local scale, shift = {}, {}
    for c = 0, nvec * W - 1 do
      local s, h = 0, 0
      if c < channels then s, h = epilogue.affine_coeffs(st, c) end
      scale[c + 1], shift[c + 1] = s, h
    end
    local base = util.c_ident(st.origin)
    local sn = E:constant(node, base .. '_scale_v', scale, 'batch norm ' .. st.origin .. ' scale, padded to whole vectors',
      { step = st, part = 'scale' })
    local hn = E:constant(node, base .. '_shift_v', shift, 'batch norm ' .. st.origin .. ' shift, padded to whole vectors',
      { step = st, part = 'shift' })
    cache[st] = { sn, hn }
    return sn, hn
  end
end

-- The accumulator of row r, vector v of a register tile.
function M.acc(r, v) return string.format('a%d_%d', r, v) end

-- The inner step of a register tile: nv weight vectors loaded from `w` and kept in
-- registers (vf_keep: else gcc turns them into memory operands of every FMA), then per row
-- r the value bcast[r] broadcast and multiplied into the row's nv accumulators. Returns
-- the loads' and the FMAs' text.
function M.tile_step(bcast, nv, W, w)
  local loads, fmas = {}, {}
  for v = 0, nv - 1 do loads[#loads + 1] = string.format('vf w%d = vf_load(%s + %d); vf_keep(w%d);', v, w, v * W, v) end
  for r, x in ipairs(bcast) do
    local line = { string.format('xb = vf_set1(%s);', x) }
    for v = 0, nv - 1 do line[#line + 1] = string.format('%s = vf_fma(xb, w%d, %s);', M.acc(r - 1, v), v, M.acc(r - 1, v)) end
    fmas[#fmas + 1] = table.concat(line, ' ')
  end
  return table.concat(loads, '\n'), table.concat(fmas, '\n')
end

-- A vector store of variable a to ptr + off (a float pointer's name, an index expression);
-- a partial last vector (tail > 0) stores its first tail lanes only.
function M.store_vec(ptr, off, a, tail)
  if tail > 0 then
    return string.format('{ float t[VF_W]; vf_store(t, %s); for (int i = 0; i < %d; ++i) %s[%s + i] = t[i]; }', a, tail, ptr, off)
  end
  return string.format('vf_store(%s + %s, %s);', ptr, off, a)
end

-- C statements combining the values of one pool window (the list of their vf variables in
-- the pool's order, row by row) into a new vf variable dst. max keeps a NaN of any value
-- (cnnc.ieee): vf_max(x, m) keeps m's NaN, and a NaN x is selected explicitly; average sums
-- in the pool's order and divides by the window size, as the pooling layer does.
function M.combine_pool(pool, values, dst)
  local lines = { string.format('vf %s = %s;', dst, values[1]) }
  for i = 2, #values do
    local x = values[i]
    if pool.mode == 'max' then
      lines[#lines + 1] = string.format('%s = vf_sel_nan(%s, %s, vf_max(%s, %s));', dst, x, x, x, dst)
    else
      lines[#lines + 1] = string.format('%s = vf_add(%s, %s);', dst, dst, x)
    end
  end
  if pool.mode == 'average' then
    lines[#lines + 1] = string.format('%s = vf_div(%s, vf_set1(%d.0f));', dst, dst, #values)
  end
  return table.concat(lines, '\n')
end

-- The epilogue steps after the first kvec (those without a vector form): a function run
-- over the whole output of `pixels` x `channels` once it is complete, registered with E
-- to follow the layer. Returns its C text, or '' when every step has a vector form.
function M.scalar_pass(node, E, kvec, pixels, channels)
  local suffix = {}
  for i = kvec + 1, #node.epilogue do suffix[#suffix + 1] = node.epilogue[i] end
  if #suffix == 0 then return '' end
  local fn = E:fn(node) .. '_post'
  E:after(node, fn)
  return template.section('simd_conv', 'scalar_pass', { fn = fn, name = node.name,
    PIXELS = pixels, OC = channels, store = E:store({ epilogue = suffix, name = node.name }, 'y[c]', 'y[c]', 'c'),
    post = E:post({ epilogue = suffix }, 'y', channels) })
end

-- Does the tile read oc0 (the block's first channel)? Only for an affine step applied in
-- registers: among the first kvec steps of the layer or any step of its pool's.
function M.uses_channel(steps, kvec, pool)
  for i = 1, kvec do if steps[i].op == 'affine' then return true end end
  for _, st in ipairs(pool and pool.epilogue or {}) do if st.op == 'affine' then return true end end
  return false
end

return M
