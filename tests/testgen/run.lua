-- Tests of `cnnc test` (compiler/cnnc/testgen.lua), end to end through bin/cnnc.
--
-- usage: sh tests/testgen/run.sh  or  luajit tests/testgen/run.lua  (from anywhere; KEEP=1
-- keeps the work dir)
--
-- Generates, builds and runs golden-output test programs for the MNIST example (random
-- inputs, reference outputs), for golden cases with --inputs/--expect, for deliberately
-- wrong expected files and for exact comparison semantics (the identity model in this
-- directory: -0, ULPs across zero, NaN, infinities); compiles both generated programs
-- with -std=c99 -Wall -Wextra -Werror -pedantic under gcc and clang; checks that user
-- errors print `cnnc: test: ...`, exit non-zero and write nothing. Environment: CC for the
-- default compiler. The last line is `testgen: N passed, M failed`; exits 1 on failure.

local here = debug.getinfo(1, 'S').source:sub(2):match('^(.*)/[^/]*$') or '.'
local root = io.popen('cd ' .. here .. '/../.. && pwd'):read('*l')
package.path = root .. '/compiler/?.lua;' .. package.path

local ffi = require 'ffi'
local npy = require 'cnnc.npy'
local tensor = require 'cnnc.tensor'

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local work = io.popen('mktemp -d /tmp/cnnc-testgen.XXXXXX'):read('*l')
local cnnc = q(root .. '/bin/cnnc')
local golden = root .. '/tests/golden'
local mnist = q(root .. '/examples/keras_mnist.lua')
local identity = q(here .. '/identity.lua')
local STRICT = '-O2 -std=c99 -Wall -Wextra -Werror -pedantic'
local function succeeded(r) return r == 0 or r == true end
local has_clang = succeeded(os.execute('command -v clang >/dev/null 2>&1'))
local has_criterion = io.open('/usr/include/criterion/criterion.h', 'rb') ~= nil

local passed, failed = 0, 0

-- Runs a shell command; returns status, stdout, stderr.
local function sh(cmd)
  local out, err = work .. '/stdout', work .. '/stderr'
  local p = io.popen('(' .. cmd .. ') >' .. q(out) .. ' 2>' .. q(err) .. '; echo $?')
  local status = tonumber(p:read('*a'))
  p:close()
  local function slurp(path)
    local f = io.open(path, 'rb')
    local s = f:read('*a')
    f:close()
    return s
  end
  return status, slurp(out), slurp(err)
end

local function exists(path)
  local f = io.open(path, 'rb')
  if f then f:close() end
  return f ~= nil
end

local function read(path)
  local f = assert(io.open(path, 'rb'))
  local s = f:read('*a')
  f:close()
  return s
end

-- A test is a function that returns nothing on success or a message; errors count too.
local function test(name, f)
  local ok, msg = pcall(f)
  if ok and not msg then
    passed = passed + 1
    io.write('ok    ', name, '\n')
  else
    failed = failed + 1
    io.write('FAIL  ', name, ': ', tostring(msg), '\n')
  end
end

-- Checks a finished `cnnc test` run: status and strings that must appear in its stdout
-- or stderr (plain-text search).
local function expect(status, out, err, want_status, want_out, want_err)
  local all = '\n--- stdout:\n' .. out .. '--- stderr:\n' .. err
  if want_status == 'nonzero' then
    if status == 0 then return 'exit status 0, expected a failure' .. all end
  elseif status ~= want_status then
    return string.format('exit status %s, expected %s', tostring(status), tostring(want_status)) .. all
  end
  for _, s in ipairs(want_out or {}) do
    if not out:find(s, 1, true) then return 'stdout lacks ' .. s .. all end
  end
  for _, s in ipairs(want_err or {}) do
    if not err:find(s, 1, true) then return 'stderr lacks ' .. s .. all end
  end
end

local function npy_copy(src, dst, edit)
  local t = assert(npy.read(src))
  if edit then edit(t) end
  assert(npy.write(dst, t))
  return dst
end

local function npy_make(path, shape, values)
  local t = tensor.new(shape, 'float')
  for i = 1, #values do t.data[i - 1] = values[i] end
  assert(npy.write(path, t))
  return path
end

-- The float right above 1, and the smallest denormal, as float32 bit patterns.
local function from_bits(u)
  local b = ffi.new('uint32_t[1]', u)
  return ffi.cast('float *', b)[0]
end
local ONE_UP, TINY, FLT_MAX = from_bits(0x3f800001), from_bits(1), from_bits(0x7f7fffff)
local NAN, INF = 0 / 0, math.huge

-------------------------------------------------------------------------------- passing runs

test('mnist example, random inputs, reference outputs, gcc strict', function()
  local dir = work .. '/mnist'
  local s, out, err = sh(string.format('%s test %s -o %s --cc gcc --cflags %s', cnnc, mnist, q(dir), q(STRICT)))
  local bad = expect(s, out, err, 0, { 'mnist: 4 items, output (10,)', 'item 3: max abs err',
    'mnist: PASS: all 4 items within tolerance', 'test: mnist: PASS' })
  if bad then return bad end
  if has_criterion and not out:find('Tested: 4 | Passing: 4 | Failing: 0', 1, true) then
    return 'no Criterion synthesis line:\n' .. out
  end
  for _, f in ipairs({ 'mnist.c', 'mnist.h', 'mnist_test.c', 'mnist_test_plain.c', 'mnist_test_plain' }) do
    if not exists(dir .. '/' .. f) then return 'missing ' .. f end
  end
end)

test('both programs compile strictly with gcc and clang, alone with NAME.c', function()
  local dir = work .. '/mnist'
  for _, cc in ipairs(has_clang and { 'gcc', 'clang' } or { 'gcc' }) do
    for _, prog in ipairs({ 'mnist_test_plain', 'mnist_test' }) do
      if prog == 'mnist_test_plain' or has_criterion then
        local libs = prog == 'mnist_test' and '-lcriterion -lm' or '-lm'
        local s, out, err = sh(string.format('cd %s && %s %s %s.c mnist.c %s -o %s_%s', q(dir), cc, STRICT, prog,
          libs, prog, cc))
        if s ~= 0 then return cc .. ' failed on ' .. prog .. '.c:\n' .. out .. err end
        s, out, err = sh(string.format('%s/%s_%s', q(dir), prog, cc))
        if s ~= 0 then return prog .. '_' .. cc .. ' failed:\n' .. out .. err end
      end
    end
  end
end)

test('mnist example with clang as --cc', function()
  if not has_clang then return end
  local s, out, err = sh(string.format('%s test %s -o %s --cc clang --cflags %s --count 2 --seed 7', cnnc, mnist,
    q(work .. '/mnist_clang'), q(STRICT)))
  return expect(s, out, err, 0, { 'mnist: 2 items', 'test: mnist: PASS' })
end)

test('mnist example built for --target native, strict flags', function()
  local s, out, err = sh(string.format('%s test %s -o %s --target native --cflags %s --count 3', cnnc, mnist,
    q(work .. '/mnist_native'), q(STRICT)))
  return expect(s, out, err, 0, { 'mnist: 3 items', 'test: mnist: PASS' })
end)

-- A target of another architecture: cross-compiled, run under emulation, plain program only.
local cross = dofile(root .. '/tests/lib/testlib.lua').cross_targets('testgen')
for _, t in ipairs(cross) do
  test('mnist example built for --target ' .. t .. ' (cross-compiled, emulated), strict flags', function()
    local s, out, err = sh(string.format('%s test %s -o %s --target %s --cflags %s --count 2', cnnc, mnist,
      q(work .. '/mnist_' .. t), t, q(STRICT)))
    return expect(s, out, err, 0, { 'mnist: 2 items', 'skipped the Criterion program', 'test: mnist: PASS' })
  end)
end

test('same seed, same files; another seed, other inputs', function()
  local a, b, c = work .. '/det_a', work .. '/det_b', work .. '/det_c'
  for _, run in ipairs({ { a, 0 }, { b, 0 }, { c, 1 } }) do
    local s, out, err = sh(string.format('%s test %s -o %s --seed %d --no-build', cnnc, mnist, q(run[1]), run[2]))
    if s ~= 0 then return 'cnnc test failed:\n' .. out .. err end
    if exists(run[1] .. '/mnist_test_plain') then return '--no-build built a program' end
  end
  for _, f in ipairs({ 'mnist_test.c', 'mnist_test_plain.c' }) do
    if read(a .. '/' .. f) ~= read(b .. '/' .. f) then return f .. ' differs between two runs' end
    if read(a .. '/' .. f) == read(c .. '/' .. f) then return f .. ' is the same for seeds 0 and 1' end
  end
end)

for _, case in ipairs({ 'mnist_like', 'act_relu', 'conv1d_valid', 'batchnorm_conv', 'zeropad1d' }) do
  test('golden ' .. case .. ' with --inputs and --expect', function()
    local d = golden .. '/data/' .. case
    local s, out, err = sh(string.format('%s test %s --weights %s --inputs %s --expect %s -o %s', cnnc,
      q(golden .. '/models/' .. case .. '.lua'), q(d), q(d .. '/input.npy'), q(d .. '/expected.npy'),
      q(work .. '/' .. case)))
    return expect(s, out, err, 0, { case .. ': 1 item', case .. ': PASS: the 1 item within tolerance',
      'test: ' .. case .. ': PASS' })
  end)
end

test('multi-dimensional outputs are reported by multi-index', function()
  local out = read(work .. '/act_relu/act_relu_test_plain.c')
  if not out:find('#define TEST_OUTPUT_SHAPE "(4, 4, 3)"', 1, true) then return 'no output shape in the C' end
  local s, o, e = sh(q(work .. '/act_relu/act_relu_test_plain'))
  if s ~= 0 or not o:find('at %[%d+, %d+, %d+%]') then return 'no [y, x, c] index:\n' .. o .. e end
end)

test('a batch of inputs with a batch of expected outputs', function()
  local d = golden .. '/data/mnist_like'
  local function stack(t, n)
    local b = tensor.new({ n, unpack(t.shape) }, 'float')
    for i = 0, b.n - 1 do b.data[i] = t.data[i % t.n] end
    return b
  end
  local x = stack(assert(npy.read(d .. '/input.npy')), 3)
  local y = stack(assert(npy.read(d .. '/expected.npy')), 3)
  assert(npy.write(work .. '/batch_x.npy', x))
  assert(npy.write(work .. '/batch_y.npy', y))
  local s, out, err = sh(string.format('%s test %s --weights %s --inputs %s --expect %s -o %s', cnnc,
    q(golden .. '/models/mnist_like.lua'), q(d), q(work .. '/batch_x.npy'), q(work .. '/batch_y.npy'),
    q(work .. '/batch')))
  return expect(s, out, err, 0, { 'mnist_like: 3 items', 'item 2: max abs err', 'all items: max abs err',
    'test: mnist_like: PASS' })
end)

-------------------------------------------------------------------------------- failing runs

local wrong = work .. '/wrong_expected.npy'
npy_copy(golden .. '/data/mnist_like/expected.npy', wrong, function(t)
  t.data[7] = t.data[7] + 0.25
  t.data[2] = t.data[2] + 0.001
end)

test('a wrong expected file fails and names the worst element', function()
  local d = golden .. '/data/mnist_like'
  local dir = work .. '/wrong'
  local s, out, err = sh(string.format('%s test %s --weights %s --inputs %s --expect %s -o %s', cnnc,
    q(golden .. '/models/mnist_like.lua'), q(d), q(d .. '/input.npy'), q(wrong), q(dir)))
  local bad = expect(s, out, err, 1, { 'item 0: max abs err 0.25', 'at [7]', ': FAIL',
    '2 of 10 elements beyond tolerance; worst [7]:', 'mnist_like: FAIL: 1 of 1 item beyond tolerance' },
    { 'cnnc: test: mnist_like: FAIL' })
  if bad then return bad end
  if has_criterion and not out:find('Failing: 1', 1, true) then return 'Criterion did not fail:\n' .. out end
end)

test('the same file passes with --atol 0.3', function()
  local d = golden .. '/data/mnist_like'
  local s, out, err = sh(string.format('%s test %s --weights %s --inputs %s --expect %s -o %s --atol 0.3', cnnc,
    q(golden .. '/models/mnist_like.lua'), q(d), q(d .. '/input.npy'), q(wrong), q(work .. '/wrong_loose')))
  return expect(s, out, err, 0, { '|got - expected| <= 0.3 + 0.0001 * |expected|', 'test: mnist_like: PASS' })
end)

test('--rtol 0 --atol 0 fails on a one-ulp difference', function()
  local x = npy_make(work .. '/ulp_x.npy', { 2, 4 }, { 1, 2, 3, 4, 5, 6, 7, 8 })
  local y = npy_make(work .. '/ulp_y.npy', { 2, 4 }, { 1, 2, 3, 4, 5, 6, 7, 8 })
  local t = assert(npy.read(y))
  t.data[5] = from_bits(0x40c00001) -- 6 plus one ulp
  assert(npy.write(y, t))
  local s, out, err = sh(string.format('%s test %s --inputs %s --expect %s -o %s --atol 0 --rtol 0', cnnc,
    identity, q(x), q(y), q(work .. '/ulp')))
  return expect(s, out, err, 1, { 'max ulp 1 at [1, 1]', 'worst [1, 1]: got 6 ', 'expected 6.00000048' })
end)

test('exact semantics: -0 == +0, ULPs across zero, NaN == NaN, inf == inf', function()
  local x = npy_make(work .. '/sem_x.npy', { 2, 4 }, { 0, -0.0, 1, TINY, NAN, INF, -INF, 3 })
  local y = npy_make(work .. '/sem_y.npy', { 2, 4 }, { -0.0, 0, ONE_UP, -TINY, NAN, INF, -INF, 3 })
  local s, out, err = sh(string.format('%s test %s --inputs %s --expect %s -o %s --cc gcc --cflags %s', cnnc,
    identity, q(x), q(y), q(work .. '/sem'), q(STRICT)))
  return expect(s, out, err, 0, { 'max abs err 1.192e-07 at [0, 2]', 'max rel err 2 at [0, 3]',
    'max ulp 2 at [0, 3]', 'identity: PASS' })
end)

test('NaN against a number fails', function()
  local x = npy_make(work .. '/nan_x.npy', { 2, 4 }, { 0, 1, 2, 3, NAN, 5, 6, 7 })
  local y = npy_make(work .. '/nan_y.npy', { 2, 4 }, { 0, 1, 2, 3, 4, 5, 6, 7 })
  local s, out, err = sh(string.format('%s test %s --inputs %s --expect %s -o %s --cc %s --cflags %s', cnnc,
    identity, q(x), q(y), q(work .. '/nan'), has_clang and 'clang' or 'gcc', q(STRICT)))
  return expect(s, out, err, 1, { 'max abs err inf at [1, 0]', 'worst [1, 0]: got nan',
    'a NaN or infinity mismatch' })
end)

test('infinity against the largest float fails', function()
  local x = npy_make(work .. '/inf_x.npy', { 2, 4 }, { 0, 1, 2, 3, 4, 5, 6, INF })
  local y = npy_make(work .. '/inf_y.npy', { 2, 4 }, { 0, 1, 2, 3, 4, 5, 6, FLT_MAX })
  local s, out, err = sh(string.format('%s test %s --inputs %s --expect %s -o %s', cnnc, identity, q(x), q(y),
    q(work .. '/inf')))
  return expect(s, out, err, 1, { 'max ulp 1 at [1, 3]', 'worst [1, 3]: got inf', 'a NaN or infinity mismatch' })
end)

test('--no-run builds the programs and runs nothing', function()
  local dir = work .. '/norun'
  local s, out, err = sh(string.format('%s test %s -o %s --no-run --count 1', cnnc, identity, q(dir)))
  local bad = expect(s, out, err, 0, { 'built ' })
  if bad then return bad end
  if out:find('PASS', 1, true) then return 'it ran the tests:\n' .. out end
  if not exists(dir .. '/identity_test_plain') then return 'no program built' end
end)

test('without Criterion: builds and runs the plain program only', function()
  local dir = work .. '/nocriterion'
  local lua = string.format("package.path = %q .. package.path; local t = require 'cnnc.testgen'; "
    .. "t.CRITERION_HEADER = '/nonexistent/criterion.h'; t.main({ %q, '-o', %q, '--count', '2' })",
    root .. '/compiler/?.lua;', here .. '/identity.lua', dir)
  local s, out, err = sh('luajit -e ' .. q(lua))
  local bad = expect(s, out, err, 0, { 'skipped the Criterion program', 'identity: PASS: all 2 items',
    'test: identity: PASS' })
  if bad then return bad end
  if exists(dir .. '/identity_test') then return 'it built the Criterion program' end
  if not exists(dir .. '/identity_test.c') then return 'it did not write identity_test.c' end
end)

-------------------------------------------------------------------------------- user errors

-- Each must exit non-zero with `cnnc: test: <message>` and leave no output directory.
local d = golden .. '/data/mnist_like'
local model = q(golden .. '/models/mnist_like.lua')
local errors = {
  { 'unknown option', mnist .. ' --bogus', 2, "unknown option '--bogus'" },
  { 'no model', '', 2, 'expected one MODEL argument' },
  { 'two models', mnist .. ' ' .. mnist, 2, 'expected one MODEL argument' },
  { '--atol not a number', mnist .. ' --atol abc', 2, "--atol must be a finite number >= 0, got 'abc'" },
  { '--rtol negative', mnist .. ' --rtol=-1', 2, "--rtol must be a finite number >= 0, got '-1'" },
  { '--atol infinite', mnist .. ' --atol inf', 2, "--atol must be a finite number >= 0, got 'inf'" },
  { '--count 0', mnist .. ' --count 0', 2, "--count must be a whole number from 1" },
  { '--count fraction', mnist .. ' --count 2.5', 2, "got '2.5'" },
  { '--seed negative', mnist .. ' --seed -3', 2, "--seed must be a whole number" },
  { 'option without value', mnist .. ' --inputs', 2, 'option --inputs needs a value' },
  { 'switch with value', mnist .. ' --no-run=1', 2, 'option --no-run takes no value' },
  { 'bad --name', mnist .. ' --name 9lives', 2, "--name must be a C identifier, got '9lives'" },
  { '--expect without --inputs', mnist .. ' --expect ' .. q(d .. '/expected.npy'), 2, '--expect needs --inputs' },
  { '--count with --inputs', model .. ' --inputs ' .. q(d .. '/input.npy') .. ' --count 2', 2,
    'cannot be combined with --inputs' },
  { 'unknown target', mnist .. ' --target z80', 1, "unknown target 'z80'" },
  { 'missing model file', q(work .. '/nope.lua'), 1, 'nope.lua' },
  { 'missing weights', model .. ' --weights ' .. q(work .. '/no_weights'), 1, 'missing weight file' },
  { 'missing inputs file', mnist .. ' --inputs ' .. q(work .. '/nope.npy'), 1, 'nope.npy: cannot read' },
  { 'inputs of the wrong shape', model .. ' --inputs ' .. q(golden .. '/data/act_relu/input.npy'), 1,
    'has shape (6, 6, 2), but the model takes (28, 28, 1) (one item) or (B, 28, 28, 1)' },
  { 'expected of the wrong shape', model .. ' --weights ' .. q(d) .. ' --inputs ' .. q(d .. '/input.npy')
    .. ' --expect ' .. q(golden .. '/data/act_relu/expected.npy'), 1,
    'has shape (4, 4, 3), but the model gives (10,) for the one item in' },
  { 'unbatched expected for a batch', model .. ' --weights ' .. q(d) .. ' --inputs ' .. q(work .. '/batch_x.npy')
    .. ' --expect ' .. q(d .. '/expected.npy'), 1,
    'has shape (10,), but the model gives (3, 10) for the batch of 3 in' },
  { 'expected not a .npy', model .. ' --inputs ' .. q(d .. '/input.npy') .. ' --expect ' .. model, 1,
    'not a .npy file' },
  { 'too many items to embed', mnist .. ' --count 6000', 1, 'more than the 4194304 the test programs embed' },
}
for _, e in ipairs(errors) do
  test('error: ' .. e[1], function()
    local dir = work .. '/err'
    local s, out, err = sh(string.format('%s test -o %s %s', cnnc, q(dir), e[2]))
    local bad = expect(s, out, err, e[3], {}, { 'cnnc: test: ', e[4] })
    if bad then return bad end
    if exists(dir) then
      os.execute('rm -rf ' .. q(dir))
      return 'it created ' .. dir
    end
  end)
end

test('error: an output directory that cannot be made', function()
  local s, out, err = sh(string.format('%s test %s -o /dev/null/x', cnnc, identity))
  return expect(s, out, err, 1, {}, { 'cnnc: test: cannot create directory /dev/null/x' })
end)

test('error: a C compiler that fails leaves no program behind', function()
  local dir = work .. '/badcc'
  local s, out, err = sh(string.format('%s test %s -o %s --cc false', cnnc, identity, q(dir)))
  local bad = expect(s, out, err, 1, {}, { 'cnnc: test: the C compiler failed' })
  if bad then return bad end
  for _, f in ipairs({ 'identity.o', 'identity.o.tmp', 'identity_test_plain', 'identity_test_plain.tmp' }) do
    if exists(dir .. '/' .. f) then return 'left ' .. f end
  end
end)

test('--help prints the usage', function()
  local s, out, err = sh(cnnc .. ' test --help')
  return expect(s, out, err, 0, { 'usage: cnnc test MODEL', '--expect Y.npy', '--no-run' })
end)

if os.getenv('KEEP') then
  io.write('kept ', work, '\n')
else
  os.execute('rm -rf ' .. q(work))
end
io.write(string.format('testgen: %d passed, %d failed\n', passed, failed))
os.exit(failed == 0 and 0 or 1)
