-- Bad-input catalogue for cnnc: every case must fail cleanly.
-- Run from the repo root: luajit tests/bad_inputs/run.lua   (BAD_INPUTS_VERBOSE=1 prints stderr)
-- Each case: files written into its own temp dir, one command run there under `timeout 20`;
-- checks: exit status non-zero (not 124 = timeout), stderr matches `pat` (Lua pattern,
-- case-insensitive), no `stack traceback`/`internal error`, no leftover output (`out`).
local ffi = require 'ffi'
local bit = require 'bit'

local ROOT = io.popen('pwd'):read('*l')
local CNNC = ROOT .. '/bin/cnnc'
local VERBOSE = os.getenv('BAD_INPUTS_VERBOSE')
local ONLY = os.getenv('BAD_INPUTS_ONLY')

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local function sh(cmd) -- run through sh, return exit code
  local f = io.popen("sh -c '" .. (cmd .. '; echo "RC=$?"'):gsub("'", "'\\''") .. "' 2>&1")
  local s = f:read('*a'); f:close()
  return tonumber(s:match('RC=(%d+)%s*$')), s
end
local function readf(p) local f = io.open(p, 'rb'); if not f then return nil end local s = f:read('*a'); f:close(); return s end
local function writef(p, s) local f = assert(io.open(p, 'wb')); f:write(s); f:close() end

local TMP = io.popen('mktemp -d /tmp/cnnc_bad_inputs.XXXXXX'):read('*l')

---------------------------------------------------------------- byte builders
local function f32(list) -- little-endian float32 bytes
  local n = #list
  local buf = ffi.new('float[?]', math.max(n, 1))
  for i = 1, n do buf[i - 1] = list[i] end
  return ffi.string(buf, 4 * n)
end
local function f32n(n, v) local t = {} for i = 1, n do t[i] = v or (i % 7) / 7 end return f32(t) end
local function be32(bytes) -- byte-swap every 4 bytes
  return (bytes:gsub('(.)(.)(.)(.)', '%4%3%2%1'))
end
local function shape_str(shape)
  if #shape == 1 then return '(' .. shape[1] .. ',)' end
  return '(' .. table.concat(shape, ', ') .. ')'
end
-- an .npy file (version 1.0); opts: descr, fortran, magic, raw header dict
local function npy(shape, data, opts)
  opts = opts or {}
  local dict = opts.dict or string.format("{'descr': '%s', 'fortran_order': %s, 'shape': %s, }",
    opts.descr or '<f4', opts.fortran and 'True' or 'False', shape_str(shape))
  local pre = (opts.magic or '\147NUMPY') .. '\1\0'
  local hl = #dict + 1
  local pad = (64 - (#pre + 2 + hl) % 64) % 64
  local header = dict .. string.rep(' ', pad) .. '\n'
  local len = opts.hlen or #header
  return pre .. string.char(len % 256, math.floor(len / 256) % 256) .. header .. data
end
local function prod(t) local p = 1 for _, v in ipairs(t) do p = p * v end return p end
local function npyf(shape, opts) return npy(shape, f32n(prod(shape)), opts) end

-- other frameworks' files, and the protobuf encoder (for hand-assembled ONNX)
local FOREIGN = dofile(ROOT .. '/tests/lib/foreign_files.lua')
local varint, fv, fb = FOREIGN.varint, FOREIGN.fv, FOREIGN.fb
local function cat(...) return table.concat({...}) end
local function vinfo(name, dims)
  local d = {}
  for _, v in ipairs(dims) do d[#d + 1] = fb(1, type(v) == 'string' and fb(2, v) or fv(1, v)) end -- dim_value or dim_param
  return cat(fb(1, name), fb(2, fb(1, cat(fv(1, 1), fb(2, table.concat(d))))))
end
local function node(op, name, ins, outs, extra)
  local s = {}
  for _, i in ipairs(ins) do s[#s + 1] = fb(1, i) end
  for _, o in ipairs(outs) do s[#s + 1] = fb(2, o) end
  s[#s + 1] = fb(3, name); s[#s + 1] = fb(4, op)
  return table.concat(s) .. (extra or '')
end
local function tensor(name, dims, data, extra)
  local s = {}
  for _, v in ipairs(dims) do s[#s + 1] = fv(1, v) end
  s[#s + 1] = fv(2, 1)
  s[#s + 1] = fb(8, name)
  if data then s[#s + 1] = fb(9, data) end
  return table.concat(s) .. (extra or '')
end
-- model: nodes, initializers, inputs, outputs (each an already-encoded message)
local function onnx_model(g)
  local s = {}
  for _, n in ipairs(g.nodes or {}) do s[#s + 1] = fb(1, n) end
  s[#s + 1] = fb(2, 'g')
  for _, t in ipairs(g.inits or {}) do s[#s + 1] = fb(5, t) end
  for _, i in ipairs(g.inputs or {}) do s[#s + 1] = fb(11, i) end
  for _, o in ipairs(g.outputs or {}) do s[#s + 1] = fb(12, o) end
  return cat(fv(1, 8), fb(2, 'bad_inputs'), fb(7, table.concat(s)), fb(8, cat(fb(1, ''), fv(2, 13))))
end
local X = vinfo('X', {1, 1, 4, 4})
local Y = vinfo('Y', {1, 1, 4, 4})
local GOOD_ONNX = readf(ROOT .. '/examples/fashion_mnist/fashion_mnist.onnx')
assert(GOOD_ONNX, 'run from the repo root')

local function lcg_bytes(n, seed)
  local s, t = seed, {}
  for i = 1, n do s = (s * 1103515245 + 12345) % 2147483648; t[i] = string.char(math.floor(s / 65536) % 256) end
  return table.concat(t)
end

---------------------------------------------------------------- model files
-- header takes lines 1-2; the body starts on line 3
local function model(body, shape)
  return "local nn = require 'cnnc'\nlocal m = nn.Sequential{name = 'm', input_shape = "
    .. (shape or '{8, 8, 3}') .. '}\n' .. body .. '\nreturn m\n'
end
-- the small model used by the --weights cases: conv2d kernel (3,3,1,2), bias (2,)
local WMODEL = model("m:add(nn.Conv2D{2, {3, 3}})", '{4, 4, 1}')
local function wfiles(kernel, bias)
  return { ['m.lua'] = WMODEL, ['w/conv2d.kernel.npy'] = kernel or npyf({3, 3, 1, 2}),
           ['w/conv2d.bias.npy'] = bias or npyf({2}) }
end
local BUILD = '{C} build m.lua -o out --no-exe'
local WBUILD = BUILD .. ' --weights w'

---------------------------------------------------------------- cases
-- name, files (path -> bytes; '/' ending path = directory), cmd ({C} cnnc, {E} executable),
-- pat (stderr must match, case-insensitive), out (path that must not exist/must be empty)
local cases = {}
local function case(t) t.out = t.out == nil and 'out' or t.out; cases[#cases + 1] = t end
local function mcase(name, body, pat, shape) case{name = 'model: ' .. name, files = {['m.lua'] = model(body, shape)}, cmd = BUILD, pat = pat} end

-- the model language ----------------------------------------------------------
mcase('unknown layer', "m:add(nn.Conv3DX{4, 3})", "m%.lua:3.*Conv3DX")
mcase('Conv2DTranspose output_padding not below the strides', "m:add(nn.Conv2DTranspose{4, 3, strides = 2, output_padding = 2})",
  "m%.lua:3.*output_padding 2x2 must be smaller than the strides")
mcase('UpSampling2D unknown interpolation', "m:add(nn.UpSampling2D{2, interpolation = 'area'})", "m%.lua:3.*interpolation")
mcase('LayerNormalization over the batch axis', "m:add(nn.LayerNormalization{axis = 0})", "m%.lua:3.*batch axis")
mcase('an ONNX-only kind', "m:add(nn.Resize{axes = {}})", "m%.lua:3.*nn%.Resize")
mcase('unknown argument', "m:add(nn.Conv2D{4, 3, stridez = 2})", "m%.lua:3.*stridez")
mcase('filters is a string', "m:add(nn.Conv2D{'four', 3})", "m%.lua:3.*filters")
mcase('kernel_size is a string', "m:add(nn.Conv2D{4, 'big'})", "m%.lua:3.*kernel")
mcase('activation unknown', "m:add(nn.Conv2D{4, 3, activation = 'relu6x'})", "m%.lua:3.*relu6x")
mcase('activation is a number', "m:add(nn.Dense{4, activation = 7})", "m%.lua:3.*activation")
mcase('padding unknown', "m:add(nn.Conv2D{4, 3, padding = 'full'})", "m%.lua:3.*full")
mcase('zero filters', "m:add(nn.Conv2D{0, 3})", "m%.lua:3.*filters")
mcase('negative filters', "m:add(nn.Conv2D{-4, 3})", "m%.lua:3.*filters")
mcase('fractional filters', "m:add(nn.Conv2D{2.5, 3})", "m%.lua:3.*filters")
mcase('zero kernel size', "m:add(nn.Conv2D{4, {0, 3}})", "m%.lua:3.*kernel")
mcase('negative kernel size', "m:add(nn.Conv2D{4, -3})", "m%.lua:3.*kernel")
mcase('strides 0', "m:add(nn.Conv2D{4, 3, strides = 0})", "m%.lua:3.*stride")
mcase('negative strides', "m:add(nn.Conv2D{4, 3, strides = {1, -1}})", "m%.lua:3.*stride")
mcase('dilation 0', "m:add(nn.Conv2D{4, 3, dilation_rate = 0})", "m%.lua:3.*dilation")
mcase('kernel larger than padded input', "m:add(nn.Conv2D{4, 9})", "m%.lua:3.*conv2d.*larger")
mcase('pool larger than input', "m:add(nn.MaxPooling2D{{9, 9}})", "m%.lua:3.*max_pooling2d")
mcase('kernel tuple of 3 for Conv2D', "m:add(nn.Conv2D{4, {3, 3, 3}})", "m%.lua:3.*kernel")
mcase('Dense on a 3-D tensor', "m:add(nn.Dense{10})", "m%.lua:3.*dense")
mcase('Conv2D after Flatten', "m:add(nn.Flatten{})\nm:add(nn.Conv2D{4, 3})", "m%.lua:4.*conv2d")
mcase('duplicate layer names', "m:add(nn.Conv2D{4, 3, name = 'c'})\nm:add(nn.Conv2D{4, 3, name = 'c'})", "m%.lua:4.*'c'")
mcase('layer names that collide as C identifiers', "m:add(nn.Conv2D{4, 3, name = 'x y'})\nm:add(nn.Conv2D{4, 3, name = 'x_y'})", "m%.lua:4.*'x y'.*'x_y'")
mcase('NaN in a kernel literal', "local k = {}\nfor i = 1, 1 do k[i] = {{{0/0}}} end\nm:add(nn.Conv2D{1, 1, kernel = {{{{0/0}, {0}, {0}}}}, use_bias = false})", "m%.lua:5.*conv2d.*nan")
mcase('infinity in a bias literal', "m:add(nn.Dense{2, bias = {1/0, 0}})", "m%.lua:3.*inf", '{4}')
mcase('wrong kernel literal shape', "m:add(nn.Dense{2, kernel = {{1, 2, 3}, {4, 5, 6}}})", "m%.lua:3.*kernel.*shape", '{4}')
mcase('ragged kernel literal', "m:add(nn.Dense{2, kernel = {{1, 2}, {3}, {4, 5}, {6, 7}}})", "m%.lua:3.*kernel", '{4}')
mcase('string in kernel literal', "m:add(nn.Dense{2, kernel = {{1, 2}, {3, 'x'}, {4, 5}, {6, 7}}})", "m%.lua:3.*kernel", '{4}')
mcase('bad initializer name', "m:add(nn.Conv2D{4, 3, kernel_initializer = 'he_wrong'})", "m%.lua:3.*he_wrong")
mcase('BatchNormalization negative variance', "m:add(nn.BatchNormalization{moving_variance = {-1, 1, 1}})", "m%.lua:3.*variance")
mcase('Dropout rate 1.5', "m:add(nn.Dropout{1.5})", "m%.lua:3.*rate")
mcase('empty model', "", "no layers")
mcase('add a non-layer', "m:add(42)", "m%.lua:3.*layer")
case{name = 'model: missing input_shape', files = {['m.lua'] = "local nn = require 'cnnc'\nlocal m = nn.Sequential{name = 'm'}\nm:add(nn.Dense{2})\nreturn m\n"}, cmd = BUILD, pat = "m%.lua:2.*input_shape"}
case{name = 'model: input_shape with 0', files = {['m.lua'] = model("m:add(nn.Flatten{})", '{0, 8, 3}')}, cmd = BUILD, pat = "m%.lua:2.*input_shape"}
case{name = 'model: input_shape negative', files = {['m.lua'] = model("m:add(nn.Flatten{})", '{8, -8, 3}')}, cmd = BUILD, pat = "m%.lua:2.*input_shape"}
case{name = 'model: input_shape a string', files = {['m.lua'] = model("m:add(nn.Flatten{})", "'28x28'")}, cmd = BUILD, pat = "m%.lua:2.*input_shape"}
case{name = 'model: bad model name', files = {['m.lua'] = "local nn = require 'cnnc'\nlocal m = nn.Sequential{name = 'my-net', input_shape = {4}}\nm:add(nn.Dense{2})\nreturn m\n"}, cmd = BUILD, pat = "my%-net"}
case{name = 'model: returns nothing', files = {['m.lua'] = model("m:add(nn.Dense{2})", '{4}'):gsub('return m\n$', '')}, cmd = BUILD, pat = "m%.lua.*model"}
case{name = 'model: returns a table', files = {['m.lua'] = "return {layers = {}}\n"}, cmd = BUILD, pat = "m%.lua.*model"}
case{name = 'model: returns a number', files = {['m.lua'] = "return 42\n"}, cmd = BUILD, pat = "m%.lua.*model"}
case{name = 'model: syntax error', files = {['m.lua'] = "local nn = require 'cnnc'\nlocal m = nn.Sequential{name = 'm', input_shape = {4}\nm:add(nn.Dense{2})\nreturn m\n"}, cmd = BUILD, pat = "m%.lua:%d"}
case{name = 'model: runtime error', files = {['m.lua'] = model("local t = nil\nm:add(nn.Dense{t.n})", '{4}')}, cmd = BUILD, pat = "m%.lua:4.*nil"}
case{name = 'model: error() call', files = {['m.lua'] = model("error('custom failure in model')", '{4}')}, cmd = BUILD, pat = "m%.lua:3.*custom failure"}
mcase('io.open forbidden', "local f = io.open('/etc/passwd')", "m%.lua:3.*io")
mcase('os.execute forbidden', "os.execute('touch pwned')", "m%.lua:3.*os")
mcase('require of another module', "local x = require 'ffi'", "m%.lua.*ffi")
mcase('loadstring forbidden', "local f = loadstring('return 1')", "m%.lua:3.*loadstring")
mcase('load forbidden', "local f = load(function() return nil end)", "m%.lua:3.*load")
mcase('dofile forbidden', "dofile('/etc/passwd')", "m%.lua:3.*dofile")
mcase('string.dump forbidden', "local s = string.dump(print)", "m%.lua:3.*dump")
mcase('debug forbidden', "local i = debug.getinfo(1)", "m%.lua:3.*debug")
mcase('endless loop (budget)', "while true do end", "m%.lua.*instructions")
mcase('endless recursion', "local function f(n) return 1 + f(n) end\nf(1)", "m%.lua.*stack overflow")
mcase('memory bomb', "local t = {}\nfor i = 1, 1e9 do t[i] = string.rep('x', 1000) .. i end", "m%.lua.*memory")
-- found by the structured fuzzer (tests/fuzz): nn.kernels and argument checks raised Lua errors
-- from cnnc's sources, huge layers reached the allocator
mcase('a table holding itself as an argument', "local t = {}\nt[1] = t\nm:add(nn.Conv2D{2, t})", "m%.lua:5.*kernel_size.*{%.%.%.}")
mcase('nn.kernels.box(0)', "m:add(nn.Conv2D{1, 3, kernel = nn.kernels.stack({nn.kernels.box(0)})})", "m%.lua:3.*kernels%.box.*got 0")
mcase('nn.kernels.kirsch(9)', "m:add(nn.Conv2D{1, 3, kernel = nn.kernels.stack({nn.kernels.kirsch(9)})})", "m%.lua:3.*kirsch.*got 9")
mcase('nn.kernels.sharpen of a table', "local k = nn.kernels.sharpen({1})", "m%.lua:3.*sharpen.*finite number")
mcase('nn.kernels.stack of a ragged kernel', "local k = nn.kernels.stack({{{1, 2}, {3}}})", "m%.lua:3.*stack.*row 2")
mcase('Dense with a billion units', "m:add(nn.Flatten{})\nm:add(nn.Dense{1000000000})", "m%.lua:4.*dense.*more than cnnc supports")
mcase('Conv2D kernel of 2.6e10 weights', "m:add(nn.Conv2D{100000, 8})", "m%.lua:3.*conv2d.*kernel of shape %(8, 8, 4000, 100000%).*more than cnnc supports", '{8, 8, 4000}')
mcase('input_shape of 10^10 values', "m:add(nn.Flatten{})", "m%.lua.*input shape.*more than cnnc supports", '{100000, 100000, 1}')
-- a model too big for the memory the process may use: a clean message, not an internal error
case{name = 'model: out of memory (ulimit -v)', files = {['m.lua'] = model("m:add(nn.Dense{8192})", '{8192}')},
  cmd = "sh -c 'ulimit -v 400000 && exec {C} build m.lua -o out --no-exe'", pat = "ran out of memory"}
case{name = 'model: missing model file', files = {}, cmd = '{C} build nothere.lua -o out', pat = "nothere%.lua"}
case{name = 'cli: bad --name', files = {['m.lua'] = model("m:add(nn.Flatten{})")}, cmd = BUILD .. " --name '1abc'", pat = "%-%-name.*1abc"}
case{name = 'cli: bad --target', files = {['m.lua'] = model("m:add(nn.Flatten{})")}, cmd = BUILD .. " --target vax", pat = "target.*vax"}
case{name = 'cli: unknown option', files = {['m.lua'] = model("m:add(nn.Flatten{})")}, cmd = BUILD .. " --frobnicate", pat = "%-%-frobnicate"}
case{name = 'cli: --threads 0', files = {['m.lua'] = model("m:add(nn.Flatten{})")}, cmd = BUILD .. " --threads 0", pat = "threads"}
case{name = 'cli: --dump unknown pass', files = {['m.lua'] = model("m:add(nn.Flatten{})")}, cmd = BUILD .. " --dump nopass", pat = "%-%-dump takes"}
case{name = 'cli: build without -o', files = {['m.lua'] = model("m:add(nn.Flatten{})")}, cmd = "{C} build m.lua", pat = "%-o"}
case{name = 'cli: unknown command', files = {}, cmd = "{C} compile m.lua", pat = "compile"}
case{name = 'cli: -o is an existing file', files = {['m.lua'] = model("m:add(nn.Flatten{})"), ['f'] = 'x'}, cmd = "{C} build m.lua -o f --no-exe", pat = "f", out = false}

-- weight files (--weights DIR) --------------------------------------------------
local function wcase(name, files, pat, cmd) case{name = 'weights: ' .. name, files = files, cmd = cmd or WBUILD, pat = pat} end
do
  local f = wfiles(); f['w/conv2d.kernel.npy'] = nil
  wcase('missing file', f, "m%.lua:3.*conv2d.*conv2d%.kernel%.npy")
end
wcase('missing directory', {['m.lua'] = WMODEL}, "conv2d%.kernel%.npy", "{C} build m.lua -o out --no-exe --weights nodir")
wcase('wrong shape', wfiles(npyf({3, 3, 2, 1})), "conv2d%.kernel%.npy.*shape")
wcase('wrong rank', wfiles(npyf({18})), "conv2d%.kernel%.npy.*shape")
wcase('wrong dtype int32', wfiles(npy({3, 3, 1, 2}, string.rep('\1\0\0\0', 18), {descr = '<i4'})), "conv2d%.kernel%.npy.*i4")
wcase('truncated data', wfiles(npyf({3, 3, 1, 2}):sub(1, -9)), "conv2d%.kernel%.npy.*trunc")
wcase('truncated header', wfiles(npyf({3, 3, 1, 2}):sub(1, 30)), "conv2d%.kernel%.npy")
wcase('big-endian', wfiles(npy({3, 3, 1, 2}, be32(f32n(18)), {descr = '>f4'})), "conv2d%.kernel%.npy.*endian")
wcase('Fortran order', wfiles(npyf({3, 3, 1, 2}, {fortran = true})), "conv2d%.kernel%.npy.*fortran")
wcase('bad header dict', wfiles(npy({}, f32n(18), {dict = "{'descr': '<f4', 'shape': (3, 3, 1, 2"})), "conv2d%.kernel%.npy.*header")
wcase('bad magic', wfiles(npyf({3, 3, 1, 2}, {magic = 'XNUMPY'})), "conv2d%.kernel%.npy.*npy")
wcase('extra bytes', wfiles(npyf({3, 3, 1, 2}) .. 'junkjunk'), "conv2d%.kernel%.npy")
wcase('NaN weights', wfiles(npy({3, 3, 1, 2}, f32n(17) .. f32({0/0}))), "m%.lua:3.*conv2d.*kernel.*nan")
wcase('Inf bias', wfiles(nil, npy({2}, f32({1/0, 0}))), "m%.lua:3.*conv2d.*bias.*inf")
wcase('empty file', wfiles(''), "conv2d%.kernel%.npy")
wcase('weights given for an ONNX model', {['m.onnx'] = GOOD_ONNX, ['w/'] = true}, "weights", "{C} build m.onnx -o out --no-exe --weights w")

-- ONNX files --------------------------------------------------------------------
local function ocase(name, bytes, pat) case{name = 'onnx: ' .. name, files = {['m.onnx'] = bytes}, cmd = '{C} build m.onnx -o out --no-exe', pat = pat} end
ocase('empty file', '', "m%.onnx")
ocase('truncated to 1 byte', GOOD_ONNX:sub(1, 1), "m%.onnx.*trunc")
ocase('truncated to 20 bytes', GOOD_ONNX:sub(1, 20), "m%.onnx.*trunc")
ocase('truncated to 200 bytes', GOOD_ONNX:sub(1, 200), "m%.onnx.*trunc")
ocase('truncated to half', GOOD_ONNX:sub(1, math.floor(#GOOD_ONNX / 2)), "m%.onnx.*trunc")
ocase('truncated by 1 byte', GOOD_ONNX:sub(1, -2), "m%.onnx.*trunc")
ocase('random bytes', lcg_bytes(4096, 7), "m%.onnx")
ocase('wrong wire type (7)', '\15' .. GOOD_ONNX:sub(2), "m%.onnx.*wire")
ocase('group wire type', '\11' .. GOOD_ONNX:sub(2), "m%.onnx.*wire")
ocase('over-long varint', '\8' .. string.rep('\255', 12), "m%.onnx.*varint")
ocase('length past end of file', fb(7, 'xx'):sub(1, 1) .. varint(1e6) .. 'abc', "m%.onnx.*trunc")
ocase('no graph', cat(fv(1, 8), fb(8, cat(fb(1, ''), fv(2, 13)))), "m%.onnx.*graph")
ocase('unsupported operators', onnx_model{inputs = {X}, outputs = {Y},
  nodes = {node('FooOp', 'foo_a', {'X'}, {'a'}), node('FooOp', 'foo_b', {'a'}, {'b'}), node('BarOp', 'bar_1', {'b'}, {'Y'})}},
  "2 operators.*FooOp: 2 nodes %('foo_a', 'foo_b'%).*BarOp: 1 node %('bar_1'%)")
ocase('missing initializer', onnx_model{inputs = {X}, outputs = {Y},
  nodes = {node('Conv', 'conv_1', {'X', 'W'}, {'Y'})}}, "conv_1.*'?W'?")
-- Several graph inputs are fine (they are concatenated), shapes that do not fit are not.
ocase('two graph inputs that do not broadcast', onnx_model{inputs = {X, vinfo('X2', {1, 1, 3, 3})}, outputs = {Y},
  nodes = {node('Add', 'add_1', {'X', 'X2'}, {'Y'})}}, "add_1.*broadcast")
ocase('initializer raw_data of the wrong size', onnx_model{inputs = {X}, outputs = {vinfo('Y', {1, 2, 4, 4})},
  inits = {tensor('W', {2, 1, 1, 1}, f32({1}))},
  nodes = {node('Conv', 'conv_1', {'X', 'W'}, {'Y'})}}, "W")
-- Weights in an external file (data_location EXTERNAL): entries {key, value} of external_data.
local function ext_model(entries)
  local e = {}
  for _, kv in ipairs(entries) do e[#e + 1] = fb(13, cat(fb(1, kv[1]), fb(2, kv[2]))) end
  return onnx_model{inputs = {X}, outputs = {vinfo('Y', {1, 2, 4, 4})},
    inits = {tensor('W', {2, 1, 1, 1}, nil, table.concat(e) .. fv(14, 1))},
    nodes = {node('Conv', 'conv_1', {'X', 'W'}, {'Y'})}}
end
local function ecase(name, entries, files, pat)
  files['m.onnx'] = ext_model(entries)
  case{name = 'onnx: external data: ' .. name, files = files, cmd = '{C} build m.onnx -o out --no-exe', pat = pat}
end
ecase('file missing', {{'location', 'w.bin'}}, {}, "m%.onnx: tensor 'W': cannot open its external data file w%.bin: no such file")
ecase('no location', {{'offset', '0'}}, {}, "tensor 'W' keeps its data in an external file.*names no 'location'")
ecase('a .. component', {{'location', 'sub/../../w.bin'}}, {['sub/'] = true},
  "tensor 'W': its external data location 'sub/%.%./%.%./w%.bin' leaves the model's directory")
ecase('an absolute path', {{'location', '/etc/hostname'}}, {}, "tensor 'W': its external data location '/etc/hostname' is an absolute path")
ecase('a directory', {{'location', 'sub'}}, {['sub/'] = true}, "tensor 'W': its external data file sub is not a regular file")
ecase('file too short', {{'location', 'w.bin'}, {'offset', '4'}, {'length', '8'}}, {['w.bin'] = f32({1, 2})},
  "tensor 'W': its external data is bytes 4 to 12 of w%.bin, which has only 8 bytes")
ecase('offset past the end', {{'location', 'w.bin'}, {'offset', '9'}}, {['w.bin'] = f32({1, 2})},
  "tensor 'W': its external data starts at byte 9 of w%.bin, which has only 8 bytes")
ecase('length not what the dims need', {{'location', 'w.bin'}, {'offset', '0'}, {'length', '4'}}, {['w.bin'] = f32({1, 2})},
  "tensor 'W': its external data %(w%.bin, offset 0%) has 4 bytes, but 2 float32 elements need 8")
ecase('offset not a number', {{'location', 'w.bin'}, {'offset', '0x10'}}, {['w.bin'] = f32({1, 2})},
  "tensor 'W': external_data 'offset' is '0x10', not a byte count")
-- Operators left on computed data that cnnc only folds, with what to do; sizes left
-- symbolic; --input-shape mistakes.
ocase('Range on computed data', onnx_model{inputs = {X}, outputs = {Y},
  nodes = {node('ReduceMax', 'rmax', {'X'}, {'m'}), node('Range', 'range_1', {'m', 'm', 'm'}, {'Y'})}},
  "Range: 1 node %('range_1'%).*only on constants.*dynamic axes")
ocase('a symbolic spatial size', onnx_model{inputs = {vinfo('X', {1, 1, 'H', 4})}, outputs = {Y},
  nodes = {node('Relu', 'relu_1', {'X'}, {'Y'})}}, "unknown size.*%-%-input%-shape")
case{name = 'onnx: --input-shape of the wrong rank', files = {['m.onnx'] = GOOD_ONNX},
  cmd = '{C} build m.onnx -o out --no-exe --input-shape 28,28', pat = "give 4 sizes, or 3 without the batch"}
case{name = 'onnx: --input-shape of an unknown input', files = {['m.onnx'] = GOOD_ONNX},
  cmd = '{C} build m.onnx -o out --no-exe --input-shape image=1,28,28', pat = "no input named 'image'"}
case{name = 'onnx: --input-shape a Gemm cannot take', files = {['m.onnx'] = GOOD_ONNX},
  cmd = '{C} build m.onnx -o out --no-exe --input-shape 1,32,32', pat = "Gemm.*%-%-input%-shape"}
case{name = 'model: --input-shape of size 0', files = {['m.lua'] = model("m:add(nn.Conv2D{2, 3})")},
  cmd = '{C} build m.lua -o out --no-exe --input-shape 8,0,3', pat = "positive integer sizes"}
case{name = 'onnx: --bind unknown input', files = {['m.onnx'] = GOOD_ONNX, ['b.npy'] = npyf({2})}, cmd = '{C} build m.onnx -o out --no-exe --bind nosuch=b.npy', pat = "nosuch"}

-- other frameworks' model files (cnnc.formats): what each is, what to do -------------
-- cmd: '{C} build FILE -o out' unless given (%s: FILE); the message names `named` (FILE).
local function fcase(name, file, bytes, pat, cmd, named)
  case{name = 'format: ' .. name, files = {[file] = bytes}, cmd = (cmd or '{C} build %s -o out'):format(file),
    pat = (named or file):gsub('%p', '%%%0') .. ': ' .. pat}
end
-- (a damaged Keras file goes to the Keras importer, which says what is wrong with it)
fcase('Keras HDF5', 'm.h5', FOREIGN.keras_h5(), 'the hdf5 library cannot open it: not an hdf5 file, or truncated or damaged')
fcase('Keras HDF5 named .onnx', 'm.onnx', FOREIGN.keras_h5(), 'the hdf5 library cannot open it')
fcase('Keras 3 archive', 'm.keras', FOREIGN.keras(), "member 'metadata%.json': crc%-32 mismatch %(damaged%)")
fcase('HDF5 without a Keras model', 'data.h5', FOREIGN.hdf5(), 'an hdf5 file with no keras model')
fcase('PyTorch torch.save zip', 'm.pt', FOREIGN.torch_zip(), "a pytorch file.*torch%.onnx%.export%(model, example_input, 'model%.onnx'%)")
fcase('PyTorch legacy torch.save', 'm.pth', FOREIGN.TORCH_LEGACY, 'a pytorch file.*torch%.onnx%.export')
fcase('TorchScript archive', 'm.pt', FOREIGN.torchscript(), "a torchscript archive.*torch%.jit%.load%('m%.pt'%)")
fcase('pickle', 'm.pkl', FOREIGN.PICKLE, 'a python pickle.*torch%.onnx%.export')
fcase('TFLite', 'm.tflite', FOREIGN.tflite(), 'a tensorflow lite model.*tf2onnx%.convert %-%-tflite m%.tflite')
fcase('TensorFlow GraphDef', 'frozen.pb', FOREIGN.graphdef(), 'a tensorflow graph.*tf2onnx%.convert %-%-graphdef frozen%.pb')
fcase('SavedModel directory', 'sm/saved_model.pb', FOREIGN.saved_model(),
  'a tensorflow savedmodel.*tf2onnx%.convert %-%-saved%-model sm ', '{C} summary sm', 'sm')
fcase('ONNX TensorProto', 'input_0.pb', FOREIGN.onnx_tensor(), 'an onnx tensor.*%-%-bind')
fcase('NumPy array as the model', 'x.npy', FOREIGN.npy(), 'a numpy array', '{C} run %s x.npy -o out')
fcase('binary file', 'model.bin', '\1\2\3\255\0\0\7', 'a binary file of no format cnnc knows', '{C} test %s -o out')

-- Keras files ---------------------------------------------------------------------
-- (the HDF5 ones are made by tests/keras/fixtures/make_fixtures.py; zips are built here)
local KDATA = ROOT .. '/tests/keras/data/'
local GOOD_H5 = readf(KDATA .. 'small/small_tf2.h5')
local GOOD_KERAS = readf(KDATA .. 'small/small.keras')
assert(GOOD_H5 and GOOD_KERAS, 'tests/keras/data is missing')
local Z = dofile(ROOT .. '/tests/keras/spec/ziputil.lua')
local function kcase(name, file, bytes, pat, cmd)
  case{name = 'keras: ' .. name, files = {[file] = bytes}, cmd = cmd or ('{C} build ' .. file .. ' -o out --no-exe'), pat = pat}
end
kcase('truncated HDF5 (half)', 'm.h5', GOOD_H5:sub(1, math.floor(#GOOD_H5 / 2)), "m%.h5.*truncated or damaged")
kcase('truncated HDF5 (1000 bytes)', 'm.h5', GOOD_H5:sub(1, 1000), "m%.h5.*truncated or damaged")
kcase('HDF5 signature only', 'm.h5', GOOD_H5:sub(1, 8), "m%.h5")
kcase('a missing weight', 'm.h5', readf(KDATA .. 'bad/missing_weight.h5'), "m%.h5: the weights do not match.*layer 'dense' %(Dense%): 1 weight saved")
kcase('a weight of the wrong shape', 'm.h5', readf(KDATA .. 'bad/wrong_shape.h5'),
  "m%.h5: layer 'dense' %(#5, Dense%):.*kernel:0 has shape %(5, 24%) but this layer needs %(24, 5%)")
kcase('unknown layers, all at once', 'm.h5', readf(KDATA .. 'bad/unknown_layers.h5'),
  "m%.h5: the model has 2 layers cnnc cannot import:.*'my_lambda' %(Lambda%).*'attention' %(MyAttention%)")
kcase('a Lambda layer', 'm.h5', readf(KDATA .. 'bad/lambda.h5'), "m%.h5:.*layer 'my_lambda' %(Lambda%): a Lambda layer runs Python code")
kcase('weights-only HDF5 as the model', 'm.h5', readf(KDATA .. 'small/small_weights.h5'), "m%.h5: holds Keras weights only")
kcase('--weights for a .h5 model', 'm.h5', GOOD_H5, "m%.h5: %-%-weights does not apply", '{C} build m.h5 -o out --no-exe --weights m.h5')
kcase('zip bomb in a .keras (config.json)', 'm.keras', Z.zip({ { name = 'config.json', data = Z.zeros_stream(40000), method = 8,
  size = 100, plain = 'x' }, { name = 'model.weights.h5', data = 'x' } }), "m%.keras: member 'config%.json': the data inflates to more than 100 bytes")
kcase('zip member declaring 4 GB', 'm.keras', Z.zip({ { name = 'config.json', data = Z.zeros_stream(10), method = 8, size = 4e9,
  plain = 'x' }, { name = 'model.weights.h5', data = 'x' } }), "m%.keras: member 'config%.json' declares 4000000000 bytes")
kcase('truncated .keras', 'm.keras', GOOD_KERAS:sub(1, #GOOD_KERAS - 200), "m%.keras.*truncated")
kcase('.keras without its weights', 'm.keras', Z.zip({ { name = 'config.json', data = '{}' } }), "m%.keras: is a zip without model%.weights%.h5")
kcase('.keras with damaged JSON', 'm.keras', Z.zip({ { name = 'config.json', data = '{"class_name": ' },
  { name = 'model.weights.h5', data = 'x' } }), "m%.keras: config%.json is not valid JSON")
case{name = 'keras: convert a bad file writes nothing', files = {['m.h5'] = readf(KDATA .. 'bad/wrong_shape.h5')},
  cmd = '{C} convert m.h5 -o out/m.lua --weights-out out/w', pat = "m%.h5:.*kernel:0 has shape"}
case{name = 'keras: convert of a Lua model', files = {['m.lua'] = model("m:add(nn.Flatten{})")},
  cmd = '{C} convert m.lua -o out/m.lua', pat = "m%.lua is not a Keras model file"}
case{name = 'keras: JSON configuration with a bad weights file', files = {['m.json'] = readf(KDATA .. 'small/small.json'),
  ['w.h5'] = 'not hdf5'}, cmd = '{C} build m.json -o out --no-exe --weights w.h5', pat = "w%.h5.*not a Keras weights file"}

-- the reference interpreter (cnnc run) -----------------------------------------------
local KM = q(ROOT .. '/examples/keras_mnist.lua')
local GOODPGM = 'P5\n28 28\n255\n' .. string.rep('\100', 784)
case{name = 'run: wrong shape .npy', files = {['x.npy'] = npyf({28, 27, 1})}, cmd = '{C} run ' .. KM .. ' x.npy -o y.npy', pat = "x%.npy.*shape", out = 'y.npy'}
case{name = 'run: -o into a non-existent directory', files = {['x.pgm'] = GOODPGM}, cmd = '{C} run ' .. KM .. ' x.pgm -o nodir/y.npy', pat = "nodir/y%.npy", out = 'nodir/y.npy'}
case{name = 'run: -o is a directory', files = {['x.pgm'] = GOODPGM, ['od/'] = true}, cmd = '{C} run ' .. KM .. ' x.pgm -o od', pat = "od.*director", out = 'od'}
case{name = 'run: missing input', files = {}, cmd = '{C} run ' .. KM .. ' nothere.npy -o y.npy', pat = "nothere%.npy", out = 'y.npy'}
case{name = 'summary: unknown option', files = {}, cmd = '{C} summary ' .. KM .. ' --frob', pat = "%-%-frob", out = false}

-- the reference backward pass (cnnc run --grad-output): nothing written on any failure
local GRUN = '{C} run ' .. KM .. ' x.npy --grad-output dy.npy -o dx.npy --weight-grads wg'
local GX = npyf({2, 28, 28, 1})
local function gcase(name, files, cmd, pat, out) case{name = 'grad: ' .. name, files = files, cmd = cmd, pat = pat, out = out or 'dx.npy'} end
gcase('output gradient without the batch axis', {['x.npy'] = GX, ['dy.npy'] = npyf({10})}, GRUN, "dy%.npy.*%(10,%).*2 items.*%(2, 10%)")
gcase('output gradient of the wrong shape', {['x.npy'] = npyf({28, 28, 1}), ['dy.npy'] = npyf({9})}, GRUN, "dy%.npy.*%(9,%).*%(10,%)")
gcase('output gradient with a batch axis the input lacks', {['x.npy'] = npyf({28, 28, 1}), ['dy.npy'] = npyf({1, 10})}, GRUN, "dy%.npy.*no batch axis")
gcase('missing output gradient', {['x.npy'] = GX}, GRUN, "dy%.npy")
gcase('truncated output gradient', {['x.npy'] = GX, ['dy.npy'] = npyf({2, 10}):sub(1, -5)}, GRUN, "dy%.npy.*trunc")
gcase('no weight gradients left when -o cannot be written', {['x.npy'] = GX, ['dy.npy'] = npyf({2, 10}), ['dx.npy/'] = true}, GRUN, "dx%.npy", 'wg')
gcase('--weight-grads is a file', {['x.npy'] = GX, ['dy.npy'] = npyf({2, 10}), ['wg'] = 'x'}, GRUN, "wg.*not a directory")
gcase('--weight-grads is the --weights directory', {['x.npy'] = GX, ['dy.npy'] = npyf({2, 10}), ['w/'] = true},
  '{C} run ' .. KM .. ' x.npy --weights w --grad-output dy.npy -o dx.npy --weight-grads w', "weights directory")
gcase('--weight-grads without --grad-output', {['x.npy'] = GX}, '{C} run ' .. KM .. ' x.npy --weight-grads wg', "needs %-%-grad%-output", 'wg')
gcase('--dtype unknown', {['x.npy'] = GX, ['dy.npy'] = npyf({2, 10})}, GRUN .. ' --dtype float16', "float16")
gcase('-o twice', {['x.npy'] = GX, ['dy.npy'] = npyf({2, 10})}, GRUN .. ' -o dx2.npy', "%-o given twice")
gcase('an ONNX model', {['m.onnx'] = GOOD_ONNX, ['x.npy'] = npyf({1, 28, 28}), ['dy.npy'] = npyf({10})},
  '{C} run m.onnx x.npy --grad-output dy.npy -o dx.npy', "m%.onnx.*Lua models only")
gcase('an ONNX operator without a backward', {['m.onnx'] = onnx_model{inputs = {vinfo('X', {1, 1, 3, 3, 3})},
  outputs = {vinfo('Y', {1, 1, 2, 2, 2})}, inits = {tensor('W', {1, 1, 2, 2, 2}, f32n(8))},
  nodes = {node('Conv', 'c3', {'X', 'W'}, {'Y'}), node('Relu', 'r', {'Y'}, {'Z'})}}, ['x.npy'] = npyf({1, 3, 3, 3}), ['dy.npy'] = npyf({1, 2, 2, 2})},
  '{C} run m.onnx x.npy --grad-output dy.npy -o dx.npy', "without a backward: Conv %(1 node%)")
gcase('a layer without a backward', {['m.lua'] = model("m:add(nn.MatMul{operand_shape = {4, 2}})", '{4}'), ['x.npy'] = npyf({4}), ['dy.npy'] = npyf({2})},
  '{C} run m.lua x.npy --grad-output dy.npy -o dx.npy', "m%.lua:3: layer 'mat_mul' %(#1, MatMul%): gradients are not implemented for MatMul")

-- the generated executable's inputs ------------------------------------------------
local function ecase(name, files, args, pat, out) case{name = 'exe: ' .. name, files = files, cmd = '{E} ' .. args, pat = pat, out = out or 'y.npy'} end
local GOODIN = npyf({28, 28, 1})
ecase('wrong shape .npy', {['x.npy'] = npyf({28, 27, 1})}, 'x.npy -o y.npy', "x%.npy.*shape")
ecase('wrong rank .npy', {['x.npy'] = npyf({784})}, 'x.npy -o y.npy', "x%.npy.*shape")
ecase('truncated .npy data', {['x.npy'] = GOODIN:sub(1, -5)}, 'x.npy -o y.npy', "x%.npy.*trunc")
ecase('truncated .npy header', {['x.npy'] = GOODIN:sub(1, 40)}, 'x.npy -o y.npy', "x%.npy")
ecase('wrong dtype int32', {['x.npy'] = npy({28, 28, 1}, string.rep('\1\0\0\0', 784), {descr = '<i4'})}, 'x.npy -o y.npy', "x%.npy.*i4")
ecase('big-endian float32', {['x.npy'] = npy({28, 28, 1}, be32(f32n(784)), {descr = '>f4'})}, 'x.npy -o y.npy', "x%.npy.*endian")
ecase('Fortran order', {['x.npy'] = npyf({28, 28, 1}, {fortran = true})}, 'x.npy -o y.npy', "x%.npy.*fortran")
ecase('wrong magic', {['x.npy'] = npyf({28, 28, 1}, {magic = '\147NUMPX'})}, 'x.npy -o y.npy', "x%.npy")
ecase('empty file', {['x.npy'] = ''}, 'x.npy -o y.npy', "x%.npy")
ecase('huge header length', {['x.npy'] = npyf({28, 28, 1}, {hlen = 65535})}, 'x.npy -o y.npy', "x%.npy.*header")
ecase('extra bytes after data', {['x.npy'] = GOODIN .. 'junk'}, 'x.npy -o y.npy', "x%.npy")
ecase('a directory', {['x.npy/'] = true}, 'x.npy -o y.npy', "x%.npy")
ecase('a missing file', {}, 'nothere.npy -o y.npy', "nothere%.npy")
ecase('PGM of the wrong size', {['x.pgm'] = 'P5\n27 28\n255\n' .. string.rep('\100', 27 * 28)}, 'x.pgm -o y.npy', "x%.pgm.*27")
ecase('ASCII PGM (P2)', {['x.pgm'] = 'P2\n28 28\n255\n' .. string.rep('1 ', 784) .. '\n'}, 'x.pgm -o y.npy', "x%.pgm.*P2")
ecase('truncated PGM', {['x.pgm'] = 'P5\n28 28\n255\n' .. string.rep('\100', 700)}, 'x.pgm -o y.npy', "x%.pgm.*trunc")
ecase('PGM maxval 0', {['x.pgm'] = 'P5\n28 28\n0\n' .. string.rep('\0', 784)}, 'x.pgm -o y.npy', "x%.pgm.*maxval")
ecase('PPM for a 1-channel model', {['x.ppm'] = 'P6\n28 28\n255\n' .. string.rep('\100', 784 * 3)}, 'x.ppm -o y.npy', "x%.ppm")
ecase('raw file of the wrong length', {['x.raw'] = f32n(783)}, 'x.raw -o y.npy', "x%.raw.*%d")
ecase('raw file not a multiple of 4', {['x.raw'] = f32n(784) .. 'ab'}, 'x.raw -o y.npy', "x%.raw")
ecase('-o into a non-existent directory', {['x.npy'] = GOODIN}, 'x.npy -o nodir/y.npy', "nodir/y%.npy", 'nodir/y.npy')
ecase('-o is a directory', {['x.npy'] = GOODIN, ['od/'] = true}, 'x.npy -o od', "od.*director", 'od')
ecase('unknown option', {['x.npy'] = GOODIN}, 'x.npy -o y.npy --frobnicate', "%-%-frobnicate")
ecase('no input argument', {}, '', "usage")
ecase('--bench 0', {['x.npy'] = GOODIN}, 'x.npy --bench 0', "bench")
ecase('--bench not a number', {['x.npy'] = GOODIN}, 'x.npy --bench lots', "bench")

-- Found as bugs when this suite was written, fixed since.
do
  local wf = wfiles(); wf['w/conv2d.kernel.npy'] = nil; wf['w/conv2d.kernel.npy/'] = true
  case{name = 'model: model is a directory', files = {['d.lua/'] = true}, cmd = '{C} build d.lua -o out',
    pat = "d%.lua.*director"}
  case{name = 'weights: a directory instead of a file', files = wf, cmd = WBUILD, pat = "conv2d%.kernel%.npy.*director"}
  case{name = 'onnx: output never produced', files = {['m.onnx'] = onnx_model{inputs = {X},
    outputs = {vinfo('Z', {1, 1, 4, 4})}, nodes = {node('Relu', 'relu_1', {'X'}, {'Y'})}}},
    cmd = '{C} build m.onnx -o out --no-exe', pat = "'z'"}
end

---------------------------------------------------------------- known bugs
-- tests/bad_inputs/known_bugs.lua returns function(helpers) -> list of cases (same fields plus
-- `bug`, a description); they run like the others but print KNOWN BUG and are not counted.
local known = dofile(ROOT .. '/tests/bad_inputs/known_bugs.lua'){
  model = model, npyf = npyf, npy = npy, f32 = f32, wfiles = wfiles, onnx_model = onnx_model,
  node = node, vinfo = vinfo, tensor = tensor, X = X, Y = Y, BUILD = BUILD, WBUILD = WBUILD,
  GOOD_ONNX = GOOD_ONNX, q = q, ROOT = ROOT }
local is_known = {}
for _, k in ipairs(known) do k.out = k.out == nil and 'out' or k.out; is_known[k.name] = k; cases[#cases + 1] = k end

---------------------------------------------------------------- driver
local t0 = os.time()
local EXEDIR = TMP .. '/exe'
local rc, log = sh(string.format('cd %s && timeout 60 %s build %s -o %s >build.log 2>&1', q(TMP), q(CNNC),
  q(ROOT .. '/examples/keras_mnist.lua'), q(EXEDIR)))
local EXE = EXEDIR .. '/mnist'
if rc ~= 0 then print('FAIL setup: could not build examples/keras_mnist.lua: ' .. (readf(TMP .. '/build.log') or '')) end

local function write_files(dir, files)
  for path, content in pairs(files) do
    local full = dir .. '/' .. path
    local parent = full:match('^(.*)/[^/]*/?$')
    if path:sub(-1) == '/' then sh('mkdir -p ' .. q(full))
    else sh('mkdir -p ' .. q(full:match('^(.*)/'))); writef(full, content) end
  end
end

local passed, failed, nknown = 0, 0, 0
local function check(c, dir)
  local cmd = c.cmd:gsub('{C}', q(CNNC)):gsub('{E}', q(EXE))
  local rc = sh(string.format('cd %s && timeout 20 %s >stdout.txt 2>stderr.txt', q(dir), cmd))
  local out, err = readf(dir .. '/stdout.txt') or '', readf(dir .. '/stderr.txt') or ''
  if VERBOSE then io.write(('--- %s [rc=%s]\n%s'):format(c.name, tostring(rc), err)) end
  local problems = {}
  if rc == 124 then problems[#problems + 1] = 'timed out (20 s)'
  elseif rc == 0 then problems[#problems + 1] = 'exit status 0'
  elseif rc >= 128 then problems[#problems + 1] = 'killed by signal ' .. (rc - 128) end
  if (out .. err):find('stack traceback', 1, true) or (out .. err):lower():find('internal error', 1, true) then
    problems[#problems + 1] = 'traceback/internal error in output' end
  if not err:lower():find(c.pat:lower()) then
    problems[#problems + 1] = ('stderr does not match %q: %q'):format(c.pat, (err:gsub('\n$', ''):sub(1, 300))) end
  if c.out then
    local p = dir .. '/' .. c.out
    local code = sh('test -f ' .. q(p) .. ' || test -n "$(ls -A ' .. q(p) .. ' 2>/dev/null)"')
    if code == 0 then problems[#problems + 1] = 'output left behind: ' .. c.out end
  end
  return problems
end

for i, c in ipairs(cases) do
  if not ONLY or c.name:find(ONLY, 1, true) then
    local dir = string.format('%s/case%03d', TMP, i)
    sh('mkdir -p ' .. q(dir))
    write_files(dir, c.files)
    local problems = check(c, dir)
    local k = is_known[c.name]
    if k then
      nknown = nknown + 1
      print(('KNOWN BUG %s: %s [%s]'):format(c.name, k.bug or '', #problems == 0 and 'now passes: remove it from known_bugs.lua' or table.concat(problems, '; ')))
    elseif #problems == 0 then passed = passed + 1
    else
      failed = failed + 1
      print(('FAIL %s: %s'):format(c.name, table.concat(problems, '; ')))
    end
  end
end

if not os.getenv('BAD_INPUTS_KEEP') then sh('rm -rf ' .. q(TMP)) else print('kept ' .. TMP) end
print(('bad_inputs: %d passed, %d failed'):format(passed, failed))
os.exit(failed > 0 and 1 or 0)
