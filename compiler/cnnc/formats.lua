-- cnnc.formats: what a model file is, and what reads it.
--
-- cnnc reads Lua model files, ONNX models and Keras models (.h5, .keras, a .json
-- configuration), but people hand it what other frameworks save: PyTorch (torch.save, TorchScript), TensorFlow (a SavedModel,
-- a frozen GraphDef .pb, TFLite), NumPy arrays. `detect` recognises a file by its content
-- (magic bytes, a zip archive's member names, the top-level fields of a protobuf) and,
-- where the content says nothing, by its extension. `load` reads the file with its
-- format's loader, or fails naming the file, what it is and what to do with it, so
-- that neither bytes nor a stranger's format ever reach the Lua parser or the ONNX
-- decoder. cnnc.driver.load (every command) and cnnc.load (cnnc.api) both come here.
--
-- FORMATS is the one table of formats. An entry with `load(path, opts)` is read (it
-- returns a model for cnnc.driver, as cnnc.onnx.importer.import does; `options` lists
-- the opts cnnc.load accepts for it); an entry without one is refused with its `advice`.
-- An importer for a new format plugs in by giving its entry a `load`.

local util = require 'cnnc.util'

local M = {}

local TORCH_EXPORT = "export the model to ONNX with torch.onnx.export(model, example_input, 'model.onnx') "
  .. 'and give cnnc the .onnx file'
-- The file that makes a directory a TensorFlow SavedModel (binary or text protobuf).
local SAVED_MODEL_FILES = { ['saved_model.pb'] = true, ['saved_model.pbtxt'] = true }
local TF2ONNX = 'convert it to ONNX with tf2onnx (python -m tf2onnx.convert %s --output model.onnx) and give '
  .. 'cnnc the .onnx file'

-- A Lua model file runs in the sandbox and must return a model. opts.input_shape: the
-- input's sizes to compile for (Keras order, without the batch).
local function load_lua(path, opts)
  local res = require('cnnc.sandbox').run(path)
  if not require('cnnc').is_model(res) then
    util.fail({ file = path }, 'the model file must return a model (e.g. `return m` after nn.Sequential{...}), it returned %s',
      type(res))
  end
  res.where = res.where or { file = path }
  local shape = opts and opts.input_shape
  if shape then
    if type(shape[1]) ~= 'number' then
      util.fail({ file = path }, 'a Lua model has one input: give --input-shape as sizes (H,W,C or steps,C), without a name')
    end
    res.input_shape = util.copy(shape)
  end
  return res
end

local function load_onnx(path, opts)
  if not package.searchpath('cnnc.onnx.importer', package.path) then
    util.fail({ file = path }, 'ONNX import is not available in this cnnc (no cnnc.onnx.importer)')
  end
  return require('cnnc.onnx.importer').import(path, { binds = opts and opts.binds, input_shape = opts and opts.input_shape })
end

-- A Keras file states its input shapes; its weights are in it (a .json configuration
-- alone takes them from --weights FILE, at compile time).
local function load_keras(path, opts)
  if opts and opts.input_shape then
    util.fail({ file = path }, '--input-shape applies to Lua and ONNX models; a Keras file states its input shapes')
  end
  return require('cnnc.keras.importer').import(path)
end

-- name -> {what = a phrase naming the format, load = function(path, opts) or advice =
-- function(path) -> what to do instead, options = {opt = true} for cnnc.load}.
M.FORMATS = {
  lua = { what = 'a Lua model file', load = load_lua, options = { weights = true, input_shape = true } },
  onnx = { what = 'an ONNX model', load = load_onnx, options = { binds = true, input_shape = true } },
  keras_h5 = { what = 'a Keras model saved as HDF5 (.h5)', load = load_keras, options = {} },
  keras = { what = 'a Keras model archive (.keras)', load = load_keras, options = {} },
  keras_json = { what = "a Keras model's JSON configuration", load = load_keras, options = { weights = true } },
  hdf5 = { what = 'an HDF5 file with no Keras model in it (no keras_version, model_config or layer_names attribute)',
    advice = function() return 'export the network to ONNX from the framework that wrote it' end,
    -- a truncated or damaged file may have lost its Keras attributes: the HDF5 library says so
    check = function(path)
      local ok, err = pcall(function() require('cnnc.keras.hdf5').open(path):close() end)
      if ok then return end
      local msg = util.is_error(err) and util.format_error(err) or tostring(err)
      msg = msg:sub(1, #path + 2) == path .. ': ' and msg:sub(#path + 3) or msg
      util.fail({ file = path }, 'an HDF5 file with no Keras model in it, truncated or damaged (%s)', msg)
    end },
  pytorch = { what = 'a PyTorch file (saved by torch.save)',
    advice = function(path)
      return TORCH_EXPORT .. string.format(" (weights alone, a state_dict, need the model's class first: "
        .. "model.load_state_dict(torch.load('%s')))", path)
    end },
  torchscript = { what = 'a TorchScript archive (saved by torch.jit.save)',
    advice = function(path)
      return string.format("export it to ONNX with torch.onnx.export(torch.jit.load('%s'), example_input, "
        .. "'model.onnx') and give cnnc the .onnx file", path)
    end },
  pickle = { what = 'a Python pickle (as older PyTorch versions saved with torch.save)',
    advice = function() return 'if it holds a PyTorch model, ' .. TORCH_EXPORT end },
  tflite = { what = 'a TensorFlow Lite model',
    advice = function(path) return string.format(TF2ONNX, '--tflite ' .. path) end },
  savedmodel = { what = 'a TensorFlow SavedModel',
    advice = function(path)
      local dir = SAVED_MODEL_FILES[path:match('[^/]*$')] and (path:match('^(.*)/[^/]*$') or '.') or path
      return string.format(TF2ONNX, '--saved-model ' .. dir)
    end },
  graphdef = { what = 'a TensorFlow graph (a GraphDef protobuf, as in a frozen .pb)',
    advice = function(path)
      return string.format(TF2ONNX, '--graphdef ' .. path .. ' --inputs INPUT:0 --outputs OUTPUT:0')
    end },
  protobuf = { what = 'a protobuf file without the graph of an ONNX ModelProto',
    advice = function(path)
      return 'if it is a TensorFlow graph, ' .. string.format(TF2ONNX, '--graphdef ' .. path
        .. ' --inputs INPUT:0 --outputs OUTPUT:0')
    end },
  onnx_tensor = { what = 'an ONNX tensor (a TensorProto)',
    advice = function() return 'give cnnc the .onnx model; a tensor file is what --bind NAME=FILE takes' end },
  npy = { what = 'a NumPy array (.npy)',
    advice = function()
      return 'arrays are inputs (cnnc run MODEL INPUT, or the built executable) or weights (--weights DIR reads '
        .. 'DIR/<layer>.<weight>.npy)'
    end },
  npz = { what = 'a NumPy archive (.npz)',
    advice = function() return 'weights are read as one .npy file per weight (--weights DIR reads DIR/<layer>.<weight>.npy)' end },
  zip = { what = 'a zip archive that is neither a PyTorch nor a Keras file',
    advice = function() return 'export the network to ONNX from the framework that wrote it' end },
  binary = { what = 'a binary file of no format cnnc knows',
    advice = function() return 'export the network to ONNX from the framework that wrote it' end },
}

-- What an extension says where the content says nothing (an empty, truncated or text
-- file); content, when it is recognised, wins.
local BY_EXTENSION = {
  lua = 'lua', onnx = 'onnx', h5 = 'keras_h5', hdf5 = 'keras_h5', keras = 'keras', pt = 'pytorch',
  pth = 'pytorch', pkl = 'pickle', tflite = 'tflite', pb = 'protobuf', npy = 'npy', npz = 'npz',
}

local HDF5_SIGNATURE = '\137HDF\r\n\26\n'
-- A legacy torch.save file opens with its magic number, pickled: protocol 2, LONG1 of 10 bytes.
local TORCH_LEGACY = '\128\2\138\10\108\252\156\70\249\32\106\168\80\25'
-- A control character (not tab, newline, vertical tab, form feed, return or escape) means
-- binary data, which Lua source never holds.
local BINARY_BYTE = '[%z\1-\8\14-\26\28-\31]'

local function u16(s, i) local a, b = s:byte(i, i + 1); return a + 256 * b end
local function u32(s, i) return u16(s, i) + 65536 * u16(s, i + 2) end
local function u64(s, i) return u32(s, i) + 2 ^ 32 * u32(s, i + 4) end

-- The member names of the zip archive in f (size bytes): from its central directory
-- (found through the end record, zip64's too), else from the local headers at the start
-- (a truncated archive). May be empty.
local function zip_names(f, size, head)
  local names = {}
  local tail_len = math.min(size, 22 + 65535) -- the end record and the longest comment
  f:seek('set', size - tail_len)
  local tail = f:read(tail_len) or ''
  local at, from = nil, 1
  while true do
    local j = tail:find('PK\5\6', from, true)
    if not j then break end
    at, from = j, j + 1
  end
  if at and at + 21 <= #tail then
    local count, cd_size, cd_off = u16(tail, at + 10), u32(tail, at + 12), u32(tail, at + 16)
    if (count == 0xffff or cd_size == 0xffffffff or cd_off == 0xffffffff) and at > 20
      and tail:sub(at - 20, at - 17) == 'PK\6\7' then
      f:seek('set', u64(tail, at - 12))
      local rec = f:read(56) or ''
      if #rec == 56 and rec:sub(1, 4) == 'PK\6\6' then cd_size, cd_off = u64(rec, 41), u64(rec, 49) end
    end
    if cd_off + cd_size <= size and cd_size <= 64 * 2 ^ 20 then
      f:seek('set', cd_off)
      local cd, p = f:read(cd_size) or '', 1
      while p + 45 <= #cd and cd:sub(p, p + 3) == 'PK\1\2' do
        local n = u16(cd, p + 28)
        names[#names + 1] = cd:sub(p + 46, p + 45 + n)
        p = p + 46 + n + u16(cd, p + 30) + u16(cd, p + 32)
      end
    end
  end
  local p = 1
  while #names == 0 and p + 29 <= #head and head:sub(p, p + 3) == 'PK\3\4' do
    local n, extra = u16(head, p + 26), u16(head, p + 28)
    names[#names + 1] = head:sub(p + 30, p + 29 + n)
    if u16(head, p + 6) % 16 >= 8 then break end -- sizes follow the data: cannot step over it
    p = p + 30 + n + extra + u32(head, p + 18)
  end
  return names
end

-- nil when no member could be read (a truncated archive).
local function zip_format(names)
  if #names == 0 then return nil end
  local has = {}
  for _, n in ipairs(names) do has[n] = true end
  for _, n in ipairs(names) do
    if n:match('^[^/]*/?constants%.pkl$') or n:match('^[^/]*/?code/') then return 'torchscript' end
  end
  for _, n in ipairs(names) do
    if n:match('^[^/]*/?data%.pkl$') then return 'pytorch' end
  end
  if has['config.json'] and (has['model.weights.h5'] or has['model.weights.npz']) then return 'keras' end
  local npy = true
  for _, n in ipairs(names) do npy = npy and n:match('%.npy$') ~= nil end
  return npy and 'npz' or 'zip'
end

-- ONNX ModelProto's fields and their wire types (0 varint, 2 length-delimited); a message
-- that has a graph (7) and uses none of these with another wire type is a model.
local MODEL_PROTO = { [1] = 0, [2] = 2, [3] = 2, [4] = 2, [5] = 0, [6] = 2, [7] = 2, [8] = 2, [14] = 2, [20] = 2, [25] = 2 }
local GRAPH_DEF = { [1] = 2, [2] = 2, [3] = 0, [4] = 2 } -- TensorFlow: node, library, version, versions

local function only(fields, schema)
  for field, wire in pairs(fields) do
    if schema[field] ~= nil and schema[field] ~= wire then return false end
  end
  return true
end

-- The format of a binary file read whole as a protobuf message, by its top-level fields;
-- nil if it is not one.
local function protobuf_format(path, size)
  if size > 256 * 2 ^ 20 then return nil end
  local ok, pb = pcall(require, 'cnnc.onnx.protobuf')
  local s = ok and util.read_file(path)
  if not s then return nil end
  local fields = {}
  local walked = pcall(function()
    for field, wire in pb.fields(s, 1, #s) do fields[field] = wire end
  end)
  if not walked or next(fields) == nil then return nil end
  if fields[7] == 2 and only(fields, MODEL_PROTO) then return 'onnx' end
  if fields[1] == 2 and only(fields, GRAPH_DEF) then
    for f in pairs(fields) do if not GRAPH_DEF[f] then return 'protobuf' end end
    return 'graphdef'
  end
  if fields[2] == 0 and (fields[8] == 2 or fields[9] == 2) then return 'onnx_tensor' end -- data_type, name, raw_data
  return 'protobuf'
end

-- The format that magic bytes at the start of the file name, or nil. ext: the file's
-- extension, for a zip archive whose members cannot be read.
local function magic_format(f, head, size, ext)
  if head:sub(1, 8) == HDF5_SIGNATURE or head:sub(513, 520) == HDF5_SIGNATURE
    or head:sub(1025, 1032) == HDF5_SIGNATURE or head:sub(2049, 2056) == HDF5_SIGNATURE then
    -- Keras writes these attributes of the root group near the start of the file.
    f:seek('set', 0)
    local start = f:read(2 ^ 20) or ''
    for _, attr in ipairs({ 'keras_version', 'model_config', 'layer_names' }) do
      if start:find(attr, 1, true) then return 'keras_h5' end
    end
    return 'hdf5'
  end
  local first4 = head:sub(1, 4)
  if first4 == 'PK\3\4' or first4 == 'PK\5\6' then
    local z = zip_format(zip_names(f, size, head))
    -- a .keras archive missing a member: the Keras importer says which
    if z == 'zip' and ext == 'keras' then return 'keras' end
    return z or BY_EXTENSION[ext] or 'zip'
  end
  if head:sub(5, 8) == 'TFL3' then return 'tflite' end
  if head:sub(1, #TORCH_LEGACY) == TORCH_LEGACY then return 'pytorch' end
  if head:byte(1) == 128 and head:byte(2) and head:byte(2) >= 2 and head:byte(2) <= 5 then return 'pickle' end
  if head:sub(1, 6) == '\147NUMPY' then return 'npy' end
end

-- The name of path's format (a key of FORMATS). Never fails: a file that cannot be
-- read gets its extension's format (else 'lua'), whose loader then says what is wrong.
function M.detect(path)
  local ext = (path:match('%.([%w]+)$') or ''):lower()
  if SAVED_MODEL_FILES[path:match('[^/]*$')] then return 'savedmodel' end
  for file in pairs(SAVED_MODEL_FILES) do -- the SavedModel's directory
    local f = io.open(path .. '/' .. file, 'rb')
    if f then f:close(); return 'savedmodel' end
  end
  local f = io.open(path, 'rb')
  local head = f and f:read(4096)
  if not head then
    if f then f:close() end
    return BY_EXTENSION[ext] or 'lua'
  end
  local size = f:seek('end')
  local magic = magic_format(f, head, size, ext)
  f:close()
  if magic then return magic end
  if ext == 'lua' or ext == 'onnx' then return ext end
  if ext == 'json' and head:match('^%s*{') then return 'keras_json' end
  if head:sub(1, 1) ~= '\27' and head:find(BINARY_BYTE) then -- (an escape starts Lua bytecode)
    return protobuf_format(path, size) or BY_EXTENSION[ext] or 'binary'
  end
  return BY_EXTENSION[ext] or 'lua'
end

-- Reads the model in path (opts: its format's options) with its format's loader, or fails
-- saying what the file is and what to do. Raises cnnc errors (util.fail).
function M.load(path, opts)
  local f = io.open(path, 'rb')
  if not f then util.fail({ file = path }, 'cannot open model file') end
  f:close()
  local format = M.FORMATS[M.detect(path)]
  if format.load then return format.load(path, opts) end
  if format.check then format.check(path) end
  util.fail({ file = path }, '%s, not a Lua, ONNX or Keras model; %s', format.what, format.advice(path))
end

return M
