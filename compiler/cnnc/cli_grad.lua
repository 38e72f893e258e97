-- cnnc.cli_grad: `cnnc run MODEL IN --grad-output DY [-o DX] [--weight-grads DIR]`, the
-- reference interpreter's backward pass on the command line (cnnc.backward, double).
--
-- Reads the input and the output gradient (DY has the output's shape, with a leading
-- batch axis exactly when IN has one), runs the backward pass item by item and writes
-- the input gradient (-o, the input's shape) and DIR/<layer>.<weight>.npy for every
-- trainable weight, summed over the batch, in the names and Keras shapes `--weights DIR`
-- reads; float32 unless --dtype float64. Everything is computed before anything is
-- written, and a failure while writing removes what was written, so a failed run leaves
-- nothing behind. Without -o and --weight-grads it prints DX and the gradients' norms.
-- Models must be Lua models with one input and one output: ONNX models are refused,
-- naming their operators that lack a backward.

local backward = require 'cnnc.backward'
local npy = require 'cnnc.npy'
local runner = require 'cnnc.runner'
local util = require 'cnnc.util'

local M = {}

-- The refusal for an ONNX model: its operators whose layers have no backward.
local function onnx_refusal(g, path)
  local count, order = {}, {}
  for _, n in ipairs(backward.missing(g)) do
    local op = n.onnx and n.onnx.op_type or n.op
    if not count[op] then order[#order + 1] = op; count[op] = 0 end
    count[op] = count[op] + 1
  end
  local list = {}
  for _, op in ipairs(order) do
    list[#list + 1] = string.format('%s (%d node%s)', op, count[op], count[op] == 1 and '' or 's')
  end
  return string.format('run: %s: --grad-output works on Lua models only: gradients of ONNX models are not '
    .. 'implemented (their weights have no Keras names and layouts for --weight-grads)%s', path,
    #list > 0 and ('; operators of this model without a backward: ' .. table.concat(list, ', ')) or '')
end

-- Writes every {path, bytes} or none: temporary files first, renamed once all are
-- written; `dir` is created if missing (and removed again on failure). Returns true or
-- nil, message.
local function write_all(files, dir, dx_path, dx_bytes)
  local made_dir = false
  if dir then
    local kind = util.path_kind(dir)
    if kind and kind ~= 'directory' then return nil, dir .. ': exists and is not a directory' end
    if not kind then
      local ok = os.execute('mkdir -p ' .. require('cnnc.cli').shell_quote(dir) .. ' 2>/dev/null')
      if ok ~= 0 and ok ~= true then return nil, dir .. ': cannot create the directory' end
      made_dir = true
    end
  end
  local tmps = {}
  local function undo(msg)
    for _, t in ipairs(tmps) do os.remove(t) end
    if made_dir then os.remove(dir) end
    return nil, msg
  end
  for _, f in ipairs(files) do
    local tmp = f[1] .. '.tmp' .. tostring(os.time()) .. tostring(math.random(1e9))
    local h, err = io.open(tmp, 'wb')
    if not h then return undo(f[1] .. ': cannot write: ' .. tostring(err)) end
    tmps[#tmps + 1] = tmp
    local ok, werr = h:write(f[2])
    local cok = h:close()
    if not ok or not cok then return undo(f[1] .. ': cannot write: ' .. tostring(werr)) end
  end
  if dx_path then
    local ok, err = util.write_file_atomic(dx_path, dx_bytes)
    if not ok then return undo(dx_path .. ': cannot write: ' .. tostring(err)) end
  end
  for i, f in ipairs(files) do
    local ok, err = os.rename(tmps[i], f[1])
    if not ok then return nil, f[1] .. ': cannot write: ' .. tostring(err) end
  end
  return true
end

local function norm(t)
  local s = 0
  for i = 0, t.n - 1 do s = s + t.data[i] * t.data[i] end
  return math.sqrt(s)
end

-- The checks of the options that need no model: calls die(message, code) on a mistake.
function M.check_options(opt, die)
  local dir = opt['--weight-grads']
  if dir and opt['--weights'] then
    local _, a = util.path_kind(dir)
    local _, b = util.path_kind(opt['--weights'])
    if (a or dir):gsub('/+$', '') == (b or opt['--weights']):gsub('/+$', '') then
      die('run: --weight-grads ' .. dir .. ' is the --weights directory: its files would be overwritten', 2)
    end
  end
end

-- r: the driver's result (r.typed); pos: MODEL, INPUT; opt: the parsed options. Returns
-- nothing; calls die(message, code) on every error.
function M.run(model, r, pos, opt, die)
  local g = r.typed
  if model.onnx then die(onnx_refusal(g, pos[1]), 1) end
  if require('cnnc.ir').is_multi(g) then
    die('run: --grad-output: the model has several inputs or outputs; gradients need one of each', 2)
  end
  if #pos ~= 2 then die('run: --grad-output takes one INPUT (see cnnc run --help)', 2) end
  local outs = opt['-o'] or {}
  if #outs > 1 then die('run: -o given twice (with --grad-output it names the one input gradient)', 2) end
  local dtype = opt['--dtype'] or 'float32'
  local dir = opt['--weight-grads']
  local x, xerr = npy.read_input(pos[2])
  if not x then die(xerr) end
  local dy, derr = npy.read_input(opt['--grad-output'], 'double')
  if not dy then die(derr) end
  local dx, grads, order = runner.backward_batch(g, x, dy, pos[2], opt['--grad-output'])
  if not dx then die(util.format_error(grads)) end

  if not outs[1] and not dir then
    local lines = {}
    local vals = {}
    for k = 0, math.min(dx.n, 64) - 1 do vals[#vals + 1] = string.format('%.6g', dx.data[k]) end
    if dx.n > 64 then vals[#vals + 1] = string.format('... (%d more)', dx.n - 64) end
    lines[1] = string.format('grad_input shape %s: %s', util.shape_str(dx.shape), table.concat(vals, ' '))
    for _, w in ipairs(order) do
      lines[#lines + 1] = string.format('grad %s shape %s: norm %.6g', w.key, util.shape_str(w.shape), norm(grads[w.key]))
    end
    io.write(table.concat(lines, '\n'), '\n')
    return
  end
  local files = {}
  if dir then
    for _, w in ipairs(order) do
      files[#files + 1] = { dir .. '/' .. w.key .. '.npy', npy.encode(grads[w.key], dtype) }
    end
  end
  local ok, err = write_all(files, dir, outs[1], outs[1] and npy.encode(dx, dtype))
  if not ok then die(err) end
  if outs[1] then io.write('wrote ', outs[1], ' ', util.shape_str(dx.shape), '\n') end
  if dir then io.write(string.format('wrote %d weight gradients into %s\n', #files, dir)) end
end

return M
