-- Writes the seed corpora of the libFuzzer harnesses into DIR/<harness>/ (run from the
-- repository root): the repository's real files (examples/data, the .npy weights and
-- test data small enough to mutate quickly) and hand-made edge cases of each format
-- (every header variant the readers accept, and the near misses they must reject).
-- Nothing here is committed as binary; tests/fuzz/run.sh calls this before each run.
-- usage: luajit tests/fuzz/seeds.lua DIR
local dir = assert(arg[1], 'usage: luajit tests/fuzz/seeds.lua DIR')
local MAX_REAL = 64 * 1024 -- real files larger than this slow every mutation down

local function readf(p)
  local f = io.open(p, 'rb'); if not f then return nil end
  local s = f:read('*a'); f:close(); return s
end
local count = {}
local function seed(harness, name, bytes)
  os.execute('mkdir -p ' .. dir .. '/' .. harness)
  local f = assert(io.open(dir .. '/' .. harness .. '/' .. name, 'wb'))
  f:write(bytes); f:close()
  count[harness] = (count[harness] or 0) + 1
end
local function real_files(pattern)
  local t = {}
  for p in io.popen('ls ' .. pattern .. ' 2>/dev/null'):lines() do
    local s = readf(p)
    if s and #s <= MAX_REAL then t[#t + 1] = { p:gsub('[/.]', '_'), s } end
  end
  return t
end

---------------------------------------------------------------- .npy
local function le16(n) return string.char(n % 256, math.floor(n / 256) % 256) end
local function le32(n) return le16(n % 65536) .. le16(math.floor(n / 65536)) end
local function npy(dict, data, version)
  version = version or 1
  local pre = '\147NUMPY' .. string.char(version, 0)
  local hl = version == 1 and 2 or 4
  local pad = (64 - (#pre + hl + #dict + 1) % 64) % 64
  local header = dict .. string.rep(' ', pad) .. '\n'
  return pre .. (version == 1 and le16(#header) or le32(#header)) .. header .. data
end
local function dict(descr, shape, fortran)
  return string.format("{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr, fortran or 'False', shape)
end
local f4_6 = string.rep('\0\0\128\63', 6) -- six 1.0f
local npys = {
  scalar = npy(dict('<f4', '()'), '\0\0\128\63'),
  empty = npy(dict('<f4', '(0,)'), ''),
  f4_2x3 = npy(dict('<f4', '(2, 3)'), f4_6),
  f8_3 = npy(dict('<f8', '(3,)'), string.rep('\0\0\0\0\0\0\240\63', 3)),
  u1_2x2 = npy(dict('|u1', '(2, 2)'), '\0\1\127\255'),
  v2 = npy(dict('<f4', '(6,)'), f4_6, 2),
  v3 = npy(dict('<f4', '(6,)'), f4_6, 3),
  keys_reordered = npy("{\"shape\": (2,3), \"descr\": \"<f4\", \"fortran_order\": False}", f4_6),
  python2_long = npy(dict('<f4', '(2L, 3L)'), f4_6),
  rank8 = npy(dict('<f4', '(1, 1, 1, 1, 1, 1, 1, 1)'), '\0\0\128\63'),
  rank9 = npy(dict('<f4', '(1, 1, 1, 1, 1, 1, 1, 1, 1)'), '\0\0\128\63'),
  fortran = npy(dict('<f4', '(2, 3)', 'True'), f4_6),
  big_endian = npy(dict('>f4', '(6,)'), f4_6),
  int32 = npy(dict('<i4', '(6,)'), f4_6),
  structured = npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,), }", f4_6),
  huge_dims = npy(dict('<f4', '(4611686018427387904, 4)'), f4_6),
  overflow_dim = npy(dict('<f4', '(99999999999999999999999,)'), f4_6),
  negative_dim = npy(dict('<f4', '(-1, 6)'), f4_6),
  zero_times_huge = npy(dict('<f4', '(0, 9223372036854775807)'), ''),
  truncated_data = npy(dict('<f4', '(2, 3)'), f4_6:sub(1, 17)),
  extra_data = npy(dict('<f4', '(2, 3)'), f4_6 .. 'xx'),
  missing_key = npy("{'descr': '<f4', 'shape': (6,), }", f4_6),
  repeated_key = npy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", f4_6),
  header_too_long = '\147NUMPY\1\0\255\255' .. dict('<f4', '(1,)'),
  bad_version = '\147NUMPY\4\0\10\0{}        \n',
  magic_only = '\147NUMPY',
}
for name, bytes in pairs(npys) do seed('npy', name, bytes) end
for _, r in ipairs(real_files('examples/data/*.npy examples/fashion_mnist/weights/*.npy tests/golden/onnx/*/expected.npy tests/ffi/data/*.npy')) do
  seed('npy', r[1], r[2])
end

---------------------------------------------------------------- PGM / PPM
local pnms = {
  p5_1x1 = 'P5 1 1 255\n\128',
  p5_2x2_comment = 'P5\n# a comment\n2 2\n255\n\0\64\128\255',
  p5_comment_after_maxval = 'P5 2 1 255# note\n\1\2',
  p5_16bit = 'P5 2 1 65535\n\255\255\0\1',
  p6_2x1 = 'P6 2 1 255\n\255\0\0\0\255\0',
  p6_16bit = 'P6 1 1 1000\n\3\232\0\0\1\244',
  sample_above_maxval = 'P5 2 1 10\n\5\11',
  maxval_zero = 'P5 1 1 0\n\0',
  maxval_65536 = 'P5 1 1 65536\n\0\0',
  zero_width = 'P5 0 1 255\n',
  huge_size = 'P5 1073741823 1073741823 255\n\0',
  just_too_many_pixels = 'P5 32769 32768 255\n\0',
  truncated = 'P6 4 4 255\n\0\0\0',
  trailing = 'P5 1 1 255\n\0\0',
  ascii_p2 = 'P2 1 1 255\n128\n',
  pam_p7 = 'P7\nWIDTH 1\nHEIGHT 1\nDEPTH 1\nMAXVAL 255\nENDHDR\n\0',
  no_space_after_maxval = 'P5 1 1 255',
  magic_only = 'P5',
}
for name, bytes in pairs(pnms) do seed('pnm', name, bytes) end
for _, r in ipairs(real_files('examples/data/*.pgm examples/data/*.ppm')) do seed('pnm', r[1], r[2]) end

---------------------------------------------------------------- raw (2-byte item size, then the file)
seed('raw', 'one_float', le16(1) .. '\0\0\128\63')
seed('raw', 'two_items_of_3', le16(3) .. f4_6)
seed('raw', 'item_size_0', le16(0) .. f4_6)
seed('raw', 'not_a_multiple', le16(4) .. f4_6)
seed('raw', 'empty', le16(2))
seed('raw', 'nan_inf', le16(2) .. '\0\0\192\127\0\0\128\255')

---------------------------------------------------------------- model inputs
-- byte 0: extension (0 .npy, 1 .NPY, 2 .pgm, 3 .ppm, 4 .raw, 5 none); byte 1: rank - 1;
-- then one byte per dimension (size - 1); then the file.
local function input(ext, shape, bytes)
  local t = { string.char(ext, #shape - 1) }
  for _, d in ipairs(shape) do t[#t + 1] = string.char(d - 1) end
  return table.concat(t) .. bytes
end
local fashion = readf('examples/data/fashion0.pgm')
if fashion then
  seed('input', 'fashion_pgm', input(2, { 28, 28, 1 }, fashion))
  seed('input', 'fashion_pgm_wrong_model', input(2, { 28, 28, 3 }, fashion))
  seed('input', 'fashion_pgm_rank2_model', input(2, { 28, 28 }, fashion))
end
seed('input', 'npy_one', input(0, { 2, 3 }, npys.f4_2x3))
seed('input', 'npy_batch', input(1, { 3 }, npys.f4_2x3))
seed('input', 'npy_empty_batch', input(0, { 3 }, npy(dict('<f4', '(0, 3)'), '')))
seed('input', 'npy_wrong_shape', input(0, { 3, 2 }, npys.f4_2x3))
seed('input', 'ppm', input(3, { 1, 2, 3 }, pnms.p6_2x1))
seed('input', 'raw_one', input(4, { 6 }, f4_6))
seed('input', 'raw_batch', input(5, { 3 }, f4_6))
seed('input', 'raw_short', input(4, { 7 }, f4_6))
local signal = readf('examples/data/noisy_signal.npy')
if signal then seed('input', 'signal', input(0, { 256, 1 }, signal)) end

local names = {}
for h, n in pairs(count) do names[#names + 1] = h .. ' ' .. n end
table.sort(names)
print('seeds: ' .. table.concat(names, ', '))
