-- ONNX conformance: every test case of Debian's libonnx-testdata (node/ and
-- pytorch-converted/) whose operators cnnc supports is imported, compiled for the generic
-- target and for the host's best SIMD target, built, run on test_data_set_*/input_*.pb and
-- compared with every output_*.pb at ONNX's own tolerance (|got - expected| <= 1e-7 +
-- 1e-3 * |expected|; integer and boolean outputs arrive as float32 numbers). The reference interpreter is checked the same
-- way. A case with several graph inputs is compiled with all of them as model inputs when
-- the importer accepts that; otherwise the inputs after the first (weights, shapes,
-- bounds) are bound to their test values, as `cnnc build --bind` does.
--
-- Prints one line per case (PASS, FAIL with the reason, SKIP with the operator that
-- caused it) and ends with `conformance: N passed, M failed` (M counts failing eligible
-- cases) and the passed/eligible/total counts. A case with supported operators that the
-- importer rejects for a feature cnnc lacks (random dropping in training mode, sequence
-- and optional values) must be listed in tests/onnx/expected_rejections.txt, else it fails.
--
-- usage: luajit tests/onnx/conformance.lua [--jobs N] [--cc CC] [--targets a,b]
--                                          [--data DIR] [case ...]

package.path = 'compiler/?.lua;' .. package.path
local cli = require 'cnnc.cli'
local driver = require 'cnnc.driver'
local importer = require 'cnnc.onnx.importer'
local ir = require 'cnnc.ir'
local npy = require 'cnnc.npy'
local onnx = require 'cnnc.onnx.model'
local runner = require 'cnnc.runner'
local targets = require 'cnnc.targets'
local util = require 'cnnc.util'
local ffi = require 'ffi'
local pch = dofile('tests/lib/pch.lua')

-- Two processes share the cases (testlib.shards): one imports while the other compiles.
local shard, nshards = dofile('tests/lib/testlib.lua').shards('tests/onnx/conformance.lua', arg, 'conformance')
local jobs, cc = nshards > 1 and 1 or 2, os.getenv('CC') or 'cc'
local data = '/usr/share/libonnx-testdata/data'
local target_list = { 'generic' }
if targets.native() ~= 'generic' then target_list[2] = targets.native() end
local only = {}
local i = 1
while i <= #arg do
  if arg[i] == '--jobs' then jobs = tonumber(arg[i + 1]); i = i + 1
  elseif arg[i] == '--cc' then cc = arg[i + 1]; i = i + 1
  elseif arg[i] == '--data' then data = arg[i + 1]; i = i + 1
  elseif arg[i] == '--targets' then
    target_list = {}
    for t in arg[i + 1]:gmatch('[^,]+') do target_list[#target_list + 1] = t end
    i = i + 1
  else only[arg[i]] = true end
  i = i + 1
end

local SUITES = { 'node', 'pytorch-converted' }
local RTOL, ATOL = 1e-3, 1e-7
local work = nshards > 1 and ('build/tests/onnx/shard-' .. shard) or 'build/tests/onnx'
-- Each summary line names the shard whose cases it counts.
local label = nshards > 1 and string.format('conformance (cases %d of every %d)', shard, nshards) or 'conformance'
local started = os.time()
os.execute('rm -rf ' .. work .. ' && mkdir -p ' .. work)

if not io.open(data .. '/node', 'r') then
  print(string.format('conformance: %s/node is missing: install the Debian package libonnx-testdata', data))
  print('conformance: 0 passed, 1 failed')
  os.exit(1)
end

local expected_rejections = {}
for line in io.lines('tests/onnx/expected_rejections.txt') do
  local case = line:match('^(%S+)')
  if case and not line:match('^#') then expected_rejections[case] = true end
end

-- Operators cnnc lowers on computed data or evaluates on constants (cnnc.onnx.fold); a
-- case using only these is tried, and skipped only if the importer says an operator is
-- left on computed data that it cannot compile there.
local supported = {}
for _, op in ipairs(importer.OPERATORS) do supported[op] = true end
for _, op in ipairs(importer.FOLDED) do supported[op] = true end

local function ls(dir)
  local t = {}
  local p = io.popen('ls ' .. cli.shell_quote(dir) .. ' 2>/dev/null')
  for l in p:lines() do t[#t + 1] = l end
  p:close()
  return t
end

local function exists(path)
  local f = io.open(path, 'rb')
  if f then f:close() end
  return f ~= nil
end

-- |got - want| within ONNX's tolerance everywhere? Returns ok, or false and the worst value.
local function compare(got, want)
  if got.n ~= want.n then return false, string.format('%d values, expected %d', got.n, want.n) end
  local bad, worst, at = 0, -1, 0
  for k = 0, want.n - 1 do
    local g, e = got.data[k], want.data[k]
    local wrong
    if e ~= e then wrong = g == g
    elseif e == math.huge or e == -math.huge then wrong = g ~= e
    else wrong = not (math.abs(g - e) <= ATOL + RTOL * math.abs(e)) end
    if wrong then
      bad = bad + 1
      local d = math.abs(g - e)
      if d ~= d then d = math.huge end
      if d > worst then worst, at = d, k end
    end
  end
  if bad > 0 then
    return false, string.format('%d of %d values off; worst: value %d is %.9g, expected %.9g', bad, want.n, at,
      got.data[at], want.data[at])
  end
  return true
end

-- Stage 1: select, import, compile and write C.
local results, order, builds, built, same_as_generic = {}, {}, {}, {}, {}
local counts = { total = 0, unsupported = 0, rejected = 0, unbound = 0, same = 0 }

-- Does the C file use vector code (a vf_ macro or function outside the prelude's
-- definitions)?
local function vector_code(path)
  for line in io.lines(path) do
    if line:find('vf_', 1, true) and not line:match('^%s*#') then return true end
  end
  return false
end

local function result(case, status, msg)
  if not results[case] then order[#order + 1] = case end
  if results[case] and results[case].status == 'FAIL' then return end
  results[case] = { status = status, msg = msg }
end

local function datasets(dir)
  local sets = {}
  for _, d in ipairs(ls(dir)) do
    if d:match('^test_data_set_%d+$') then sets[#sets + 1] = dir .. '/' .. d end
  end
  return sets
end

-- One case: skipped when it uses an operator cnnc lacks; else imported, checked with the
-- reference interpreter and written as C for every target (built and run later).
local function prepare(case, name, dir)
  local ok, m = pcall(onnx.read, dir .. '/model.onnx')
  local missing = {}
  if ok then
    local seen = {}
    for _, n in ipairs(m.graph.nodes) do
      local op = (n.domain == '' or n.domain == 'ai.onnx') and n.op_type or (n.domain .. '.' .. n.op_type)
      if not supported[op] and not seen[op] then seen[op] = true; missing[#missing + 1] = op end
    end
  end
  if not ok then
    result(case, 'FAIL', 'cannot read the model: ' .. util.format_error(m))
  elseif #missing > 0 then
    counts.unsupported = counts.unsupported + 1
    result(case, 'SKIP', 'op ' .. table.concat(missing, ', '))
  else
    local sets = datasets(dir)
    local inits = {}
    for _, t in ipairs(m.graph.initializers) do inits[t.name] = true end
    local inputs = {}
    for _, v in ipairs(m.graph.inputs) do if not inits[v.name] then inputs[#inputs + 1] = v.name end end
    for si, set in ipairs(sets) do
      -- Every graph input is a model input when the importer takes them so (Add of two
      -- tensors, Concat, MatMul...); else inputs after the first are compiled in as
      -- constants (weights, shapes, bounds), as `cnnc build --bind` does.
      local model, err
      if #inputs > 1 then model = driver.load(dir .. '/model.onnx') end
      if model then
        counts.unbound = counts.unbound + (si == 1 and 1 or 0)
      else
        local binds = {}
        for k = 2, #inputs do
          local path = string.format('%s/input_%d.pb', set, k - 1)
          if exists(path) and not err then
            local ok, t = pcall(onnx.read_tensor, path)
            if ok then binds[inputs[k]] = t else err = t end
          end
        end
        if not err then model, err = driver.load(dir .. '/model.onnx', { binds = binds }) end
      end
      if not model and err and err.unsupported then
        counts.unsupported = counts.unsupported + 1
        result(case, 'SKIP', 'op ' .. table.concat(err.unsupported, ', ') .. ' on computed data')
        break
      end
      if not model then
        local text = util.format_error(err):gsub('\n.*', ' ...'):gsub('^.-model%.onnx: ', '')
        if expected_rejections[case] then
          counts.rejected = counts.rejected + (si == 1 and 1 or 0)
          result(case, 'SKIP', 'rejected: ' .. text)
        else
          result(case, 'FAIL', 'import: ' .. text)
        end
        break
      end
      if expected_rejections[case] then result(case, 'FAIL', 'listed in expected_rejections.txt but imports now') end
      -- The model's inputs by ONNX name (a model may take several, or none), and every
      -- expected output in the graph's order.
      local xs, wants = {}, {}
      local index = {}
      for k, v in ipairs(inputs) do index[v] = k end
      local multi = ir.is_multi(model.graph)
      for k, v in ipairs(ir.inputs(model.graph)) do
        xs[k] = onnx.read_tensor(string.format('%s/input_%d.pb', set, (index[v.label] or 1) - 1))
      end
      for k = 1, #m.graph.outputs do wants[k] = onnx.read_tensor(string.format('%s/output_%d.pb', set, k - 1)) end
      local cname = name:gsub('[^%w_]', '_')
      for _, t in ipairs(target_list) do
        local r, cerr = driver.compile(model, { target = t, name = cname })
        if not r then
          result(case, 'FAIL', t .. ': ' .. util.format_error(cerr))
          break
        end
        if t == 'generic' then
          local ys, rerr
          if multi then ys, rerr = runner.run_tensors(r.typed, xs)
          else
            local y
            y, rerr = runner.run_batch(r.typed, xs[1])
            ys = y and { y }
          end
          if not ys then result(case, 'FAIL', 'reference interpreter: ' .. util.format_error(rerr))
          else
            for k, want in ipairs(wants) do
              local good, why = compare(ys[k], want)
              if not good then result(case, 'FAIL', string.format('reference interpreter, output %d: %s', k - 1, why)) end
            end
          end
        end
        local bdir = string.format('%s/%s/%s/%d', work, case, t, si)
        os.execute('mkdir -p ' .. cli.shell_quote(bdir))
        local c_path = assert(driver.write_c(r, bdir))
        local io = ir.io(r.planned)
        -- A SIMD build whose layers hold no vector code is the generic build with another
        -- prelude: it is not built again (the generic build checks that C).
        if t == 'generic' or vector_code(c_path) then
          built[case .. '@' .. t] = true
          builds[#builds + 1] = { case = case, dir = bdir, name = r.planned.name, xs = xs, wants = wants, target = t,
            io = io, multi = multi }
        else
          counts.same = counts.same + 1
          same_as_generic[case .. '@' .. t] = true
        end
      end
      if not results[case] then result(case, 'PASS') end
    end
    if #sets == 0 then result(case, 'FAIL', 'no test_data_set') end
  end
end

local seen = 0
for _, suite in ipairs(SUITES) do
  for _, name in ipairs(ls(data .. '/' .. suite)) do
    local case = suite .. '/' .. name
    local dir = data .. '/' .. case
    seen = seen + 1
    if (next(only) == nil or only[name] or only[case]) and exists(dir .. '/model.onnx')
        and (seen - 1) % nshards == shard - 1 then
      counts.total = counts.total + 1
      local ok, err = xpcall(prepare, debug.traceback, case, name, dir)
      if not ok then result(case, 'FAIL', 'internal error: ' .. tostring(err)) end
    end
  end
end

local prepared = os.time()
-- Stage 2: compile every model's C to an object (strict warnings), then link the objects
-- in batches of BATCH models of one target into one executable each, a generated driver
-- that runs the model it is named on raw float32 items, for any rank and any number of
-- inputs and outputs. Most of this suite's time is starting compilers and
-- linkers; one link and one driver per batch instead of per model roughly halves it.
-- -O0: the cases are tiny and their results do not depend on the optimisation level (C99:
-- no contraction of multiply-adds).
local BATCH = 24
local cflags = '-O0 -Wall -Wextra -Werror -pedantic'
local function run_make(rules, goals)
  local f = assert(io.open(work .. '/build.mk', 'w'))
  f:write('all: ' .. table.concat(goals, ' ') .. '\n', table.concat(rules, '\n'), '\n')
  f:close()
  os.execute(string.format('make -s -j%d -f %s all', jobs, work .. '/build.mk'))
end
local rules, goals = {}, {}
for _, b in ipairs(builds) do
  b.obj = b.dir .. '/' .. b.name .. '.o'
  local flags = cflags .. pch.flags(cc, '-std=c99 ' .. cflags, b.target)
  goals[#goals + 1] = b.obj
  rules[#rules + 1] = string.format('%s:\n\t@%s -std=c99 %s -iquote %s -c %s -o %s > %s/cc.log 2>&1 || true', b.obj, cc,
    flags, cli.shell_quote(b.dir), cli.shell_quote(b.dir .. '/' .. b.name .. '.c'), cli.shell_quote(b.obj), b.dir)
end
run_make(rules, goals)
-- The batches: models that compiled cleanly, one target and distinct names per batch.
local batches = {}
do
  local open = {}
  for _, b in ipairs(builds) do
    local log = util.read_file(b.dir .. '/cc.log') or ''
    if not exists(b.obj) then b.msg = 'C build failed (' .. b.dir .. '): ' .. log:sub(1, 400)
    elseif log:match('%S') then b.msg = 'compiler warnings (' .. b.dir .. '): ' .. log:sub(1, 400)
    else
      local cur = open[b.target]
      if not cur or #cur.list == BATCH or cur.names[b.name] then
        cur = { list = {}, names = {}, target = b.target }
        cur.exe = string.format('%s/batch_%d', work, #batches + 1)
        batches[#batches + 1], open[b.target] = cur, cur
      end
      cur.list[#cur.list + 1], cur.names[b.name] = b, true
      b.exe = cur.exe
    end
  end
end
local driver_c = [[
/* Runs model argv[1] of this batch on raw float32 items (argv[2]) into argv[3]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
%s
static const struct { const char *name; int (*cpu)(void); void (*predict)(const float *, float *); long in, out; }
    models[] = {
%s
};
int main(int argc, char **argv)
{
    FILE *in, *out;
    long size, items, i, in_size = 0, out_size = 0;
    size_t k, m = sizeof models / sizeof models[0];
    float *x, *y;
    void (*predict)(const float *, float *) = NULL;
    if (argc != 4) { fprintf(stderr, "usage: %%s MODEL INPUT.f32 OUTPUT.f32\n", argv[0]); return 2; }
    for (k = 0; k < m; k++) {
        if (strcmp(models[k].name, argv[1]) == 0) {
            if (!models[k].cpu()) { fprintf(stderr, "%%s: this CPU lacks the model's instructions\n", argv[1]); return 2; }
            predict = models[k].predict, in_size = models[k].in, out_size = models[k].out;
        }
    }
    if (predict == NULL) { fprintf(stderr, "no model %%s in this batch\n", argv[1]); return 2; }
    in = fopen(argv[2], "rb");
    if (in == NULL || fseek(in, 0, SEEK_END) != 0 || (size = ftell(in)) < 0 || fseek(in, 0, SEEK_SET) != 0) {
        fprintf(stderr, "cannot read %%s\n", argv[2]);
        return 1;
    }
    items = in_size > 0 ? size / (long)sizeof(float) / in_size : 1;
    if (items < 1) items = 1;
    x = malloc((size_t)size + sizeof(float));
    y = malloc((size_t)(items * out_size) * sizeof(float) + sizeof(float));
    if (x == NULL || y == NULL || fread(x, 1, (size_t)size, in) != (size_t)size) { fprintf(stderr, "bad input\n"); return 1; }
    fclose(in);
    for (i = 0; i < items; i++) predict(x + i * in_size, y + i * out_size);
    out = fopen(argv[3], "wb");
    if (out == NULL || fwrite(y, sizeof(float), (size_t)(items * out_size), out) != (size_t)(items * out_size)
        || fclose(out) != 0) {
        fprintf(stderr, "cannot write %%s\n", argv[3]);
        return 1;
    }
    free(x);
    free(y);
    return 0;
}
]]
rules, goals = {}, {}
for _, bt in ipairs(batches) do
  local decls, rows, objs = {}, {}, {}
  for _, b in ipairs(bt.list) do
    decls[#decls + 1] = string.format('int %s_cpu_supported(void);\nvoid %s_predict(const float *input, float *output);',
      b.name, b.name)
    rows[#rows + 1] = string.format('    { "%s", %s_cpu_supported, %s_predict, %d, %d },', b.name, b.name, b.name,
      b.io.input_size, b.io.output_size)
    objs[#objs + 1] = cli.shell_quote(b.obj)
  end
  assert(util.write_file_atomic(bt.exe .. '.c', string.format(driver_c, table.concat(decls, '\n'),
    table.concat(rows, '\n'))))
  goals[#goals + 1] = bt.exe
  rules[#rules + 1] = string.format('%s:\n\t@%s -std=c99 %s %s %s -lm -o %s > %s.log 2>&1 || true', bt.exe, cc, cflags,
    cli.shell_quote(bt.exe .. '.c'), table.concat(objs, ' '), cli.shell_quote(bt.exe), bt.exe)
end
run_make(rules, goals)

local compiled = os.time()
-- Stage 3: run and compare (every model through its batch's driver: raw float32 buffers,
-- each item's inputs one after another).
local target_failed = {}
for _, b in ipairs(builds) do
  local msg = b.msg
  if not msg and not exists(b.exe) then
    msg = 'linking its batch failed: ' .. (util.read_file(b.exe .. '.log') or ''):sub(1, 400)
  end
  if not msg then
    local got = {}
    local items = #b.xs > 0 and b.xs[1].n / b.io.inputs[1].size or 1
    local buf = ffi.new('float[?]', math.max(items * b.io.input_size, 1))
    for i = 0, items - 1 do
      for k, v in ipairs(b.io.inputs) do
        for j = 0, v.size - 1 do buf[i * b.io.input_size + v.offset + j] = b.xs[k].data[i * v.size + j] end
      end
    end
    local inp = b.dir .. '/input.f32'
    assert(util.write_file_atomic(inp, ffi.string(buf, 4 * items * b.io.input_size)))
    local rc = os.execute(string.format('%s %s %s %s/output.f32 > %s/run.log 2>&1', b.exe, b.name, inp, b.dir, b.dir))
    if rc == 0 or rc == true then
      -- (a model with nothing to output writes an empty file)
      local all = b.io.output_size == 0 and { n = 0, data = {} } or npy.read_input(b.dir .. '/output.f32')
      -- Split the items' output buffers into one tensor per output.
      local n = all and all.n / math.max(b.io.output_size, 1) or 0
      for k, o in ipairs(b.io.outputs) do
        local t = require('cnnc.tensor').new({ n * o.size }, 'float')
        for i = 0, n - 1 do
          for j = 0, o.size - 1 do t.data[i * o.size + j] = all.data[i * b.io.output_size + o.offset + j] end
        end
        got[k] = all and t
      end
    end
    for k, want in ipairs(b.wants) do
      if msg then break end
      if not got[k] then msg = 'run failed: ' .. (util.read_file(b.dir .. '/run.log') or ''):sub(1, 300)
      else
        local good, why = compare(got[k], want)
        if not good then msg = (#b.wants > 1 and string.format('output %d: ', k - 1) or '') .. why end
      end
    end
  end
  if msg then
    result(b.case, 'FAIL', b.target .. ': ' .. msg)
    target_failed[b.case .. '@' .. b.target] = true
  end
end

local passed, failed, skipped = 0, 0, 0
local skips = {}
for _, case in ipairs(order) do
  local r = results[case]
  if r.status == 'PASS' then passed = passed + 1; print('PASS ' .. case)
  elseif r.status == 'FAIL' then failed = failed + 1; print('FAIL ' .. case .. ': ' .. r.msg)
  else skipped = skipped + 1; skips[#skips + 1] = 'SKIP ' .. case .. ' (' .. r.msg .. ')' end
end
for _, s in ipairs(skips) do print(s) end
local eligible = passed + failed
for _, t in ipairs(target_list) do
  local n = 0
  for _, case in ipairs(order) do
    local r = results[case]
    local key = case .. '@' .. t
    if r.status ~= 'SKIP' and (built[key] or (same_as_generic[key] and not target_failed[case .. '@generic']))
      and not target_failed[key] then n = n + 1 end
  end
  print(string.format(label .. ': %s target: %d of %d eligible cases pass', t, n, eligible))
end
print(string.format(label .. ': %d passed / %d eligible / %d total (skipped: %d with operators cnnc lacks, %d rejected for a feature cnnc lacks; %d s)',
  passed, eligible, counts.total, counts.unsupported, counts.rejected, os.time() - started))
print(string.format(label .. ': %d cases ran with all their graph inputs as model inputs (several tensors in)',
  counts.unbound))
print(string.format(label .. ': %d builds (%d SIMD builds without vector code left to the generic one) in %d '
  .. 'executables; %d s importing, %d s compiling C, %d s running', #builds, counts.same, #batches, prepared - started,
  compiled - prepared, os.time() - compiled))
print(string.format('conformance: %d passed, %d failed', passed, failed))
os.exit(failed == 0 and 0 or 1)
