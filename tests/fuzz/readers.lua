-- Differential fuzzer of the two input readers: the C runtime's (what a generated
-- executable reads, runtime/cnnc_npy.c and cnnc_pnm.c) and the compiler's Lua ones
-- (cnnc.npy: what `cnnc run`, `--weights` and `--bind` read). The same file must get the
-- same answer from both: both reject it, or both read the same shape and bit-identical
-- values (any NaN matching any NaN). The seed corpora of the libFuzzer harnesses
-- (tests/fuzz/seeds.lua) are mutated where the formats have structure: .npy header text
-- (numbers, quoted strings, True/False, separators, keys), version and header length,
-- data length; PGM/PPM magic, header numbers, comments, whitespace, samples and trailing
-- bytes; plus random byte flips. The C readers are built as a shared library and called
-- through the FFI (their memory safety is the libFuzzer harnesses' job).
--
-- usage: luajit tests/fuzz/readers.lua --seeds DIR [--seed S] [--cases N | --seconds T]
--          [--save] [--replay DIR]
-- Ends with "harness readers: ..." and "structured-readers: P passed, F failed".

package.path = 'compiler/?.lua;' .. package.path
local ffi = require 'ffi'
local npy = require 'cnnc.npy'
local util = require 'cnnc.util'

local opts = { seed = 1 }
do
  local i = 1
  while i <= #arg do
    local a, v = arg[i], arg[i + 1]
    if a == '--seeds' then opts.seeds = v
    elseif a == '--seed' then opts.seed = assert(tonumber(v))
    elseif a == '--cases' then opts.cases = assert(tonumber(v))
    elseif a == '--seconds' then opts.seconds = assert(tonumber(v))
    elseif a == '--replay' then opts.replay = v
    elseif a == '--save' then opts.save = true; i = i - 1
    else error('unknown argument ' .. a) end
    i = i + 2
  end
end
local out = io.stdout

local function readf(p)
  local f = io.open(p, 'rb'); if not f then return nil end
  local s = f:read('*a'); f:close(); return s
end
local function writef(p, s) local f = assert(io.open(p, 'wb')); f:write(s); f:close() end
local function lines(cmd)
  local t = {}
  for l in io.popen(cmd):lines() do t[#t + 1] = l end
  return t
end

---------------------------------------------------------------- the C readers
ffi.cdef [[
typedef struct cnnc_array { float *data; int rank; long shape[8]; size_t count; } cnnc_array;
void cnnc_array_free(cnnc_array *a);
int cnnc_npy_read(cnnc_array *out, const char *path, char *err, size_t errlen);
int cnnc_pnm_read(cnnc_array *out, const char *path, char *err, size_t errlen);
]]
local TMP = lines('mktemp -d /tmp/cnnc_fuzz_readers.XXXXXX')[1]
local LIB = TMP .. '/libcnnc_runtime.so'
assert(os.execute('cc -std=c99 -O1 -shared -fPIC -I runtime runtime/cnnc_io.c runtime/cnnc_npy.c runtime/cnnc_pnm.c -lm -o '
  .. LIB) == 0, 'cannot build the runtime as a shared library')
local C = ffi.load(LIB)
os.remove(LIB)

local function c_read(path, is_npy)
  local a = ffi.new('cnnc_array')
  local err = ffi.new('char[512]')
  local rc = (is_npy and C.cnnc_npy_read or C.cnnc_pnm_read)(a, path, err, 512)
  if rc ~= 0 then return nil, ffi.string(err) end
  local r = { shape = {}, n = tonumber(a.count), bits = ffi.new('uint32_t[?]', math.max(1, tonumber(a.count))) }
  for i = 0, a.rank - 1 do r.shape[i + 1] = tonumber(a.shape[i]) end
  ffi.copy(r.bits, a.data, 4 * r.n)
  C.cnnc_array_free(a)
  return r
end

local function lua_read(path, is_npy)
  local t, err = (is_npy and npy.read or npy.read_pnm)(path)
  if not t then return nil, err end
  local r = { shape = t.shape, n = t.n, bits = ffi.new('uint32_t[?]', math.max(1, t.n)) }
  ffi.copy(r.bits, t.data, 4 * t.n)
  return r
end

-- The experiments API's readers (cnnc.read_npy, cnnc.read_pnm) raise errors instead; an
-- int32 .npy, which only they read, is left out.
local api = require 'cnnc'
local function api_read(path, is_npy)
  local ok, t = pcall(is_npy and api.read_npy or api.read_pnm, path)
  if not ok then
    -- A cnnc error placed at the caller (this file), whose message shows nothing of cnnc.
    if not util.is_error(t) then return nil, 'not a cnnc error: ' .. tostring(t) end
    return nil, t.message
  end
  if t.dtype == 'int32' then return 'skip' end
  if t.dtype ~= 'float32' then t = t:astype('float32') end
  local r = { shape = t.shape, n = t.n, bits = ffi.new('uint32_t[?]', math.max(1, t.n)) }
  ffi.copy(r.bits, t.data, 4 * t.n)
  return r
end

local function is_nan(b) return bit.band(b, 0x7f800000) == 0x7f800000 and bit.band(b, 0x7fffff) ~= 0 end

-- nil when the C reader and a Lua reader agree, else what differs.
local function compare_one(path, is_npy, c, cerr, read, who)
  local okl, l, lerr = pcall(read, path, is_npy)
  if not okl then return who .. ' raised a Lua error: ' .. tostring(l) end
  if l == 'skip' then return nil end
  if not c and not l then
    if not lerr:find(path, 1, true) or lerr:find('not a cnnc error', 1, true) or lerr:find('%.lua:%d+:') then
      return who .. ': unclean message: ' .. lerr
    end
    return nil
  end
  if not c then return 'C rejects (' .. cerr .. ') but ' .. who .. ' reads shape ' .. table.concat(l.shape, 'x') end
  if not l then return who .. ' rejects (' .. tostring(lerr) .. ') but C reads shape ' .. table.concat(c.shape, 'x') end
  if #c.shape ~= #l.shape then return 'ranks differ: C ' .. #c.shape .. ', ' .. who .. ' ' .. #l.shape end
  for i = 1, #c.shape do
    if c.shape[i] ~= l.shape[i] then
      return string.format('shapes differ: C %s, %s %s', table.concat(c.shape, 'x'), who, table.concat(l.shape, 'x'))
    end
  end
  for i = 0, c.n - 1 do
    local a, b = c.bits[i], l.bits[i]
    if a ~= b and not (is_nan(a) and is_nan(b)) then
      return string.format('value %d differs: C bits %08x, %s bits %08x', i, tonumber(a), who, tonumber(b))
    end
  end
  return nil
end

local function compare(path, is_npy)
  local okc, c, cerr = pcall(c_read, path, is_npy)
  if not okc then return 'the C reader raised ' .. tostring(c) end
  return compare_one(path, is_npy, c, cerr, lua_read, 'cnnc.npy')
    or compare_one(path, is_npy, c, cerr, api_read, 'cnnc.read_' .. (is_npy and 'npy' or 'pnm'))
end

---------------------------------------------------------------- mutations
local Rng = {}
Rng.__index = Rng
function Rng:int(lo, hi)
  self.s = (1664525 * self.s + 1013904223) % 4294967296
  if hi <= lo then return lo end
  return lo + math.floor(self.s / 4294967296 * (hi - lo + 1))
end
local function pick(rng, t) return t[rng:int(1, #t)] end

local NUMBERS = { '0', '1', '2', '3', '-1', '255', '256', '65535', '65536', '2147483648', '1099511627776',
  '1099511627777', '9223372036854775807', '99999999999999999999', '3L', '1.5', '1e3', '0x10', ' 2 ', '' }
local QUOTED = { "'<f4'", "'<f8'", "'|u1'", "'<u1'", "'>f4'", "'<i4'", "'<f2'", "'descr'", "'shape'",
  "'fortran_order'", '"<f4"', '"shape"', "'extra'", "''", "'<f4 '" }

local function mutate_text(h, rng)
  local what = rng:int(1, 7)
  if what == 1 then -- a number
    local spans = {}
    for a, b in h:gmatch('()%d+()') do spans[#spans + 1] = { a, b } end
    if #spans > 0 then
      local sp = pick(rng, spans)
      return h:sub(1, sp[1] - 1) .. pick(rng, NUMBERS) .. h:sub(sp[2]), 'header number'
    end
  elseif what == 2 then -- a quoted string
    local spans = {}
    for a, b in h:gmatch("()'[^']*'()") do spans[#spans + 1] = { a, b } end
    if #spans > 0 then
      local sp = pick(rng, spans)
      return h:sub(1, sp[1] - 1) .. pick(rng, QUOTED) .. h:sub(sp[2]), 'header string'
    end
  elseif what == 3 then
    if h:find('False') then return (h:gsub('False', pick(rng, { 'True', 'false', '0', 'None', 'False False' }), 1)), 'fortran_order' end
  elseif what == 4 then
    local at = rng:int(1, #h + 1)
    return h:sub(1, at - 1) .. pick(rng, { ',', ' ', '(', ')', '{', '}', ':', "'", '\n', ', ', ',)', '#' }) .. h:sub(at), 'inserted a character'
  elseif what == 5 then
    local at = rng:int(1, #h)
    return h:sub(1, at - 1) .. h:sub(at + 1), 'deleted a character'
  elseif what == 6 then
    return (h:gsub('}', pick(rng, { ", 'extra': 1}", ", 'descr': '<f4'}", "} x", "}}", "  }" }), 1)), 'added a key'
  end
  return (h:gsub("'", '"')), 'double quotes'
end

local function mutate_npy(s, rng)
  if #s < 10 or s:sub(1, 6) ~= '\147NUMPY' then return s, 'unchanged' end
  local v2 = s:byte(7) >= 2
  local hstart = v2 and 13 or 11
  local hlen = s:byte(9) + 256 * s:byte(10) + (v2 and (65536 * s:byte(11) + 16777216 * s:byte(12)) or 0)
  local header, data = s:sub(hstart, hstart + hlen - 1), s:sub(hstart + hlen)
  local version, done = s:byte(7), {}
  for _ = 1, rng:int(1, 3) do
    local what = rng:int(1, 10)
    local d
    if what <= 5 then header, d = mutate_text(header, rng)
    elseif what == 6 then data = data:sub(1, rng:int(0, #data)); d = 'truncated the data'
    elseif what == 7 then data = data .. string.rep('\0', pick(rng, { 1, 3, 4, 8 })); d = 'extended the data'
    elseif what == 8 then
      version = pick(rng, { 0, 1, 2, 3, 4 }); d = 'version ' .. version
    elseif what == 9 then hlen = hlen + pick(rng, { -1, 1, -64, 64, 1000 }); d = 'header length'
    else
      local at = rng:int(1, math.max(1, #data))
      data = data:sub(1, at - 1) .. string.char(rng:int(0, 255)) .. data:sub(at + 1); d = 'data byte'
    end
    done[#done + 1] = d
    if what <= 7 then hlen = #header end
  end
  hlen = math.max(0, hlen)
  local big = version >= 2
  local len = string.char(hlen % 256, math.floor(hlen / 256) % 256)
  if big then len = len .. string.char(math.floor(hlen / 65536) % 256, math.floor(hlen / 16777216) % 256) end
  return '\147NUMPY' .. string.char(version, 0) .. len .. header .. data, table.concat(done, ', ')
end

local function mutate_pnm(s, rng)
  local done = {}
  for _ = 1, rng:int(1, 3) do
    local what, d = rng:int(1, 8), nil
    -- The header: magic and three numbers, before the pixel data.
    local hend = select(2, s:find('^P%d%s*[^\n]*\n?[^\n]*\n?[^\n]*')) or math.min(#s, 20)
    if what == 1 then s = 'P' .. pick(rng, { '1', '2', '3', '4', '5', '6', '7', '8', '0' }) .. s:sub(3); d = 'magic'
    elseif what == 2 then
      local spans = {}
      for a, b in s:sub(1, hend):gmatch('()%d+()') do if a > 2 then spans[#spans + 1] = { a, b } end end
      if #spans > 0 then
        local sp = pick(rng, spans)
        s = s:sub(1, sp[1] - 1) .. pick(rng, NUMBERS) .. s:sub(sp[2]); d = 'header number'
      end
    elseif what == 3 then
      local at = rng:int(3, math.max(3, hend))
      s = s:sub(1, at - 1) .. pick(rng, { '# c\n', '#\n', '#', ' ', '\t', '\r', '\n', '\v', '\f', 'x' }) .. s:sub(at); d = 'header insert'
    elseif what == 4 then
      local at = rng:int(3, math.max(3, hend))
      s = s:sub(1, at - 1) .. s:sub(at + 1); d = 'header delete'
    elseif what == 5 then s = s .. string.rep('\255', pick(rng, { 1, 2, 3 })); d = 'trailing bytes'
    elseif what == 6 then s = s:sub(1, rng:int(0, #s)); d = 'truncated'
    else
      local at = rng:int(1, math.max(1, #s))
      s = s:sub(1, at - 1) .. string.char(pick(rng, { 0, 255, 10, 32, 35, rng:int(0, 255) })) .. s:sub(at + 1); d = 'byte'
    end
    done[#done + 1] = d or 'nothing'
  end
  return s, table.concat(done, ', ')
end

---------------------------------------------------------------- main
local passed, failed, ran = 0, 0, 0
local started = os.time()

local function check(bytes, is_npy, label, info)
  local path = TMP .. (is_npy and '/case.npy' or '/case.pgm')
  writef(path, bytes)
  ran = ran + 1
  local why = compare(path, is_npy)
  os.remove(path)
  if not why then passed = passed + 1; return end
  failed = failed + 1
  out:write(string.format('FAIL %s: %s\n', label, why))
  out:flush()
  if opts.save and info then
    local dir = 'tests/fuzz/regressions/readers'
    os.execute('mkdir -p ' .. dir)
    local base = string.format('%s/seed%d-case%d%s', dir, opts.seed, info.k, is_npy and '.npy' or '.pgm')
    writef(base, bytes)
    writef(base .. '.txt', string.format('source: %s\nmutations: %s\nfailure: %s\n', info.source, info.done, why))
    out:write('  saved as ' .. base .. '\n')
  end
end

if opts.replay then
  for _, f in ipairs(lines("ls '" .. opts.replay .. "' 2>/dev/null")) do
    local is_npy, is_pgm = f:match('%.npy$'), f:match('%.pgm$')
    if is_npy or is_pgm then check(readf(opts.replay .. '/' .. f), is_npy ~= nil, 'replay ' .. opts.replay .. '/' .. f) end
  end
else
  assert(opts.seeds, '--seeds DIR (the seed corpora of tests/fuzz/seeds.lua)')
  local srcs = {}
  for _, kind in ipairs({ 'npy', 'pnm' }) do
    for _, f in ipairs(lines(string.format("ls '%s/%s'", opts.seeds, kind))) do
      local p = opts.seeds .. '/' .. kind .. '/' .. f
      srcs[#srcs + 1] = { name = kind .. '/' .. f, bytes = readf(p), npy = kind == 'npy' }
    end
  end
  assert(#srcs > 0, 'no seeds in ' .. opts.seeds)
  -- The unmutated seeds first: the readers must agree on every one of them.
  for _, src in ipairs(srcs) do check(src.bytes, src.npy, 'seed ' .. src.name) end
  local k = 0
  while true do
    k = k + 1
    if opts.cases and k > opts.cases then break end
    if opts.seconds and os.time() - started >= opts.seconds then break end
    if not opts.cases and not opts.seconds and k > 1000 then break end
    local rng = setmetatable({ s = (opts.seed * 1000003 + k * 7919) % 4294967296 }, Rng)
    local src = srcs[rng:int(1, #srcs)]
    local bytes, done = (src.npy and mutate_npy or mutate_pnm)(src.bytes, rng)
    check(bytes, src.npy, string.format('readers seed %d case %d (%s; %s)', opts.seed, k, src.name, done),
      { k = k, source = src.name, done = done })
  end
end

os.execute("rm -rf '" .. TMP .. "'")
out:write(string.format('harness readers: %d s, %d cases, %d finding(s), seed %d\n', os.time() - started, ran, failed, opts.seed))
out:write(string.format('structured-readers: %d passed, %d failed\n', passed, failed))
os.exit(failed == 0 and 0 or 1)
