-- Bytes of other frameworks' model files, built in Lua, for the tests of cnnc.formats
-- (tests/lua/formats_spec.lua and the bad-input catalogue): as much of each format as
-- cnnc looks at to recognise it (magic bytes, zip member names, protobuf fields), not
-- files the frameworks could load (zip CRCs are 0, pickles and HDF5 bodies are stubs).
-- Real files written by h5py and PyTorch are in tests/lua/formats/. Also the protobuf
-- field encoders the ONNX cases of the catalogue assemble models with.
local M = {}

local function le(n, bytes) -- n as a little-endian unsigned integer of `bytes` bytes
  local t = {}
  for i = 1, bytes do
    t[i] = string.char(n % 256)
    n = math.floor(n / 256)
  end
  return table.concat(t)
end

-- protobuf: a varint, a varint field, a length-delimited field
function M.varint(n)
  local out = {}
  repeat
    local b = n % 128
    n = math.floor(n / 128)
    out[#out + 1] = string.char(n > 0 and b + 128 or b)
  until n == 0
  return table.concat(out)
end
function M.fv(field, n) return M.varint(field * 8) .. M.varint(n) end
function M.fb(field, s) return M.varint(field * 8 + 2) .. M.varint(#s) .. s end

-- A zip archive of members {{name, data}, ...}, stored. opts.zip64: the end records of
-- zip64 (as for archives over 4 GB); opts.cut: drop the central directory and end record
-- (a truncated download).
function M.zip(members, opts)
  opts = opts or {}
  local locals, central = {}, {}
  local offset = 0
  for _, m in ipairs(members) do
    local name, data = m[1], m[2]
    local common = le(20, 2) .. le(0, 2) .. le(0, 2) .. le(0, 4) .. le(0, 4) .. le(#data, 4) .. le(#data, 4)
      .. le(#name, 2) .. le(0, 2)
    local header = 'PK\3\4' .. common .. name .. data
    central[#central + 1] = 'PK\1\2' .. le(20, 2) .. common .. le(0, 2) .. le(0, 2) .. le(0, 2) .. le(0, 4)
      .. le(offset, 4) .. name
    locals[#locals + 1] = header
    offset = offset + #header
  end
  local body, cd = table.concat(locals), table.concat(central)
  if opts.cut then return body end
  local n = #members
  if not opts.zip64 then
    return body .. cd .. 'PK\5\6' .. le(0, 4) .. le(n, 2) .. le(n, 2) .. le(#cd, 4) .. le(#body, 4) .. le(0, 2)
  end
  local record = 'PK\6\6' .. le(44, 8) .. le(45, 2) .. le(45, 2) .. le(0, 8) .. le(n, 8) .. le(n, 8)
    .. le(#cd, 8) .. le(#body, 8)
  local locator = 'PK\6\7' .. le(0, 4) .. le(#body + #cd, 8) .. le(1, 4)
  return body .. cd .. record .. locator .. 'PK\5\6' .. le(0, 4) .. le(0xffff, 2) .. le(0xffff, 2)
    .. le(0xffffffff, 4) .. le(0xffffffff, 4) .. le(0, 2)
end

M.HDF5_SIGNATURE = '\137HDF\r\n\26\n'
-- HDF5 whose root group has Keras's attributes (what model.save('m.h5') writes), and
-- one without them. at: the signature's offset (0, or 512 after a user block).
function M.keras_h5(at)
  return string.rep('\0', at or 0) .. M.HDF5_SIGNATURE .. string.rep('\0', 88) .. 'keras_version\0\0\0'
    .. 'model_config' .. string.rep('\0', 64)
end
function M.hdf5(at) return string.rep('\0', at or 0) .. M.HDF5_SIGNATURE .. string.rep('\0', 120) end

-- Keras 3's .keras archive.
function M.keras()
  return M.zip({ { 'metadata.json', '{"keras_version": "3.3.3"}' }, { 'config.json', '{"class_name": "Sequential"}' },
    { 'model.weights.h5', M.hdf5() } })
end

-- PyTorch: torch.save's zip (prefix/data.pkl, prefix/data/0, ...), a TorchScript archive
-- (prefix/code/..., constants.pkl), and the legacy torch.save stream: a pickle opening
-- with torch's magic number.
local PICKLE = '\128\2}q\0.' -- protocol 2: an empty dict
function M.torch_zip(opts)
  return M.zip({ { 'model/data.pkl', PICKLE }, { 'model/data/0', string.rep('\0', 24) }, { 'model/version', '3\n' } }, opts)
end
function M.torchscript()
  return M.zip({ { 'net/data.pkl', PICKLE }, { 'net/code/__torch__/net.py', 'class Net(Module):\n  pass\n' },
    { 'net/constants.pkl', PICKLE }, { 'net/version', '3\n' } })
end
M.TORCH_LEGACY = '\128\2\138\10\108\252\156\70\249\32\106\168\80\25.' .. PICKLE
M.PICKLE = '\128\4\149\5\0\0\0\0\0\0\0}\148.' -- protocol 4: an empty dict

-- TFLite: a FlatBuffer whose file identifier "TFL3" follows the 4-byte root offset.
function M.tflite() return le(28, 4) .. 'TFL3' .. string.rep('\0', 40) end

-- TensorFlow protobufs: a SavedModel's saved_model.pb (schema version, a MetaGraphDef
-- holding a GraphDef) and a frozen GraphDef (two NodeDefs and the versions).
local function node_def(name, op, input)
  return M.fb(1, M.fb(1, name) .. M.fb(2, op) .. (input and M.fb(3, input) or ''))
end
function M.graphdef()
  return node_def('x', 'Placeholder') .. node_def('y', 'Relu', 'x') .. M.fb(4, M.fv(1, 1))
end
function M.saved_model()
  return M.fv(1, 1) .. M.fb(2, M.fb(1, M.fb(4, 'serve')) .. M.fb(2, M.graphdef()))
end

-- An ONNX TensorProto (dims 2, FLOAT, name, raw_data), as ONNX's test data and --bind use.
function M.onnx_tensor()
  return M.fv(1, 2) .. M.fv(2, 1) .. M.fb(8, 'x') .. M.fb(9, string.rep('\0', 8))
end

-- A NumPy .npy of one float32 and an .npz of one array.
function M.npy()
  local dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }"
  dict = dict .. string.rep(' ', 63 - (10 + #dict) % 64) .. '\n'
  return '\147NUMPY\1\0' .. le(#dict, 2) .. dict .. '\0\0\0\0'
end
function M.npz() return M.zip({ { 'kernel.npy', M.npy() } }) end

return M
