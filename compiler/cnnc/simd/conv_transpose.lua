-- cnnc.simd.conv_transpose: Conv1DTranspose/Conv2DTranspose (and ONNX ConvTranspose) as
-- explicit SIMD code for a vector target (templates/simd_conv_transpose.c).
--
-- The gather of cnnc.layers.conv_transpose, vectorised over output channels: for each
-- output pixel and each block of up to V vectors of a group's output channels, the
-- accumulators stay in registers while the taps that reach the input and the group's
-- input channels run, one broadcast of the input value per input channel and one FMA per
-- vector. U-Nets' 2x2 stride-2 upsampling has one tap per output pixel, so the work per
-- pixel is exactly cin x cout multiply-adds. Channels past a group's last whole vector
-- run in scalar code.

local conv_transpose = require 'cnnc.layers.conv_transpose'
local epilogue = require 'cnnc.epilogue'
local common = require 'cnnc.simd.common'
local template = require 'cnnc.template'
local util = require 'cnnc.util'

local M = {}

M.name = 'conv_transpose'

function M.eligible(node, t) return t.width > 1 end

-- Rows of output pixels (positions in 1-D) are the parts threads share.
local function rows(node) return node.g.rank == 1 and node.g.ow or node.g.oh end

function M.plan(node, t, ctx)
  return { scratch = 0, units = (ctx.threads or 1) > 1 and rows(node) or nil }
end

function M.describe() return nil end

function M.emit(node, E)
  local g, F = node.g, node.p.filters
  local gr = node.p.groups or 1
  local FG, CG = F / gr, g.ic / gr
  local t = E.target
  local W = t.width
  local NV = math.floor(FG / W)
  local CV = NV * W
  local V = math.max(1, math.min(NV, t.regs >= 32 and 8 or 4))
  local kname = E:constant(node, 'kernel_packed', conv_transpose.packed(node),
    string.format('%s.kernel packed (ky, kx, in_channel, %s)', node.name, gr > 1 and 'filters/groups' or 'filter'))
  local bname = node.p.use_bias and E:weight(node, 'bias')

  local kvec = epilogue.vector_prefix(node.epilogue)
  local padded = common.padded_affine(node, E, math.ceil(F / W), W, F)
  local prefix, suffix = {}, {}
  for i, st in ipairs(node.epilogue) do
    if i <= kvec then prefix[#prefix + 1] = st else suffix[#suffix + 1] = st end
  end

  -- The tap loops: 2-D or 1-D, each with its skip test.
  local ix, xcheck = conv_transpose.c_axis('ix', 'ox', 'kx', g.sw, g.dw, g.pl, g.iw)
  local open, close, in_pixel, tap
  if g.rank == 2 then
    local iy, ycheck = conv_transpose.c_axis('iy', 'oy', 'ky', g.sh, g.dh, g.pt, g.ih)
    open = table.concat({
      string.format('for (int ky = 0; ky < %d; ++ky) {', g.kh), string.format('const int iy = %s;', iy),
      string.format('if (%s) continue;', ycheck), string.format('for (int kx = 0; kx < %d; ++kx) {', g.kw),
      string.format('const int ix = %s;', ix), string.format('if (%s) continue;', xcheck) }, '\n')
    close = '}\n}'
    in_pixel, tap = string.format('(iy * %d + ix)', g.iw), string.format('(ky * %d + kx)', g.kw)
  else
    open = table.concat({ string.format('for (int kx = 0; kx < %d; ++kx) {', g.kw), string.format('const int ix = %s;', ix),
      string.format('if (%s) continue;', xcheck) }, '\n')
    close = '}'
    in_pixel, tap = 'ix', 'kx'
  end

  -- A block of n vectors starting `first` channels into the group, nb times.
  local function block(n, first, nb)
    local init, fmas, stores = {}, {}, {}
    for j = 0, n - 1 do
      init[#init + 1] = string.format('vf a%d = %s;', j, bname and string.format('vf_load(%s + oc + %d)', bname, j * W) or 'vf_zero()')
      fmas[#fmas + 1] = string.format('a%d = vf_fma(xv, vf_load(w + ic * %d + %d), a%d);', j, FG, j * W, j)
      local ep = E:vector(node.epilogue, kvec, 'a' .. j, 'oc + ' .. j * W, padded)
      if ep ~= '' then stores[#stores + 1] = ep end
      stores[#stores + 1] = string.format('vf_store(&y[oc + %d], a%d);', j * W, j)
    end
    return template.section('simd_conv_transpose', 'block', { NB = nb, FG = FG, FIRST = first, BW = n * W,
      acc_init = table.concat(init, '\n'), taps_open = open, taps_close = close, in_pixel = in_pixel, IC = g.ic,
      CG = CG, kernel = kname, tap = tap, fmas = table.concat(fmas, '\n'), stores = table.concat(stores, '\n') })
  end
  local blocks = {}
  local full = math.floor(NV / V)
  if full > 0 then blocks[#blocks + 1] = block(V, 0, full) end
  if NV % V > 0 then blocks[#blocks + 1] = block(NV % V, full * V * W, 1) end
  local tail = ''
  if CV < FG then
    tail = template.section('simd_conv_transpose', 'tail', { FG = FG, CV = CV, bias_s = bname and (bname .. '[oc]') or '0.0f',
      taps_open = open, taps_close = close, in_pixel = in_pixel, IC = g.ic, CG = CG, kernel = kname, tap = tap,
      store = E:store({ epilogue = prefix, name = node.name }, 'y[oc]', 'acc', 'oc') })
  end
  local groups = template.section('simd_conv_transpose', 'groups', { G = gr, blocks = table.concat(blocks, '\n'), tail = tail })
  local scalar = ''
  if #suffix > 0 then
    scalar = template.section('simd_conv_transpose', 'scalar_pass', { OC = F,
      store = E:store({ epilogue = suffix, name = node.name }, 'y[oc]', 'y[oc]', 'oc'), post = E:post({ epilogue = suffix }, 'y', F) })
  end
  local nrows = rows(node)
  local h = { fn = E:fn(node), OC = F, groups = groups, scalar_pass = scalar,
    comment = E:comment(node) .. string.format(' [%s: output channels in vectors, blocks of %d]', t.name, V) }
  if g.rank == 2 then
    h.pixel_loop = string.format('const int oy = r;\nfor (int ox = 0; ox < %d; ++ox) {', g.ow)
    h.out_pixel = string.format('(oy * %d + ox)', g.ow)
  else
    h.pixel_loop = 'const int ox = r;\n{'
    h.out_pixel = 'ox'
  end
  if (E.threads or 1) > 1 then
    E:parallel(node)
    h.part_params, h.prologue = E:part_params(true, false)
    h.first, h.last = util.c_share('part', nrows, 'parts'), util.c_share('(part + 1)', nrows, 'parts')
  else
    h.part_params, h.prologue, h.first, h.last = '', '', '0', tostring(nrows)
  end
  return template.section('simd_conv_transpose', 'layer', h)
end

return M
