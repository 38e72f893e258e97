-- cnnc.testgen: the `cnnc test` command, golden-output tests of a compiled model.
--
-- Compiles the model, takes test inputs (a user's .npy, or seeded random ones) and
-- expected outputs (a user's .npy, e.g. exported from the training framework, or else
-- the reference interpreter's), and writes two standalone C programs beside the model C:
-- NAME_test.c (Criterion, one test per input item) and NAME_test_plain.c (no framework,
-- for a deployment target). Inputs and expected outputs are embedded as exact hex-float
-- literals, so the programs need only NAME.c and NAME.h; test sets above MAX_EMBEDDED
-- floats are refused rather than written beside as files. The command then builds and
-- runs both programs; the plain one prints the report (max abs/rel error and ULP
-- distance per output item, with the element where each is worst).
-- The C text comes from templates/test_plain.c and templates/test_criterion.c; this file
-- checks what the user gave, renders, writes, and calls the C compiler.

local driver = require 'cnnc.driver'
local emit = require 'cnnc.emit'
local npy = require 'cnnc.npy'
local template = require 'cnnc.template'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

-- Inputs plus expected outputs, in floats, that the test programs may embed (16 MB of
-- data, about 70 MB of C per program).
M.MAX_EMBEDDED = 4 * 1024 * 1024
M.MAX_COUNT = 1000000
M.CRITERION_HEADER = '/usr/include/criterion/criterion.h' -- as the usage says

M.USAGE = [==[
usage: cnnc test MODEL [--weights DIR] [--inputs X.npy [--expect Y.npy]]
                 [--count N] [--seed S] [--atol A] [--rtol R] [-o DIR] [--name NAME]
                 [--target T] [--no-fuse] [--cc CC] [--cflags FLAGS] [--no-run] [--no-build]

Golden-output test of the compiled model. Writes into DIR the model (NAME.c, NAME.h),
a Criterion test program NAME_test.c and a plain-C variant without a test framework,
NAME_test_plain.c (for a deployment target: prints the report, exits 1 on failure).
Both feed NAME_predict the test inputs and compare its outputs with the expected ones,
which they embed as exact hex-float literals, so they need only NAME.c and NAME.h.
Then builds both (NAME_test with -lcriterion, and only if
/usr/include/criterion/criterion.h exists), runs them and reports, for each output
item, the max abs error, max rel error (over expected values other than 0) and max
ULP distance, each with the element where it is worst. An element passes iff
|got - expected| <= atol + rtol * |expected|; NaN matches only NaN.
  --weights DIR   read DIR/<layer>.<weight>.npy for every weight (Keras layouts)
  --inputs X.npy  test inputs: one item (the model's input shape) or a batch (a leading
                  dimension); .pgm/.ppm images and raw float32 files work too
  --expect Y.npy  expected outputs of --inputs: the model's output shape, with the same
                  leading batch dimension if the inputs have one (default: computed by
                  the reference interpreter in double precision, rounded to float32)
  --count N       without --inputs: N random inputs (default 4), uniform in [0, 1)
  --seed S        the seed of the random inputs (default 0)
  --atol A        absolute tolerance (default 1e-5)
  --rtol R        relative tolerance (default 1e-4)
  -o DIR          output directory (default: NAME_test in the current directory)
  --name NAME     the model's C name (default: the model's name)
  --target T      the instruction set to compile the model for, as in cnnc build
                  (default generic); on a CPU without it the programs say so and fail;
                  a target of another architecture (neon on x86-64) is cross-compiled and
                  run under emulation as cnnc build describes (no Criterion program)
  --no-fuse       test the model compiled without the fusion pass
  --cc CC         C compiler (default: $CC or cc, or the target's cross compiler);
                  --cflags: flags (default -O2)
  --no-run        build the test programs but do not run them
  --no-build      write the C files only (implies --no-run)
The test programs embed at most 4194304 floats (4 Mi) of inputs plus expected outputs;
larger test sets are refused: use fewer items.
Exit status: 0 pass; 1 an element beyond tolerance, a failed build or a bad file;
2 a usage error.
]==]

local FLAGS = {
  ['--weights'] = 'value', ['--inputs'] = 'value', ['--expect'] = 'value', ['--count'] = 'value',
  ['--seed'] = 'value', ['--atol'] = 'value', ['--rtol'] = 'value', ['-o'] = 'value',
  ['--name'] = 'value', ['--no-fuse'] = 'switch', ['--cc'] = 'value', ['--cflags'] = 'value',
  ['--no-run'] = 'switch', ['--no-build'] = 'switch', ['--target'] = 'value',
}

local function die(msg, code)
  io.stderr:write('cnnc: test: ', msg, '\n')
  os.exit(code or 1)
end

local cli = require 'cnnc.cli'
local shell_quote = cli.shell_quote

local function tolerance(opt, key, default)
  local s = opt[key]
  if not s then return default end
  local v = tonumber(s)
  if not v or v ~= v or v < 0 or v == math.huge then
    die(string.format("%s must be a finite number >= 0, got '%s'", key, s), 2)
  end
  return v
end

local function whole(opt, key, default, lo, hi)
  local s = opt[key]
  if not s then return default end
  local v = tonumber(s)
  if not v or v ~= math.floor(v) or v < lo or v > hi then
    die(string.format("%s must be a whole number from %d to %.0f, got '%s'", key, lo, hi, s), 2)
  end
  return v
end

-- Checked options: {model, weights, inputs, expect, count, seed, atol, rtol, dir, name,
-- fuse, target, cc, cflags, build, run}. Usage errors exit with status 2.
local function options(argv)
  local pos, opt = cli.parse(argv, FLAGS, 'test', M.USAGE)
  if #pos ~= 1 then die('expected one MODEL argument (see cnnc test --help)', 2) end
  local o = {
    model = pos[1], weights = opt['--weights'], inputs = opt['--inputs'], expect = opt['--expect'],
    atol = tolerance(opt, '--atol', 1e-5), rtol = tolerance(opt, '--rtol', 1e-4),
    count = whole(opt, '--count', 4, 1, M.MAX_COUNT), seed = whole(opt, '--seed', 0, 0, 2^53),
    dir = opt['-o'], name = opt['--name'], fuse = not opt['--no-fuse'], target = opt['--target'],
    cc = opt['--cc'], cflags = opt['--cflags'] or '-O2',
    build = not opt['--no-build'], run = not (opt['--no-run'] or opt['--no-build']),
  }
  if o.name and not o.name:match('^[%a_][%w_]*$') then
    die("--name must be a C identifier, got '" .. o.name .. "'", 2)
  end
  if o.inputs and (opt['--count'] or opt['--seed']) then
    die('--count and --seed make random inputs; they cannot be combined with --inputs', 2)
  end
  if o.expect and not o.inputs then
    die('--expect needs --inputs (the expected outputs of which inputs?)', 2)
  end
  if o.dir == '' then die('-o needs a directory name', 2) end
  return o
end

local function batched_shape(b, shape)
  local s = util.copy(shape)
  table.insert(s, 1, b)
  return s
end

-- The user's inputs as (B, input shape). A raw float32 file is a flat run of items.
local function read_inputs(path, ishape)
  local x, err = npy.read_input(path)
  if not x then die(err) end
  local n_in = util.prod(ishape)
  local raw = not (path:lower():match('%.npy$') or path:lower():match('%.p[gp]m$'))
  local b
  if util.shape_eq(x.shape, ishape) then
    b = 1
  elseif #x.shape == #ishape + 1 and util.shape_eq({ unpack(x.shape, 2) }, ishape) then
    b = x.shape[1]
  elseif raw and x.n % n_in == 0 then
    b = x.n / n_in
  else
    die(string.format('--inputs %s has shape %s, but the model takes %s (one item) or %s (a batch of B items)',
      path, util.shape_str(x.shape), util.shape_str(ishape), util.shape_str(batched_shape('B', ishape))))
  end
  if b == 0 then die(string.format('--inputs %s has no items (shape %s)', path, util.shape_str(x.shape))) end
  local batched = not util.shape_eq(x.shape, ishape)
  x.shape = batched_shape(b, ishape)
  return x, string.format('the %d item%s of %s', b, b == 1 and '' or 's', path), batched
end

-- count items uniform in [0, 1) on a 2^-24 grid (exact float32 values below 1).
local function random_inputs(ishape, count, seed)
  local rng = require('cnnc.initializers').rng(seed, 'cnnc test inputs')
  local x = tensor.new(batched_shape(count, ishape), 'float')
  for i = 0, x.n - 1 do x.data[i] = math.floor(rng:uniform() * 2^24) * 2^-24 end
  return x, string.format('random, uniform in [0, 1) from seed %.0f', seed)
end

-- The user's expected outputs as (B, output shape): the output shape with the inputs'
-- batch dimension, or without it for a single item.
local function read_expected(path, oshape, b, batched, inputs)
  local y, err = npy.read(path)
  if not y then die(err) end
  local want = batched_shape(b, oshape)
  if not (util.shape_eq(y.shape, want) or (b == 1 and util.shape_eq(y.shape, oshape))) then
    die(string.format('--expect %s has shape %s, but the model gives %s for the %s %s',
      path, util.shape_str(y.shape), util.shape_str(batched and want or oshape),
      batched and string.format('batch of %d in', b) or 'one item in', inputs))
  end
  y.shape = want
  return y, path
end

-- The shortest decimal that reads back as v, for comments.
local function shortest(v)
  for digits = 1, 17 do
    local s = string.format('%.' .. digits .. 'g', v)
    if tonumber(s) == v then return s end
  end
end

local function literal(v)
  if v ~= v then return 'NAN' end
  if v == math.huge then return 'INFINITY' end
  if v == -math.huge then return '-INFINITY' end
  return emit.float_literal(v)
end

-- The initializer rows of t: 8 literals a line, each item under a comment. Lines after
-- the first carry the indentation of the hole they fill (the values are put in after
-- re-indenting, which would otherwise take longer than everything else).
local DATA_INDENT = '    '
local function values_text(t, per_item)
  local lines = {}
  for item = 0, t.n / per_item - 1 do
    lines[#lines + 1] = string.format('/* item %d */', item)
    local row = {}
    for k = item * per_item, (item + 1) * per_item - 1 do
      row[#row + 1] = literal(t.data[k])
      if #row == 8 then lines[#lines + 1] = table.concat(row, ', ') .. ','; row = {} end
    end
    if #row > 0 then lines[#lines + 1] = table.concat(row, ', ') .. ',' end
  end
  return table.concat(lines, '\n' .. DATA_INDENT)
end

-- Puts the values into their holes, each alone on a line at DATA_INDENT, of re-indented
-- text (a plain search: a '$' in a file name elsewhere in the text stays as it is).
local function fill_values(text, values, what)
  for _, hole in ipairs({ 'inputs', 'expected' }) do
    local line = '\n' .. DATA_INDENT .. '$' .. hole .. '\n'
    local a, b = text:find(line, 1, true)
    if not a then error('cnnc: ' .. what .. ': no line for the values $' .. hole) end
    text = text:sub(1, a + #DATA_INDENT) .. values[hole] .. text:sub(b)
  end
  return text
end

-- Text that goes into a C comment (a file name) must not end it.
local function comment_safe(s) return (s:gsub('%*/', '* /')) end

-- The two test programs for the planned graph g. t: {inputs = (B, in) tensor,
-- expected = (B, out) tensor, atol, rtol, inputs_origin, expected_origin, source}.
-- Returns plain_text, criterion_text.
function M.render(g, t)
  local name = g.name
  local ishape, oshape = t.inputs.shape, t.expected.shape
  local items = ishape[1]
  local n_in, n_out = util.prod(ishape, 2), util.prod(oshape, 2)
  local in_shape, out_shape = util.shape_str({ unpack(ishape, 2) }), util.shape_str({ unpack(oshape, 2) })
  local function banner(file, extra)
    local vars = { file = file, version = emit.VERSION, source = comment_safe(t.source), name = name,
      header = name .. '.h', inputs_origin = comment_safe(t.inputs_origin),
      expected_origin = comment_safe(t.expected_origin) }
    for k, v in pairs(extra) do vars[k] = v end
    return vars
  end
  local data = template.section('test_plain', 'data', {
    UC = name:upper(), header = name .. '.h', items = items, input_size = n_in, output_size = n_out,
    atol = string.format('%a', t.atol), atol_text = shortest(t.atol),
    rtol = string.format('%a', t.rtol), rtol_text = shortest(t.rtol),
    input_shape = in_shape, output_shape = out_shape,
    inputs_origin = comment_safe(t.inputs_origin), expected_origin = comment_safe(t.expected_origin),
    inputs = '$inputs', expected = '$expected',
  })
  local values = { inputs = values_text(t.inputs, n_in), expected = values_text(t.expected, n_out) }
  local compare = template.section('test_plain', 'compare', { UC = name:upper() })

  local plain = fill_values(template.reindent(table.concat({
    template.section('test_plain', 'banner', banner(name .. '_test_plain.c', { items = items })),
    data, compare,
    template.section('test_plain', 'main', { name = name, UC = name:upper() }),
  }, '\n\n')), values, name .. '_test_plain.c')

  local tests = {}
  for i = 0, items - 1 do tests[#tests + 1] = template.section('test_criterion', 'test', { name = name, item = i }) end
  local criterion = fill_values(template.reindent(table.concat({
    template.section('test_criterion', 'banner', banner(name .. '_test.c', { last = items - 1 })),
    data, compare,
    template.section('test_criterion', 'check', { name = name, UC = name:upper() }),
    table.concat(tests, '\n'),
  }, '\n\n')), values, name .. '_test.c')
  return plain, criterion
end

-- Runs a shell command; returns its exit status and its output (stdout and stderr).
local function run_cmd(cmd)
  local p = io.popen(cmd .. ' 2>&1; echo "cnnc-exit-status:$?"')
  local out = p:read('*a')
  p:close()
  local status = tonumber(out:match('cnnc%-exit%-status:(%d+)%s*$')) or 255
  return status, (out:gsub('cnnc%-exit%-status:%d+%s*$', ''))
end

-- Compiles (object = true: to an object file) through a temporary file and a rename.
local function compile(o, target, srcs, libs, object)
  local q = {}
  for i, s in ipairs(srcs) do q[i] = shell_quote(s) end
  local tmp = target .. '.tmp'
  local cmd = string.format('%s -std=c99 %s -I %s %s %s%s -o %s', o.cc, o.cflags, shell_quote(o.dir),
    object and '-c' or '', table.concat(q, ' '), libs, shell_quote(tmp))
  local status, out = run_cmd(cmd)
  if status ~= 0 then
    os.remove(tmp)
    die(string.format('the C compiler failed (status %d) on %s:\n%s\n%s', status, srcs[1], cmd, out))
  end
  local ok, err = os.rename(tmp, target)
  if not ok then die('cannot write ' .. target .. ': ' .. tostring(err)) end
end

local function write(path, text)
  local ok, err = util.write_if_changed(path, text)
  if not ok then die('cannot write ' .. path .. ': ' .. tostring(err)) end
end

function M.main(argv)
  local o = options(argv)
  local model, lerr = driver.load(o.model)
  if not model then die(util.format_error(lerr)) end
  local r, err = driver.compile(model, { weights = o.weights, fuse = o.fuse, name = o.name, source = o.model,
    target = o.target })
  if not r then die(util.format_error(err)) end
  local toolchain = require 'cnnc.toolchain'
  o.cc = toolchain.cc(r.target, o.cc)
  local g = r.planned
  local ir = require 'cnnc.ir'
  local ishape, oshape = g.input and g.input.shape, g.output and ir.shape_of(g, g.output)
  if ir.is_multi(g) then
    -- Several inputs or outputs: the test works on the whole input and output buffers
    -- (each item's inputs, and outputs, one after another).
    local io = ir.io(g)
    if io.input_size == 0 or io.output_size == 0 then
      die('cnnc test needs a model with input and output values; this one has none in its '
        .. (io.input_size == 0 and 'input' or 'output'))
    end
    ishape, oshape = { io.input_size }, { io.output_size }
  end

  local x, inputs_origin, batched, y, expected_origin
  if o.inputs then
    x, inputs_origin, batched = read_inputs(o.inputs, ishape)
  else
    x, inputs_origin = random_inputs(ishape, o.count, o.seed)
  end
  local items = x.shape[1]
  local total = items * (util.prod(ishape) + util.prod(oshape))
  if total > M.MAX_EMBEDDED then
    die(string.format('%d items of %d input and %d output floats make %d floats, more than the %d the test '
      .. 'programs embed; use fewer items', items, util.prod(ishape), util.prod(oshape), total, M.MAX_EMBEDDED))
  end
  if o.expect then
    y, expected_origin = read_expected(o.expect, oshape, items, batched, o.inputs)
  else
    local rerr
    y, rerr = require('cnnc.runner').run_batch(r.typed, x, o.inputs)
    if not y then die(util.format_error(rerr)) end
    expected_origin = 'computed by the cnnc reference interpreter (double precision, rounded to float32)'
  end

  local plain, criterion = M.render(g, { inputs = x, expected = y, atol = o.atol, rtol = o.rtol,
    inputs_origin = inputs_origin, expected_origin = expected_origin, source = o.model })

  local name = g.name
  o.dir = o.dir or (name .. '_test')
  local mk = os.execute('mkdir -p ' .. shell_quote(o.dir) .. ' 2>/dev/null')
  if not (mk == 0 or mk == true) then die('cannot create directory ' .. o.dir) end
  local base = o.dir .. '/' .. name
  local c_path, werr = driver.write_c(r, o.dir)
  if not c_path then die(util.format_error(werr)) end
  write(base .. '_test_plain.c', plain)
  write(base .. '_test.c', criterion)
  io.write(string.format('wrote %s.c, %s.h, %s_test.c and %s_test_plain.c (%d item%s)\n', base, base, base, base,
    items, items == 1 and '' or 's'))
  if not o.build then return end

  -- Criterion is a library of this machine: a cross-compiled test has the plain program only.
  local cross = toolchain.is_cross(r.target)
  local has_criterion = not cross and io.open(M.CRITERION_HEADER, 'rb')
  if has_criterion then has_criterion:close() end
  compile(o, base .. '.o', { base .. '.c' }, '', true)
  local objs = { base .. '.o' }
  local blob, berr = cli.blob_object(o.dir, name, o.cc)
  if blob == nil then die(berr) end
  if blob then objs[2] = blob end
  compile(o, base .. '_test_plain', { base .. '_test_plain.c', unpack(objs) }, ' -lm')
  if has_criterion then
    compile(o, base .. '_test', { base .. '_test.c', unpack(objs) }, ' -lcriterion -lm')
    io.write(string.format('built %s_test_plain and %s_test\n', base, base))
  else
    io.write(string.format('built %s_test_plain; skipped the Criterion program %s_test.c (%s)\n',
      base, base, cross and ('no Criterion library for ' .. r.target.arch) or ('no ' .. M.CRITERION_HEADER)))
  end
  if not o.run then return end

  local failed = {}
  local status, out = run_cmd(toolchain.run_prefix(r.target) .. shell_quote(base .. '_test_plain'))
  io.write(out)
  if status == 1 then
    failed[#failed + 1] = 'outputs beyond tolerance (the report above names the worst elements)'
  elseif status ~= 0 then
    failed[#failed + 1] = string.format('%s_test_plain exited with status %d', base, status)
  end
  if has_criterion then
    local cstatus, cout = run_cmd(shell_quote(base .. '_test'))
    io.write(string.format('%s_test (Criterion):\n', base), cout)
    if cstatus ~= 0 then failed[#failed + 1] = string.format('%s_test (Criterion) exited with status %d', base, cstatus) end
  end
  io.flush()
  if #failed > 0 then
    die(string.format('%s: FAIL: %s', name, table.concat(failed, '; ')))
  end
  io.write(string.format('test: %s: PASS (%d item%s within |got - expected| <= %g + %g * |expected|)\n',
    name, items, items == 1 and '' or 's', o.atol, o.rtol))
end

return M
