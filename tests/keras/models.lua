-- Keras model files through cnnc (tests/keras/data, made by tests/keras/fixtures/make.sh:
-- networks built and run by TensorFlow.js, or built here and computed by PyTorch where
-- TensorFlow.js lacks the layer). For every file (Keras 2 .h5 in both forms, tf.keras 2.x's
-- and standalone Keras 2's, Keras 3 .keras, JSON configurations with weights files, the
-- small network with regularizers and constraints against the outputs it has without):
--   reference  the import run by the reference interpreter matches the expected outputs
--   convert    `cnnc convert` writes a Lua model and .npy weights whose reference run
--              matches them too
-- and per network one file is compiled to C (-Wall -Wextra -Werror -pedantic; generic and
-- the host's best target in turn) and its executable run, both files of the networks the
-- issue names (MNIST, MobileNet-like, U-Net-like: `both`). The Lua files of
-- tests/keras/lua build the same networks with the Functional API by hand: with the
-- weights `cnnc convert` wrote, their reference runs (and one build) match as well.
-- Every comparison: max |got - expected| <= 1e-4 * max |expected|, per output.
-- Ends with `keras-models: N passed, M failed`.
-- usage: luajit tests/keras/models.lua [--jobs N] [case ...]

package.path = 'compiler/?.lua;' .. package.path
local driver = require 'cnnc.driver'
local ir = require 'cnnc.ir'
local npy = require 'cnnc.npy'
local runner = require 'cnnc.runner'
local targets = require 'cnnc.targets'
local util = require 'cnnc.util'

local jobs, only = 2, {}
local i = 1
while i <= #arg do
  if arg[i] == '--jobs' then jobs = tonumber(arg[i + 1]); i = i + 1 else only[arg[i]] = true end
  i = i + 1
end

local DATA = 'tests/keras/data'
local work = 'build/tests/keras-models'
os.execute('rm -rf ' .. work .. ' && mkdir -p ' .. work)

-- The files of each network; a JSON configuration with its weights file. The first file
-- of each network is compiled to C; `lua` names its hand-written Lua version.
local CASES = {
  { 'mnist', { 'mnist.h5', 'mnist.keras' }, lua = 'mnist.lua', both = true },
  { 'mobilenet', { 'mobilenet.keras', 'mobilenet.h5' }, lua = 'mobilenet.lua', build_lua = true, both = true },
  { 'unet', { 'unet.h5', 'unet.keras', 'unet_old.h5' }, lua = 'unet.lua', both = true },
  { 'small', { 'small_old.h5', 'small_tf2.h5', 'small.keras', { 'small.json', weights = 'small_weights.h5' },
    { 'small_k3.json', weights = 'small.weights.h5' }, 'small_reg.h5', 'small_reg.keras' } },
  { 'zoo', { 'zoo.h5', 'zoo.keras' }, lua = 'zoo.lua' },
  { 'zoo_b', { 'zoo_b.h5', 'zoo_b.keras' }, lua = 'zoo_b.lua' },
  { 'keepdims', { 'keepdims.h5', 'keepdims.keras' }, lua = 'keepdims.lua' },
}

local passed, failed = 0, 0
local function check(name, ok, msg)
  if ok then passed = passed + 1; print('PASS ' .. name)
  else failed = failed + 1; print('FAIL ' .. name .. ': ' .. tostring(msg)) end
end

local function sh(cmd)
  local p = io.popen(cmd .. ' 2>&1; echo "rc=$?"')
  local out = p:read('*a')
  p:close()
  return tonumber(out:match('rc=(%d+)%s*$')), out:gsub('rc=%d+%s*$', '')
end

-- Expected outputs of a file (Keras 3 files: expected_keras3_<k> where present).
local function expected(case, file, k)
  local dir = DATA .. '/' .. case
  if file:match('%.keras$') or file:match('_k3%.json$') then
    local t = npy.read(dir .. '/expected_keras3_' .. k .. '.npy')
    if t then return t end
  end
  return assert(npy.read(dir .. '/expected_' .. k .. '.npy'))
end

local function inputs(case)
  local t, k = {}, 0
  while true do
    local p = string.format('%s/%s/input_%d.npy', DATA, case, k)
    if not io.open(p, 'rb') then break end
    t[#t + 1] = p
    k = k + 1
  end
  return t
end

-- Compares output tensors with the expected ones; returns nil or a message.
local function compare(case, file, ys)
  for k, y in ipairs(ys) do
    local want = expected(case, file, k - 1)
    if y.n ~= want.n then return string.format('output %d has %d values, expected %d', k, y.n, want.n) end
    local e, m = 0, 0
    for j = 0, want.n - 1 do
      local d = math.abs(y.data[j] - want.data[j])
      if d ~= d then d = math.huge end
      e, m = math.max(e, d), math.max(m, math.abs(want.data[j]))
    end
    if not (e <= 1e-4 * m) then return string.format('output %d: max error %g, max |expected| %g', k, e, m) end
  end
end

-- The reference interpreter on a model file (weights: a directory or a file).
local function reference(case, path, weights)
  local model, err = driver.load(path)
  if not model then return util.format_error(err) end
  local r, cerr = driver.compile(model, { stop = 'shape', weights = weights })
  if not r then return util.format_error(cerr) end
  local xs = {}
  for k, p in ipairs(inputs(case)) do xs[k] = assert(npy.read(p)) end
  local ys, rerr = runner.run_tensors(r.typed, xs)
  if not ys then return util.format_error(rerr) end
  return nil, ys
end

local builds, mk, all = {}, {}, {}
local function add_build(label, case, file, src, extra, target)
  local dir = string.format('%s/build-%d', work, #builds + 1)
  local cmd = string.format('bin/cnnc build %s -o %s --name net --target %s %s --cflags "-O1 -Wall -Wextra -Werror -pedantic"',
    src, dir, target, extra or '')
  builds[#builds + 1] = { label = label, case = case, file = file, dir = dir }
  all[#all + 1] = dir .. '/.built'
  mk[#mk + 1] = string.format('%s/.built:\n\t@mkdir -p %s && (%s > %s.log 2>&1 && touch $@) || true', dir, dir, cmd, dir)
end

local best = targets.native()
for ci, c in ipairs(CASES) do
  local case, files = c[1], c[2]
  if next(only) == nil or only[case] then
    local dir = DATA .. '/' .. case
    local first_weights
    for fi, f in ipairs(files) do
      local file = type(f) == 'table' and f[1] or f
      local wfile = type(f) == 'table' and (dir .. '/' .. f.weights) or nil
      local path = dir .. '/' .. file
      local label = case .. '/' .. file
      local err, ys = reference(case, path, wfile)
      check(label .. ' reference', not err and not compare(case, file, ys), err or (ys and compare(case, file, ys)))
      -- convert, then the Lua file with its weights
      local out = string.format('%s/%s-%d', work, case, fi)
      local rc, log = sh(string.format('bin/cnnc convert %s -o %s/model.lua --weights-out %s/weights %s', path, out, out,
        wfile and ('--weights ' .. wfile) or ''))
      if rc ~= 0 then check(label .. ' convert', false, log)
      else
        local cerr, cys = reference(case, out .. '/model.lua', out .. '/weights')
        check(label .. ' convert', not cerr and not compare(case, file, cys), cerr or (cys and compare(case, file, cys)))
        if fi == 1 then first_weights = out .. '/weights' end
      end
      if fi == 1 or (fi == 2 and c.both) then
        local target = (ci + fi) % 2 == 1 and best or 'generic'
        add_build(label .. ' C ' .. target, case, file, path, wfile and ('--weights ' .. wfile), target)
      end
    end
    -- the network written by hand with the Functional API
    if c.lua and first_weights then
      local lua = 'tests/keras/lua/' .. c.lua
      local err, ys = reference(case, lua, first_weights)
      local file = type(files[1]) == 'table' and files[1][1] or files[1]
      check(lua .. ' reference', not err and not compare(case, file, ys), err or (ys and compare(case, file, ys)))
      if c.build_lua then add_build(lua .. ' C ' .. best, case, file, lua, '--weights ' .. first_weights, best) end
    end
  end
end

table.insert(mk, 1, 'all: ' .. table.concat(all, ' '))
local f = assert(io.open(work .. '/build.mk', 'w'))
f:write(table.concat(mk, '\n'), '\n')
f:close()
os.execute(string.format('make -s -j%d -f %s all', jobs, work .. '/build.mk'))

for _, b in ipairs(builds) do
  if not io.open(b.dir .. '/.built', 'rb') then
    check(b.label, false, 'build failed:\n' .. (util.read_file(b.dir .. '.log') or ''))
  else
    local ins = inputs(b.case)
    local outs = {}
    local want = 0
    while io.open(string.format('%s/%s/expected_%d.npy', DATA, b.case, want), 'rb') do want = want + 1 end
    for k = 1, want do outs[k] = string.format('-o %s/out_%d.npy', b.dir, k - 1) end
    local rc, log = sh(string.format('%s/net %s %s', b.dir, table.concat(ins, ' '), table.concat(outs, ' ')))
    if rc ~= 0 then check(b.label, false, log)
    else
      local ys = {}
      for k = 1, want do ys[k] = assert(npy.read(string.format('%s/out_%d.npy', b.dir, k - 1))) end
      local msg = compare(b.case, b.file, ys)
      check(b.label, not msg, msg)
    end
  end
end

print(string.format('keras-models: %d passed, %d failed', passed, failed))
os.exit(failed == 0 and 0 or 1)
