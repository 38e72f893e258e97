-- cnnc.cli: the `cnnc` command (summary, build, run, test).
--
-- Parses arguments, calls the driver, prints results. Errors go to stderr as one line
-- naming the file, line and layer, and the exit status is non-zero; nothing is written
-- when compilation fails. Commands that build C call the system compiler here.

local driver = require 'cnnc.driver'
local util = require 'cnnc.util'

local M = {}

local USAGE = {
  main = [[
usage: cnnc <command> [options]

commands:
  summary MODEL            layer table, parameters, multiply-adds, memory plan, fusions
  build MODEL -o DIR       write DIR/NAME.c, DIR/NAME.h and build the executable DIR/NAME
  run MODEL INPUT          run the reference interpreter (double precision) on INPUT
  test MODEL               build a golden-output test program, run it, report errors
  convert MODEL -o M.lua   a Keras model as a Lua model file and .npy weights

`cnnc <command> --help` describes each command's options.
]],
  summary = [[
usage: cnnc summary MODEL [--weights DIR] [--bind NAME=FILE] [--no-fuse] [--name NAME]
                    [--target T] [--threads N] [--winograd auto|on|off] [--tune KEY=VALUE]
                    [--input-shape SIZES]

Prints the layers with their output shapes and parameter counts, the totals, the
multiply-adds, the activation arena the memory plan needs (next to the sum of all
activations) and which layers were fused into which. MODEL is a Lua model file, an
ONNX model or a Keras model (.h5, .keras, a .json configuration with --weights FILE),
recognised by its content (other frameworks' files are refused with what to do: export
them to ONNX); --bind NAME=FILE (repeatable) makes the ONNX graph input NAME the
constant tensor in FILE (a TensorProto .pb or a .npy), e.g. weights passed as inputs.
With a SIMD --target, the fused table also names the kernel each layer runs (direct
register tiles, Winograd, depthwise; see cnnc build --help).
--input-shape compiles the model for another input size (see cnnc build --help).
]],
  build = [[
usage: cnnc build MODEL -o DIR [--target T] [--threads N] [--winograd auto|on|off] [--name NAME]
                  [--weights DIR] [--no-fuse] [--backward] [--tune KEY=VALUE]...
                  [--cc CC] [--cflags FLAGS] [--blob|--no-blob] [--no-exe] [--dump PASS]
                  [--bind NAME=FILE] [--input-shape [NAME=]SIZES]

Writes DIR/NAME.c and DIR/NAME.h (NAME defaults to the model's name) and builds the
executable DIR/NAME with the runtime (libc and libm only).
  --target T      generic (portable C99, the default), sse4, avx2, avx512, neon, or
                  native (the best this machine has); the executable refuses to run
                  on a CPU without the target's instructions
  --weights DIR   read DIR/<layer>.<weight>.npy for every weight (Keras layouts)
  --bind NAME=FILE  ONNX models: compile graph input NAME as the constant in FILE
                  (TensorProto .pb or .npy); repeatable
  --input-shape [NAME=]SIZES  compile for another input size, e.g. a fully convolutional
                  network for larger images: a Lua model's input as H,W,C (or steps,C);
                  an ONNX model's input in ONNX order, with or without the batch axis
                  (3,512,512 or 1,3,512,512), also where the file leaves sizes symbolic;
                  NAME=SIZES for one of several ONNX inputs (repeatable)
  --threads N     a prediction runs on up to N POSIX threads, sharing the layers large
                  enough to gain from it: NAME_predict starts and joins them, the team
                  API (NAME_team_start) keeps them between predictions, and the
                  executable shares a batch's items between them; a model with no
                  layer to share links no pthreads (else -pthread); default 1
  --winograd W    SIMD targets: 3x3 stride-1 convolutions as Winograd F(2x2,3x3) or
                  F(4x4,3x3): auto (default: per layer, where a cost model says it is
                  faster than direct convolution), on (every such layer), off;
                  with --backward also their kernel gradients as F(3x3,2x2) or
                  F(3x3,4x4)
  --no-fuse       keep every layer separate: no fusion pass, and no pool computed in a
                  convolution's registers
  --backward      backward code too: NAME_backward gives the gradients of the input and
                  of every trainable weight, and the executable takes --grad-output
                  (Lua models; docs/gradients.md)
  --cc CC         C compiler (default: $CC or cc; for a target of another architecture,
                  such as neon on x86-64, $CNNC_CROSS_CC or aarch64-linux-gnu-gcc, whose
                  executable then runs under qemu-aarch64 -L /usr/aarch64-linux-gnu);
                  --cflags: flags (default -O2)
  --blob          weights in DIR/NAME.weights.bin, linked in as an object (ld -r -b binary,
                  GNU binutils), instead of C literals: small C, fast compiles; the
                  default for models with more than 1M weights (--no-blob forces literals)
  --no-exe        write the C files only
  --profile       also emit NAME_predict_profile, which times each step (the
                  executable's --profile N prints the median time of every layer)
  --dump PASS     print the graph after PASS (frontend, shape, fuse, select, plan) and
                  stop; `select` lists the kernel, loop plan, pool and threads of each layer
  --tune KEY=VALUE  set an experiment knob of the kernels' cost models (repeatable; the
                  generated banner lists those set); for measurements, not for daily use:
]] .. require('cnnc.tune').help() .. '\n',
  convert = [[
usage: cnnc convert MODEL -o OUT.lua [--weights-out DIR] [--weights FILE] [--name NAME]

Writes the Keras model MODEL (.h5, .keras, or a JSON configuration whose weights are
given with --weights FILE) as a Lua model file OUT.lua and its weights as DIR/<layer>.
<weight>.npy (Keras layouts; DIR defaults to OUT with _weights in place of .lua), so
that `cnnc build OUT.lua --weights DIR` computes what MODEL does. A Sequential model
becomes nn.Sequential, any other the Functional API (nn.Input, layer calls, nn.Model).
Nothing is written unless the model compiles.
]],
  run = [[
usage: cnnc run MODEL INPUT... [-o OUTPUT.npy]... [--weights DIR] [--bind NAME=FILE]
                [--input-shape [NAME=]SIZES] [--dtype float32|float64]
       cnnc run MODEL INPUT --grad-output DY.npy [-o DX.npy] [--weight-grads DIR]
                [--weights DIR] [--dtype float32|float64]

Runs the reference interpreter (plain loops, double precision) on INPUT (.npy, .pgm,
.ppm or raw float32; a leading batch dimension runs every item) and writes the outputs
as float32 .npy, or prints them without -o. A model with several inputs and outputs (or
none) takes one INPUT per input and -o once per output, both in the model's order.

With --grad-output, runs the backward pass instead (the gradient of the inference
function, docs/gradients.md): DY is the gradient of the output (the output's shape, with
a leading batch axis exactly when INPUT has one); -o writes the input gradient (INPUT's
shape) and --weight-grads DIR writes DIR/<layer>.<weight>.npy for every trainable weight
(kernel, bias, gamma, beta, ...; Keras shapes, as --weights reads them), summed over the
batch. Without either it prints the input gradient and each weight gradient's norm.
Lua models only.
  --dtype T       element type of the .npy files written: float32 (default) or float64
]],
}

local function die(msg, code)
  io.stderr:write('cnnc: ', msg, '\n')
  os.exit(code or 1)
end

local function fail_with(err)
  die(util.format_error(err), 1)
end

-- The options of command cmd: flags maps each option to 'value' (--opt VALUE or
-- --opt=VALUE), 'switch' (no value) or 'list' (a repeatable value, collected in order).
-- Returns the positional arguments and the options table. --help prints usage (default:
-- cmd's text here) and exits 0; a mistake is a message naming the option and exit 2.
-- Every command parses with this, `cnnc test` (cnnc.testgen) too.
function M.parse(argv, flags, cmd, usage)
  local pos, opt = {}, {}
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if a == '--help' or a == '-h' then
      io.write(usage or USAGE[cmd] or USAGE.main)
      os.exit(0)
    elseif a:sub(1, 1) == '-' and #a > 1 then
      local key, inline = a:match('^(%-%-?[%w-]+)=(.*)$')
      key = key or a
      local kind = flags[key]
      if not kind then die(string.format("%s: unknown option '%s' (see cnnc %s --help)", cmd, a, cmd), 2) end
      if kind == 'switch' then
        if inline then die(string.format('%s: option %s takes no value', cmd, key), 2) end
        opt[key] = true
      else
        local v = inline
        if not v then
          i = i + 1
          v = argv[i]
          if not v then die(string.format('%s: option %s needs a value', cmd, key), 2) end
        end
        if kind == 'list' then
          opt[key] = opt[key] or {}
          table.insert(opt[key], v)
        else
          opt[key] = v
        end
      end
    else
      pos[#pos + 1] = a
    end
    i = i + 1
  end
  return pos, opt
end
local parse = M.parse

-- binds: the --bind NAME=FILE values (or nil); shapes: the --input-shape values (or nil).
local function load_model(path, binds, shapes)
  local bound
  for _, spec in ipairs(binds or {}) do
    local name, t = driver.read_bind(spec)
    if not name then fail_with(t) end
    bound = bound or {}
    bound[name] = t
  end
  local shape
  for _, spec in ipairs(shapes or {}) do
    local sh, err = driver.read_input_shape(spec, shape)
    if not sh then fail_with(err) end
    shape = sh
  end
  local model, err = driver.load(path, { binds = bound, input_shape = shape })
  if not model then fail_with(err) end
  return model
end

local function dump_graph(g, pass)
  local report = require 'cnnc.report'
  io.write(string.format('graph %s after %s:\n', g.name, pass))
  if g.nodes[1] and g.nodes[1].shape then
    io.write(report.table(report.rows(g)), '\n')
  else
    for i, n in ipairs(g.nodes) do
      io.write(string.format('  %d %s %s <- %s\n', i, n.name, n.op, table.concat(n.inputs, ', ')))
    end
  end
  if g.plan then
    io.write(string.format('arena: %d floats = activations %d + scratch %d; all activations: %d floats\n',
      g.plan.arena_floats, g.plan.activation_floats, g.plan.scratch_floats, g.plan.total_floats))
    for _, n in ipairs(g.nodes) do
      local s = g.plan.storage[g.plan.root[n.name]]
      io.write(string.format('  %-24s %s\n', n.name, s.kind == 'arena' and ('arena + ' .. s.offset) or s.kind))
    end
  end
end

function M.summary(argv)
  local pos, opt = parse(argv, { ['--weights'] = 'value', ['--no-fuse'] = 'switch', ['--name'] = 'value',
    ['--bind'] = 'list', ['--target'] = 'value', ['--threads'] = 'value', ['--winograd'] = 'value',
    ['--tune'] = 'list', ['--input-shape'] = 'list' }, 'summary')
  if #pos ~= 1 then die('summary: expected one MODEL argument (see cnnc summary --help)', 2) end
  local model = load_model(pos[1], opt['--bind'], opt['--input-shape'])
  local r, err = driver.compile(model, { stop = 'plan', weights = opt['--weights'], fuse = not opt['--no-fuse'],
    name = opt['--name'], target = opt['--target'], winograd = opt['--winograd'], tune = opt['--tune'],
    threads = opt['--threads'] and (tonumber(opt['--threads']) or die('summary: --threads takes a number', 2)) })
  if not r then fail_with(err) end
  io.write(require('cnnc.summary').text(r), '\n')
end

local function shell_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
M.shell_quote = shell_quote
-- For the commands that live in their own modules (cnnc.convert).
M.parse, M.die, M.fail_with, M.load_model = parse, die, fail_with, load_model

function M.root()
  local src = debug.getinfo(1, 'S').source:sub(2)
  return (src:match('^(.*)/compiler/cnnc/[^/]*$') or '.')
end

-- The runtime files an executable links (runtime/), the CLI main first.
M.RUNTIME_SOURCES = { 'cnnc_main.c', 'cnnc_cli.c', 'cnnc_grad.c', 'cnnc_io.c', 'cnnc_npy.c', 'cnnc_pnm.c' }

-- The shell command that builds executable `out` from dir/NAME.c and the runtime. objs:
-- optional prebuilt objects of the model-independent runtime files (M.runtime_objects),
-- so test suites building many models compile those once.
function M.cc_command(dir, name, cc, cflags, out, objs)
  local rt = M.root() .. '/runtime'
  local srcs = {}
  for i, f in ipairs(M.RUNTIME_SOURCES) do
    if i == 1 or not objs then srcs[#srcs + 1] = shell_quote(rt .. '/' .. f) end
  end
  for _, o in ipairs(objs or {}) do srcs[#srcs + 1] = shell_quote(o) end
  local blob = io.open(dir .. '/' .. name .. '.weights.o', 'rb')
  if blob then blob:close(); srcs[#srcs + 1] = shell_quote(dir .. '/' .. name .. '.weights.o') end
  -- A model built with --threads uses POSIX threads; others depend on libc and libm only.
  local c = util.read_file(dir .. '/' .. name .. '.c') or ''
  if c:find('#include <pthread.h>', 1, true) then cflags = cflags .. ' -pthread' end
  -- ... and its executable runs on a team of threads kept for the whole run (NAME_team_*).
  local h = util.read_file(dir .. '/' .. name .. '.h') or ''
  if h:find('_team_start(', 1, true) then cflags = cflags .. ' -DCNNC_TEAM_API' end
  if h:find('_predict_profile(', 1, true) then cflags = cflags .. ' -DCNNC_PROFILE_API' end
  -- -iquote: a model named like a system header (math, string) must not shadow it.
  return string.format('%s -std=c99 %s -iquote %s -I %s -DCNNC_MODEL_HEADER=%s -DCNNC_MODEL=%s -DCNNC_MODEL_UC=%s '
    .. '%s %s -lm -o %s',
    cc, cflags, shell_quote(dir), shell_quote(rt), shell_quote('"' .. name .. '.h"'), name, name:upper(),
    table.concat(srcs, ' '), shell_quote(dir .. '/' .. name .. '.c'), shell_quote(out))
end

-- Blobs of this many bytes or more go to x86-64's large read-only section (below).
M.LARGE_BLOB = 2 ^ 30

-- For a model whose weights are in DIR/NAME.weights.bin, makes DIR/NAME.weights.o: the
-- bytes as a read-only, 64-byte aligned section defining _binary_NAME_weights_bin_start.
-- Uses the linker and objcopy of the C compiler's toolchain. Returns the object path, false
-- when the model has no blob, or nil, message. On x86-64 a blob of 1 GB or more is put in
-- .lrodata, which the linker places after all other data: in .rodata it would sit between
-- the code and .data/.bss, and a blob over 2 GB (vit_h_14, regnet_y_128gf) would put them
-- beyond the reach of the 32-bit displacements of the default code model ("relocation
-- truncated to fit"). The code reaches into the blob by pointer arithmetic, which GCC
-- does not fold into a displacement beyond 16 MB.
function M.blob_object(dir, name, cc)
  local bin = name .. '.weights.bin'
  local f = io.open(dir .. '/' .. bin, 'rb')
  if not f then return false end
  local size = f:seek('end')
  f:close()
  local section = '.rodata'
  if size and size >= M.LARGE_BLOB then
    local p = io.popen(string.format('%s -dumpmachine 2>/dev/null', cc))
    local machine = p and p:read('*l') or ''
    if p then p:close() end
    if machine:match('^x86_64') then section = '.lrodata' end
  end
  local function tool(prog)
    local p = io.popen(string.format('%s -print-prog-name=%s 2>/dev/null', cc, prog))
    local path = p and p:read('*l') or prog
    if p then p:close() end
    return (path and path ~= '') and path or prog
  end
  local obj = name .. '.weights.o'
  local cmd = string.format('cd %s && %s -r -b binary -o %s.tmp %s && %s --rename-section '
    .. '.data=%s,alloc,load,readonly,data,contents --set-section-alignment .data=64 --add-section .note.GNU-stack=/dev/null %s.tmp %s 2>&1; '
    .. 'echo "cnnc-status:$?"', shell_quote(dir), tool('ld'), obj, bin, tool('objcopy'), section, obj, obj)
  local p = io.popen(cmd)
  local out = p:read('*a')
  p:close()
  os.remove(dir .. '/' .. obj .. '.tmp')
  if not out:match('cnnc%-status:0%s*$') then
    return nil, 'cannot turn ' .. bin .. ' into an object file:\n' .. cmd .. '\n' .. out
  end
  return dir .. '/' .. obj
end

-- Compiles the model-independent runtime files into objects in dir; returns their paths
-- or nil, message.
-- The runtime's objects are the same for every model built with the same compiler and
-- flags: they are kept in the cache directory (cnnc.ffi.build.cache_dir()/runtime/<key>,
-- key: SHA-256 of the compiler's --version, the command, and every runtime source and
-- header), so only the first build with a compiler and flags compiles them. A cache that
-- cannot be read or written is skipped silently: the objects are then compiled in dir.
local function runtime_cache(cc, cflags)
  local ok, root = pcall(function() return require('cnnc.ffi.build').cache_dir() end)
  if not ok or not root then return nil end
  local rt = M.root() .. '/runtime'
  local p = io.popen(cc .. ' --version 2>&1')
  local parts = { 'cnnc runtime objects 1', cc, cflags, p and p:read('*a') or '' }
  if p then p:close() end
  local ls = io.popen('ls ' .. shell_quote(rt) .. ' 2>/dev/null')
  if not ls then return nil end
  for f in ls:lines() do
    if f:match('%.[ch]$') then parts[#parts + 1] = f .. '\0' .. (util.read_file(rt .. '/' .. f) or '') end
  end
  ls:close()
  local key = require('cnnc.ffi.sha256')(table.concat(parts, '\0'))
  return root .. '/runtime/' .. key:sub(1, 24)
end

function M.runtime_objects(dir, cc, cflags)
  local rt = M.root() .. '/runtime'
  local cache = runtime_cache(cc, cflags)
  if cache and not os.execute('mkdir -p ' .. shell_quote(cache) .. ' 2>/dev/null') then cache = nil end
  local objs = {}
  for i = 2, #M.RUNTIME_SOURCES do
    local f = M.RUNTIME_SOURCES[i]
    local o = (cache or dir) .. '/' .. f:gsub('%.c$', '.o')
    local have = cache and io.open(o, 'rb')
    if have then
      have:close()
    else
      -- into the cache under a temporary name, then renamed: readers never see half
      local tmp = cache and (o .. '.tmp' .. tostring(os.time()) .. tostring(math.random(1e9))) or o
      local cmd = string.format('%s -std=c99 %s -I %s -c %s -o %s 2>&1; echo "cnnc-status:$?"', cc, cflags,
        shell_quote(rt), shell_quote(rt .. '/' .. f), shell_quote(tmp))
      local p = io.popen(cmd)
      local log = p:read('*a')
      p:close()
      if not log:match('cnnc%-status:0%s*$') then
        if cache then os.remove(tmp) end
        return nil, log
      end
      if cache and not os.rename(tmp, o) then os.remove(tmp); return nil, 'cannot write ' .. o end
    end
    objs[#objs + 1] = o
  end
  return objs
end

-- Builds the executable for generated files in dir. Returns its path or nil, message.
function M.cc_executable(dir, name, cc, cflags)
  local blob, berr = M.blob_object(dir, name, cc)
  if blob == nil then return nil, berr end
  local exe = dir .. '/' .. name
  local tmp = exe .. '.tmp'
  -- the runtime's objects from the cache (or compiled now); if they do not compile, the
  -- one command below compiles everything and reports the error
  local objs = M.runtime_objects(dir, cc, cflags)
  local cmd = M.cc_command(dir, name, cc, cflags, tmp, objs)
  -- LuaJIT's popen:close() does not report the exit status: the shell echoes it.
  local p = io.popen(cmd .. ' 2>&1; echo "cnnc-status:$?"')
  local out = p:read('*a')
  p:close()
  local status = tonumber(out:match('cnnc%-status:(%d+)%s*$'))
  out = out:gsub('cnnc%-status:%d+%s*$', '')
  if status ~= 0 then
    os.remove(tmp)
    return nil, 'the C compiler failed:\n' .. cmd .. '\n' .. out
  end
  local rok, rerr = os.rename(tmp, exe)
  if not rok then return nil, rerr end
  return exe
end

function M.build(argv)
  local pos, opt = parse(argv, {
    ['-o'] = 'value', ['--name'] = 'value', ['--weights'] = 'value', ['--no-fuse'] = 'switch',
    ['--cc'] = 'value', ['--cflags'] = 'value', ['--no-exe'] = 'switch', ['--dump'] = 'value',
    ['--target'] = 'value', ['--blob'] = 'switch', ['--no-blob'] = 'switch', ['--bind'] = 'list', ['--threads'] = 'value',
    ['--winograd'] = 'value', ['--tune'] = 'list', ['--profile'] = 'switch', ['--backward'] = 'switch',
    ['--input-shape'] = 'list',
  }, 'build')
  if #pos ~= 1 then die('build: expected one MODEL argument (see cnnc build --help)', 2) end
  if opt['--name'] and not opt['--name']:match('^[%a_][%w_]*$') then
    die("build: --name must be a C identifier, got '" .. opt['--name'] .. "'", 2)
  end
  local dump = opt['--dump']
  if dump and not ({ frontend = 1, shape = 1, fuse = 1, select = 1, plan = 1 })[dump] then
    die('build: --dump takes frontend, shape, fuse, select or plan', 2)
  end
  if not dump and not opt['-o'] then die('build: -o DIR is required (see cnnc build --help)', 2) end
  local model = load_model(pos[1], opt['--bind'], opt['--input-shape'])
  local r, err = driver.compile(model, { weights = opt['--weights'], fuse = not opt['--no-fuse'],
    name = opt['--name'], source = pos[1], stop = dump, target = opt['--target'],
    blob = (opt['--blob'] and true) or (opt['--no-blob'] and false) or 'auto', winograd = opt['--winograd'],
    tune = opt['--tune'], profile = opt['--profile'], backward = opt['--backward'],
    threads = opt['--threads'] and (tonumber(opt['--threads']) or die('build: --threads takes a number', 2)) })
  if not r then fail_with(err) end
  if dump then
    if dump == 'select' then
      io.write(require('cnnc.passes.select').describe(r.selected), '\n')
      return
    end
    local g = ({ frontend = r.graph, shape = r.typed, fuse = r.fused, plan = r.planned })[dump]
    dump_graph(g, dump)
    return
  end
  local dir = opt['-o']
  local mk = os.execute('mkdir -p ' .. shell_quote(dir))
  if mk ~= 0 and mk ~= true then die('build: cannot create directory ' .. dir) end
  local c_path, werr = driver.write_c(r, dir)
  if not c_path then fail_with(werr) end
  io.write('wrote ', c_path, ' and ', dir .. '/' .. r.planned.name .. '.h', '\n')
  if opt['--no-exe'] then return end
  local exe, cerr = M.cc_executable(dir, r.planned.name, require('cnnc.toolchain').cc(r.target, opt['--cc']),
    opt['--cflags'] or '-O2')
  if not exe then die(cerr) end
  io.write('built ', exe, '\n')
  local toolchain = require 'cnnc.toolchain'
  if toolchain.is_cross(r.target) then
    io.write(string.format('(an %s executable; on this %s machine run it as: %s%s)\n', r.target.arch,
      require('cnnc.targets').host_arch(), toolchain.run_prefix(r.target), exe))
  end
end

function M.run(argv)
  local pos, opt = parse(argv, { ['-o'] = 'list', ['--weights'] = 'value', ['--bind'] = 'list',
    ['--grad-output'] = 'value', ['--weight-grads'] = 'value', ['--dtype'] = 'value',
    ['--input-shape'] = 'list' }, 'run')
  if #pos < 1 then die('run: expected MODEL and INPUT (see cnnc run --help)', 2) end
  local dtype = opt['--dtype'] or 'float32'
  if dtype ~= 'float32' and dtype ~= 'float64' then die("run: --dtype takes float32 or float64, got '" .. dtype .. "'", 2) end
  if opt['--weight-grads'] and not opt['--grad-output'] then
    die('run: --weight-grads needs --grad-output (the gradient of the output)', 2)
  end
  if opt['--grad-output'] then require('cnnc.cli_grad').check_options(opt, die) end
  local model = load_model(pos[1], opt['--bind'], opt['--input-shape'])
  local r, err = driver.compile(model, { stop = 'shape', weights = opt['--weights'] })
  if not r then fail_with(err) end
  if opt['--grad-output'] then return require('cnnc.cli_grad').run(model, r, pos, opt, die) end
  local npy = require 'cnnc.npy'
  local runner = require 'cnnc.runner'
  local ir = require 'cnnc.ir'
  local outs = opt['-o'] or {}
  if ir.is_multi(r.typed) then
    -- One INPUT per model input, -o once per output (or none).
    local tensors = ir.io(r.typed)
    if #pos - 1 ~= #tensors.inputs then
      die(string.format('run: the model takes %d input file%s (one per input), got %d', #tensors.inputs,
        #tensors.inputs == 1 and '' or 's', #pos - 1), 2)
    end
    if #outs ~= 0 and #outs ~= #tensors.outputs then
      die(string.format('run: give -o once per output (%d), or not at all; got %d', #tensors.outputs, #outs), 2)
    end
    local xs = {}
    for k = 2, #pos do
      local x, xerr = npy.read_input(pos[k])
      if not x then die(xerr) end
      xs[k - 1] = x
    end
    local ys, rerr = runner.run_tensors(r.typed, xs, { unpack(pos, 2) }, dtype == 'float64' and 'double' or nil)
    if not ys then fail_with(rerr) end
    if #outs == 0 then io.write(runner.format_tensors(ys, r.typed), '\n') end
    for k, path in ipairs(outs) do
      local ok, werr = npy.write(path, ys[k], dtype)
      if not ok then die(werr) end
      io.write('wrote ', path, ' ', util.shape_str(ys[k].shape), '\n')
    end
    return
  end
  if #pos ~= 2 then die('run: expected MODEL and INPUT (see cnnc run --help)', 2) end
  if #outs > 1 then die('run: -o given twice', 2) end
  local x, xerr = npy.read_input(pos[2])
  if not x then die(xerr) end
  local out, rerr = runner.run_batch(r.typed, x, pos[2], dtype == 'float64' and 'double' or nil)
  if not out then fail_with(rerr) end
  if outs[1] then
    local ok, werr = npy.write(outs[1], out, dtype)
    if not ok then die(werr) end
    io.write('wrote ', outs[1], ' ', util.shape_str(out.shape), '\n')
  else
    io.write(runner.format(out, r.typed), '\n')
  end
end

function M.main(argv)
  local cmd = argv[1]
  if not cmd or cmd == '--help' or cmd == '-h' or cmd == 'help' then
    io.write(USAGE.main)
    os.exit(cmd and 0 or 2)
  end
  local rest = { unpack(argv, 2) }
  if cmd == 'summary' then return M.summary(rest) end
  if cmd == 'build' then return M.build(rest) end
  if cmd == 'run' then return M.run(rest) end
  if cmd == 'test' then return require('cnnc.testgen').main(rest) end
  if cmd == 'convert' then return require('cnnc.convert').main(rest) end
  die("unknown command '" .. cmd .. "' (commands: summary, build, run, test, convert)", 2)
end

return M
