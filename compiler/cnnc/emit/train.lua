-- cnnc.emit.train: the weights of a training build (model:compile{train = true}).
--
-- A training build's trainable weights live in one writable block, NAME_trainable, in the
-- order and Keras layout of the weight gradients (cnnc.emit.backward.weights), so an
-- optimiser updates it in place with the gradients of NAME_backward_batch
-- (NAME_weights() gives its address). Everything the layers compute with that is derived
-- from those weights is a writable array that NAME_refresh() makes again after an update:
--   folded batch norms   a layer's kernel and bias with the batch norms folded into them,
--                        fold after fold, from its own weights and the batch norms' gamma
--                        and beta (in double, as the fuse pass folds: the same bits)
--   batch-norm steps     the scale and shift arrays of batch norms in epilogues (and their
--                        copies padded to whole vectors)
--   packed copies        any other array the kernels derived from weights (packed kernels,
--                        padded biases, the flipped kernels of backward code): found by
--                        emitting the layers once more with every weight value replaced by
--                        a tag naming its array and index (M.classify), they are gathers,
--                        refreshed by copying runs of the source
-- Weights that are not trainable (moving statistics) and arrays that do not depend on
-- weights stay constant. A layer whose code depends on weight values, or an array that is
-- not a gather of one weight array, is an error: such a kernel cannot run in a training
-- build (cnnc.passes.select keeps Winograd out of them).

local ffi = require 'ffi'
local backward = require 'cnnc.backward'
local context = require 'cnnc.emit.context'
local constants = require 'cnnc.emit.constants'
local ir = require 'cnnc.ir'
local tensor = require 'cnnc.tensor'
local template = require 'cnnc.template'
local util = require 'cnnc.util'

local M = {}

local T = {}
T.__index = T

-- g: the planned graph; wlist: cnnc.emit.backward.weights(g).
function M.new(g, wlist)
  local self = setmetatable({ g = g, list = wlist, offset = {}, macro = {}, derived = {}, folded = {} }, T)
  for _, w in ipairs(wlist) do self.offset[w.key] = w.offset end
  for _, n in ipairs(g.nodes) do
    if n.folded then self.folded[n] = true end
  end
  return self
end

-- The C name of the trainable weight `key` ('layer.weight') in the block: a macro. A
-- folded layer's own kernel and bias are `<layer>_<weight>_keras` (its `<layer>_kernel` is
-- the folded array).
function T:block_name(key, folded)
  local layer, w = key:match('^(.*)%.([^.]+)$')
  local name = util.c_ident(layer) .. '_' .. w .. (folded and '_keras' or '')
  self.macro[key] = name
  return name
end

-- What fold i (1-based) of node n reads: the C names of the kernel and bias before it (bias
-- nil when there is none), and of its scale array (gamma / sqrt(var + eps), per channel).
function T:fold_names(n, i)
  local function name(w)
    if i == 1 then
      local rec = n.folded[1]
      if w == 'bias' and not rec.bias then return nil end
      return self:block_name((backward.weight_key(n, w)), true)
    end
    return util.c_ident(n.name) .. '_' .. w .. '_after_' .. util.c_ident(n.folded[i - 1].origin)
  end
  return name('kernel'), name('bias'), util.c_ident(n.name) .. '_' .. util.c_ident(n.folded[i].origin) .. '_fold_scale'
end

-- Whether node n reads weight w from a fold (a folded layer's kernel and bias).
local function weight_source_folded(self, n, w) return self.folded[n] and (w == 'kernel' or w == 'bias') end

-- The C name node n's code reads for its weight w (E:weight's), and whether it is derived.
local function weight_source(self, n, w)
  local cname = util.c_ident(n.name) .. '_' .. w
  if self.folded[n] and (w == 'kernel' or w == 'bias') then return cname, 'fold' end
  local key = backward.weight_key(n, w)
  if self.offset[key] then return self:block_name(key), 'block' end
  return cname, 'const'
end

-- The values of constant c as a Lua list (kept in c.values): a constant given by a fill
-- function (cnnc.emit.context: E:constant) is filled into a buffer of ctype, 'double' for
-- the tagged emission (a tag needs more bits than a float has).
local function values_of(c, ctype)
  if not c.values then
    local buf = ffi.new(ctype .. '[?]', math.max(c.count, 1))
    c.fill(buf)
    local v = {}
    for i = 1, c.count do v[i] = buf[i - 1] end
    c.values = v
  end
  return c.values
end

-- Emits the layers once more with tagged weights and sorts E.constants into constant,
-- affine-derived and gathers. emit_all(g, E) runs every emitter and returns their text;
-- texts: what it returned for g and E.
function M.classify(self, g, E, t, emit_all, texts)
  local g2 = ir.clone(g)
  local sources = {}
  for k, n in ipairs(g2.nodes) do
    for i, w in ipairs(n.weights or {}) do
      local id = #sources + 1
      local tt = tensor.new(w.tensor.shape, 'double')
      for j = 0, tt.n - 1 do tt.data[j] = id * 4294967296 + j + 1 end
      n.weights[i] = { name = w.name, tensor = tt }
      sources[id] = { node = g.nodes[k], wname = w.name, tensor = w.tensor }
    end
  end
  local E2 = context.new(g2, t)
  E2.train = self
  local texts2 = emit_all(g2, E2)
  if texts ~= texts2 then
    error('cnnc: a layer\'s code depends on its weights\' values, which a training build cannot refresh')
  end
  assert(#E.constants == #E2.constants, 'cnnc: the tagged emission made other arrays')
  for k, c in ipairs(E.constants) do
    local c2 = E2.constants[k]
    assert(c.name == c2.name, 'cnnc: the tagged emission made other arrays')
    values_of(c, 'float')
    values_of(c2, 'double')
    if c.affine then
      c.derived = 'affine'
    else
      local same = true
      for i = 1, #c.values do
        if c.values[i] ~= c2.values[i] then same = false; break end
      end
      if not same then
        -- every value a tag of one source array (or 0 for padding), equal to that value
        local src, idx = nil, {}
        for i = 1, #c.values do
          local v = c2.values[i]
          if v == 0 then
            idx[i] = -1
            if c.values[i] ~= 0 then src = false end
          else
            local id, j = math.floor(v / 4294967296), v % 4294967296 - 1
            local s = sources[id]
            if not s or (src ~= nil and src ~= s) or j ~= math.floor(j) or s.tensor.data[j] ~= c.values[i] then
              error(string.format('cnnc: %s is not a copy of one weight array; a training build cannot refresh it', c.name))
            end
            src, idx[i] = s, j
          end
        end
        if src == false then
          error(string.format('cnnc: %s is not a copy of one weight array; a training build cannot refresh it', c.name))
        end
        c.derived, c.gather = 'gather', { source = src, index = idx }
      end
    end
  end
  return texts
end

-- The C name of the array a gather reads.
local function gather_source(self, src)
  local name = weight_source(self, src.node, src.wname)
  return name
end

-- Runs (dst, src, count) of consecutive indices, or nil when they are short (then an index
-- table is smaller).
local function runs_of(index)
  local runs, i = {}, 1
  while i <= #index do
    if index[i] < 0 then
      i = i + 1
    else
      local j = i
      while j + 1 <= #index and index[j + 1] == index[j] + 1 do j = j + 1 end
      runs[#runs + 1] = { i - 1, index[i], j - i + 1 }
      i = j + 1
    end
  end
  return runs
end

local function int_table(name, rows, per_row, comment)
  local lines, row = {}, {}
  for _, r in ipairs(rows) do
    row[#row + 1] = per_row == 1 and tostring(r) or ('{' .. table.concat(r, ', ') .. '}')
    if #row == (per_row == 1 and 16 or 6) then lines[#lines + 1] = table.concat(row, ', ') .. ','; row = {} end
  end
  if #row > 0 then lines[#lines + 1] = table.concat(row, ', ') .. ',' end
  return string.format('/* %s */\nstatic const int %s[%d]%s = {\n%s\n};', comment, name, #rows,
    per_row == 1 and '' or '[3]', table.concat(lines, '\n'))
end

local function array(name, values, count, comment)
  local lines, row = {}, {}
  for i = 1, count do
    row[#row + 1] = constants.float_literal(values(i))
    if #row == 8 then lines[#lines + 1] = table.concat(row, ', ') .. ','; row = {} end
  end
  if #row > 0 then lines[#lines + 1] = table.concat(row, ', ') .. ',' end
  return template.section('train', 'array', { comment = util.c_comment(comment), cname = name, count = count,
    values = table.concat(lines, '\n') })
end

local function c_double(x) return string.format('%.17g', x) end

-- The weights section and the refresh function of a training build. E: the context after
-- every layer was emitted (and classified).
function M.section(self, g, E)
  local out, refresh = {}, {}
  local name, uc = g.name, g.name:upper()
  -- the block
  local block = {}
  local function keras_tensor(key)
    local layer, wname = key:match('^(.*)%.([^.]+)$')
    for _, n in ipairs(g.nodes) do
      for _, w in ipairs(n.weights or {}) do
        -- the node's own weight, or one it views (a part of a lowered layer)
        if backward.weight_key(n, w.name) == key then
          if n.folded and (w.name == 'kernel' or w.name == 'bias') then return n.folded[1][w.name] end
          return w.tensor
        end
      end
      for _, st in ipairs(n.epilogue or {}) do
        if st.op == 'affine' and st.origin == layer then return st[wname] end
      end
      for _, f in ipairs(n.folded or {}) do
        if f.origin == layer then return f.step[wname] end
      end
    end
    error('cnnc: no weight ' .. key)
  end
  for _, w in ipairs(self.list) do
    local t = keras_tensor(w.key)
    for i = 0, w.size - 1 do block[#block + 1] = t.data[i] end
  end
  out[#out + 1] = array(name .. '_trainable', function(i) return block[i] or 0 end, math.max(#block, 1),
    string.format('The trainable weights, in the order and layout of the weight gradients (%s_WEIGHT_LIST): '
      .. 'written by training (%s_weights()); %s_refresh() derives the arrays the layers read from them', uc, name, name))
  local macros = {}
  for _, w in ipairs(self.list) do
    local folded
    for n in pairs(self.folded) do
      if w.key == backward.weight_key(n, 'kernel') or w.key == backward.weight_key(n, 'bias') then folded = true end
    end
    macros[#macros + 1] = string.format('#define %s (%s_trainable + %d) /* %s %s */', self:block_name(w.key, folded),
      name, w.offset, w.key, util.shape_str(w.shape))
  end
  -- a part of a lowered layer reads the composite's weight under its own name
  for _, n in ipairs(g.nodes) do
    for _, w in ipairs(n.weights or {}) do
      local key = backward.weight_key(n, w.name)
      local cname = util.c_ident(n.name) .. '_' .. w.name
      if n.weight_keys and n.weight_keys[w.name] and self.offset[key] and not weight_source_folded(self, n, w.name)
        and cname ~= self:block_name(key) then
        macros[#macros + 1] = string.format('#define %s %s /* %s.%s is a view of %s */', cname, self:block_name(key),
          n.name, w.name, key)
      end
    end
  end
  out[#out + 1] = table.concat(macros, '\n')
  -- weights the code reads that are not in the block (moving statistics) stay constant
  for _, n in ipairs(g.nodes) do
    for _, w in ipairs(n.weights or {}) do
      local cname, kind = weight_source(self, n, w.name)
      if kind == 'const' and E.used_weights[cname] then
        out[#out + 1] = constants.array_text(cname, function(i) return w.tensor.data[i - 1] end, w.tensor.n,
          string.format('%s.%s %s', n.name, w.name, util.shape_str(w.tensor.shape)))
      end
    end
  end
  -- folds
  local stats = {}
  local function stat_array(st, what)
    local key = st.origin .. '.' .. what
    if not stats[key] then
      stats[key] = util.c_ident(st.origin) .. '_' .. what
      local t = what == 'moving_mean' and st.mean or st.var
      out[#out + 1] = constants.array_text(stats[key], function(i) return t.data[i - 1] end, t.n,
        string.format('batch norm %s: %s (not trainable)', st.origin, what))
    end
    return stats[key]
  end
  for _, n in ipairs(g.nodes) do
    if n.folded then
      local m = #n.folded
      for i, f in ipairs(n.folded) do
        local st = f.step
        local kin, bin, sname = self:fold_names(n, i)
        local kout = i == m and (util.c_ident(n.name) .. '_kernel') or self:fold_names(n, i + 1)
        local _, bout = nil, nil
        if i == m then bout = util.c_ident(n.name) .. '_bias' else _, bout = self:fold_names(n, i + 1) end
        local after = i == m and ir.weight(n, 'kernel') or n.folded[i + 1].kernel
        local bafter = i == m and ir.weight(n, 'bias') or n.folded[i + 1].bias
        local oc = after.shape[#after.shape]
        local scale = {}
        for c = 0, oc - 1 do
          scale[c + 1] = (st.gamma and st.gamma.data[c] or 1) / math.sqrt(st.var.data[c] + st.eps)
        end
        out[#out + 1] = array(kout, function(j) return after.data[j - 1] end, after.n,
          string.format('%s.kernel with batch norm %s folded in (%s)', n.name, f.origin, util.shape_str(after.shape)))
        out[#out + 1] = array(bout, function(j) return bafter.data[j - 1] end, bafter.n,
          string.format('%s.bias with batch norm %s folded in', n.name, f.origin))
        out[#out + 1] = array(sname, function(c) return scale[c] end, oc,
          string.format('batch norm %s folded into %s: gamma / sqrt(var + eps)', f.origin, n.name))
        refresh[#refresh + 1] = template.section('train', 'fold', { origin = f.origin, node = n.name, OC = oc,
          gamma = st.gamma and string.format('(double)%s[c]', self:block_name(f.origin .. '.gamma')) or '1.0',
          beta = st.beta and string.format('(double)%s[c]', self:block_name(f.origin .. '.beta')) or '0.0',
          mean = stat_array(st, 'moving_mean'), var = stat_array(st, 'moving_variance'), EPS = c_double(st.eps),
          ROWS = after.n / oc, BROWS = bafter.n / oc, kin = kin, kout = kout, bout = bout, scale = sname,
          bias_in = bin and string.format('(double)%s[j * %d + c] * s[c]', bin, oc) or '0.0' })
      end
    end
  end
  -- batch-norm steps' scale and shift (and padded copies)
  local function affine_refresh(st, sname, hname, channels)
    return template.section('train', 'affine', { origin = st.origin, C = channels, scale = sname, shift = hname,
      gamma = st.gamma and string.format('(double)%s[c]', self:block_name(st.origin .. '.gamma')) or '1.0',
      beta = st.beta and string.format('(double)%s[c]', self:block_name(st.origin .. '.beta')) or '0.0',
      mean = stat_array(st, 'moving_mean'), var = stat_array(st, 'moving_variance'), EPS = c_double(st.eps) })
  end
  for _, n in ipairs(g.nodes) do
    for _, c in ipairs(require('cnnc.epilogue').c_constants(n.epilogue, n.shape[#n.shape], E.affine)) do
      out[#out + 1] = array(c.name, function(i) return c.values[i] end, #c.values, c.comment)
    end
    for _, st in ipairs(n.epilogue) do
      if st.op == 'affine' and E.affine[st] and not st.fixed then
        local sname, hname = require('cnnc.epilogue').affine_names(st)
        refresh[#refresh + 1] = affine_refresh(st, sname, hname, n.shape[#n.shape])
      end
    end
  end
  local padded, order = {}, {}
  for _, c in ipairs(E.constants) do
    if c.derived then
      out[#out + 1] = array(c.name, function(i) return c.values[i] end, #c.values, c.comment)
    else
      out[#out + 1] = constants.array_text(c.name, function(i) return c.values[i] end, #c.values, c.comment)
    end
    if c.derived == 'affine' then
      local st = c.affine.step
      if not padded[st] then padded[st] = {}; order[#order + 1] = st end
      padded[st][c.affine.part] = c
    end
  end
  for _, st in ipairs(order) do
    local pair = padded[st]
    refresh[#refresh + 1] = affine_refresh(st, pair.scale.name, pair.shift.name, st.var.n)
  end
  -- gathers
  for _, c in ipairs(E.constants) do
    if c.derived == 'gather' then
      local src = gather_source(self, c.gather.source)
      local runs = runs_of(c.gather.index)
      if #runs <= 4 then
        for _, r in ipairs(runs) do
          refresh[#refresh + 1] = string.format('memcpy(%s + %d, %s + %d, sizeof(float) * %d);', c.name, r[1], src,
            r[2], r[3])
        end
      elseif #runs * 3 <= #c.values then
        out[#out + 1] = int_table(c.name .. '_runs', runs, 3, string.format('%s: runs of %s copied (at, from, count)',
          c.name, src))
        refresh[#refresh + 1] = template.section('train', 'gather_runs', { name = c.name, src = src, N = #runs })
      else
        local idx = {}
        for i, v in ipairs(c.gather.index) do idx[i] = v end
        out[#out + 1] = int_table(c.name .. '_index', idx, 1, string.format('%s: the index in %s of each value (-1: '
          .. 'padding)', c.name, src))
        refresh[#refresh + 1] = template.section('train', 'gather_index', { name = c.name, src = src, N = #idx })
      end
    end
  end
  return out, template.section('train', 'refresh', { name = name, UC = uc, body = table.concat(refresh, '\n') })
end

T.classify, T.section = M.classify, M.section

return M
