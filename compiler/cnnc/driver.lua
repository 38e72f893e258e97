-- cnnc.driver: runs the pipeline, and is the only part of the compiler that touches files.
--
--   model file --load--> model --frontend--> graph --shape--> typed --lower--> --fuse--> fused
--     --select--> selected --plan--> planned --emit--> C text
-- (lower runs whether or not fusion does: it replaces layers made of others by their parts.)
-- `compile` can stop after any pass (opts.stop), which is how tests look at one pass
-- alone. Every function returns nil, err (a cnnc.util error) on user errors.

local frontend = require 'cnnc.frontend'
local npy = require 'cnnc.npy'
local util = require 'cnnc.util'

-- LuaJIT keeps at most 512 kB of machine code by default; the compiler's passes and code
-- generation outgrow it, and each time it is full every trace is flushed and compiled
-- again, with an mprotect and a TLB flush per trace (costly in a VM). A 16 MB budget in
-- 1 MB chunks made 80 small compiles in one process 2.5x faster (1.9 s of system time
-- down to 0.15 s). This sets the process's JIT options once, when cnnc is first loaded.
do
  local ok, jit = pcall(require, 'jit')
  if ok and jit.opt then jit.opt.start('maxtrace=4000', 'maxmcode=16384', 'sizemcode=1024') end
end

local M = {}

M.PASSES = { 'frontend', 'shape', 'fuse', 'select', 'plan', 'emit' }

-- The model in path: a Lua model file, an ONNX model or a Keras file, recognised by
-- cnnc.formats, which refuses other frameworks' files saying what they are. opts.binds
-- (ONNX models): {name -> tensor} for graph inputs to compile as constants.
-- opts.input_shape: compile for another input size: a list of sizes (a Lua model's
-- input, Keras order without the batch; an ONNX model's input, in ONNX order, with or
-- without its batch axis), or {[input name] = sizes} for an ONNX model's named inputs.
function M.load(path, opts)
  return util.try(require('cnnc.formats').load, path, opts)
end

-- `--input-shape [NAME=]D1,D2,...` (also D1xD2x...): returns a list of sizes, or
-- {[NAME] = sizes}; nil, err on a malformed value.
function M.read_input_shape(spec, into)
  return util.try(function()
    local name, dims = tostring(spec):match('^([^=]+)=(.+)$')
    dims = dims or tostring(spec)
    local t = {}
    for d in dims:gmatch('[^,x%s]+') do
      local n = tonumber(d)
      if not n or n ~= math.floor(n) or n < 1 then
        util.fail(nil, "--input-shape takes positive integer sizes separated by commas (e.g. 3,224,224 or x=3,224,224), got '%s'",
          tostring(spec))
      end
      t[#t + 1] = n
    end
    if #t == 0 then util.fail(nil, "--input-shape needs sizes, got '%s'", tostring(spec)) end
    if not name then
      if into and next(into) then util.fail(nil, '--input-shape without a name is given more than once, or with named ones') end
      return t
    end
    into = into or {}
    if into[1] then util.fail(nil, '--input-shape without a name is given more than once, or with named ones') end
    into[name] = t
    return into
  end)
end

-- `--bind NAME=FILE`: the tensor in FILE (a TensorProto .pb or a .npy). Returns name,
-- tensor or nil, err.
function M.read_bind(spec)
  return util.try(function()
    local name, path = tostring(spec):match('^([^=]+)=(.+)$')
    if not name then util.fail(nil, "--bind takes NAME=FILE, got '%s'", tostring(spec)) end
    if path:lower():match('%.npy$') then
      local t, err = npy.read(path)
      if not t then util.fail({ file = path }, '%s', err) end
      return name, t
    end
    return name, (require('cnnc.onnx.model').read_tensor(path))
  end)
end

-- A weight provider reading DIR/<layer>.<weight>.npy.
function M.weights_from_dir(dir)
  return function(layer, wname)
    local path = string.format('%s/%s.%s.npy', dir, layer, wname)
    local t, err = npy.read(path)
    if not t then
      if not io.open(path, 'rb') then
        return nil, string.format('missing weight file %s (--weights %s needs <layer>.<weight>.npy for every weight)', path, dir)
      end
      return nil, err
    end
    return t, path
  end
end

-- Models with more weight floats than this keep them in a binary blob beside the C file.
M.BLOB_THRESHOLD = 1048576

-- opts: {stop = pass name, fuse = bool (default true), weights = dir, name = model name,
-- source = file name for the banner, target = 'generic'|'avx2'|... (cnnc.targets),
-- keep_all = true: the workspace keeps every layer's output (cnnc.passes.plan),
-- blob = true|false|'auto' (default): weights in NAME.weights.bin instead of C literals,
-- threads = N: layers worth it shared among N POSIX threads (build with -pthread),
-- winograd = 'auto'|'on'|'off': 3x3 stride-1 convolutions as Winograd (cnnc.simd.winograd),
-- tune = {key = value} or {"key=value", ...}: experiment knobs (cnnc.tune), profile = true:
-- add NAME_predict_profile (per-step timing hooks, cnnc.emit.forward),
-- backward = true: backward code too (cnnc.passes.grad, cnnc.emit.backward), train = true:
-- a training build (backward code, writable weights: cnnc.emit.train)}. Returns a table of
-- the graphs made so far {graph, typed, fused, selected, planned, c, h}.
function M.compile(model, opts)
  opts = opts or {}
  return util.try(function()
    local r = {}
    local provider = opts.weights and M.weights_from_dir(opts.weights)
    if model.onnx then
      if opts.weights then util.fail(model.where, '--weights does not apply to ONNX models (their weights are in the file)') end
      r.graph = require('cnnc.ir').clone(model.graph)
      r.graph.name = opts.name or r.graph.name
      provider = model.provider
    else
      if model.keras then
        -- an imported Keras model: its weights, or (a configuration alone) those of --weights FILE
        if opts.weights and model.provider then
          util.fail(model.where, '--weights does not apply to this %s file: its weights are in it', model.keras.format)
        end
        provider = model.provider or (opts.weights and model.keras.load_weights(opts.weights))
      end
      r.graph = frontend.from_model(model, opts.name)
    end
    if opts.stop == 'frontend' then return r end
    r.typed = require('cnnc.passes.shape').run(r.graph, provider, opts.overrides)
    if opts.stop == 'shape' then return r end
    local lowered = require('cnnc.passes.lower').run(r.typed)
    r.fuse_off = opts.fuse == false
    r.fused = opts.fuse == false and lowered or require('cnnc.passes.fuse').run(lowered, { keep_all = opts.keep_all,
      backward = opts.backward or opts.train, winograd_weights = opts.winograd or 'auto' })
    if opts.backward or opts.train then
      if opts.keep_all then util.fail(nil, 'backward code and keep_all do not go together') end
      r.fused = require('cnnc.passes.grad').run(r.fused)
      r.fused.train = opts.train or nil
    end
    if opts.stop == 'fuse' then return r end
    local target, terr = require('cnnc.targets').get(opts.target)
    if not target then util.fail(nil, '%s', terr) end
    r.target = target
    local threads = opts.threads or 1
    if type(threads) ~= 'number' or threads < 1 or threads > 256 or threads ~= math.floor(threads) then
      util.fail(nil, 'threads must be a whole number from 1 to 256, got %s', tostring(threads))
    end
    -- Winograd's transformed kernels are no copies of the weights a training build refreshes
    local winograd = opts.winograd
    if opts.train then winograd = 'off' end
    r.selected = require('cnnc.passes.select').run(r.fused, { target = target, winograd = winograd,
      threads = threads, fuse = opts.fuse ~= false, keep_all = opts.keep_all, tune = require('cnnc.tune').resolve(opts.tune),
      backward = opts.backward or opts.train, winograd_weights = opts.winograd or 'auto' })
    if opts.stop == 'select' then return r end
    r.planned = require('cnnc.passes.plan').run(r.selected, { keep_all = opts.keep_all })
    r.planned.profile = opts.profile or nil
    if opts.stop == 'plan' then return r end
    local emit = require 'cnnc.emit'
    local blob = opts.blob
    if blob == nil or blob == 'auto' then blob = emit.weight_floats(r.planned) > M.BLOB_THRESHOLD end
    if opts.train then blob = false end -- its weights are writable arrays
    r.threads = r.planned.threads
    r.c, r.h, r.blob = emit.run(r.planned, { source = opts.source, blob = blob })
    return r
  end)
end

-- Writes NAME.c, NAME.h and, for a blob model, NAME.weights.bin into dir (only when
-- changed; a stale blob of an earlier build is removed). Returns paths or nil, err.
function M.write_c(r, dir)
  local name = r.planned.name
  local c_path, h_path = dir .. '/' .. name .. '.c', dir .. '/' .. name .. '.h'
  local blob_path = dir .. '/' .. name .. '.weights.bin'
  local ok, err = true, nil
  if r.blob then ok, err = util.write_if_changed(blob_path, { ptr = r.blob.buf, size = 4 * r.blob.n })
  else os.remove(blob_path); os.remove(dir .. '/' .. name .. '.weights.o') end
  if ok then ok, err = util.write_if_changed(h_path, r.h) end
  if ok then ok, err = util.write_if_changed(c_path, r.c) end
  if not ok then return nil, { message = 'cannot write into ' .. dir .. ': ' .. tostring(err) } end
  return c_path, h_path
end

return M
