-- cnnc.keras.hdf5: reading HDF5 files through the HDF5 library (libhdf5), for Keras files.
--
-- Keras keeps weights (and, in the legacy .h5 format, the model's configuration) in HDF5;
-- cnnc reads them with the HDF5 C library through the LuaJIT FFI rather than parse the
-- format itself. Only the reading side is bound, and only what Keras files use: groups and
-- their members, attributes holding strings (fixed or variable length, single or arrays),
-- and numeric datasets read as float32. The library is loaded on first use; when it is
-- missing the message names the Debian package. The generated C never depends on it.
--
-- A file is opened from a path or from bytes in memory (the model.weights.h5 inside a
-- .keras zip: the core driver with a file image). Every failure is a cnnc error naming
-- the file and the object inside it; the library's own error printing is switched off.

local ffi = require 'ffi'
local tensor = require 'cnnc.tensor'
local util = require 'cnnc.util'

local M = {}

M.PACKAGE = 'libhdf5-103-1'
-- Names the shared library goes by: Debian's serial build (the runtime package), then the
-- development symlinks and other distributions' names.
M.LIBRARIES = { 'libhdf5_serial.so.103', 'libhdf5.so.103', 'libhdf5_serial.so.310', 'libhdf5.so.310',
  'libhdf5_serial.so.200', 'libhdf5.so.200', 'hdf5_serial', 'hdf5' }

-- (pcall: loading this module twice must not redefine the types.)
pcall(ffi.cdef, [[
typedef int64_t cnnc_hid_t;
typedef unsigned long long cnnc_hsize_t;
typedef struct { int storage_type; cnnc_hsize_t nlinks; int64_t max_corder; bool mounted; } cnnc_H5G_info_t;
int H5open(void);
int H5get_libversion(unsigned *majnum, unsigned *minnum, unsigned *relnum);
int H5Eset_auto2(cnnc_hid_t estack_id, void *func, void *client_data);
cnnc_hid_t H5Fopen(const char *filename, unsigned flags, cnnc_hid_t fapl_id);
int H5Fclose(cnnc_hid_t file_id);
cnnc_hid_t H5Pcreate(cnnc_hid_t cls_id);
int H5Pclose(cnnc_hid_t plist_id);
int H5Pset_fapl_core(cnnc_hid_t fapl_id, size_t increment, bool backing_store);
int H5Pset_file_image(cnnc_hid_t fapl_id, void *buf_ptr, size_t buf_len);
cnnc_hid_t H5Oopen(cnnc_hid_t loc_id, const char *name, cnnc_hid_t lapl_id);
int H5Oclose(cnnc_hid_t object_id);
int H5Iget_type(cnnc_hid_t id);
int H5Lexists(cnnc_hid_t loc_id, const char *name, cnnc_hid_t lapl_id);
int H5Gget_info(cnnc_hid_t loc_id, cnnc_H5G_info_t *ginfo);
ptrdiff_t H5Lget_name_by_idx(cnnc_hid_t loc_id, const char *group_name, int idx_type, int order, cnnc_hsize_t n,
  char *name, size_t size, cnnc_hid_t lapl_id);
int H5Aexists(cnnc_hid_t obj_id, const char *attr_name);
cnnc_hid_t H5Aopen(cnnc_hid_t obj_id, const char *attr_name, cnnc_hid_t aapl_id);
int H5Aclose(cnnc_hid_t attr_id);
cnnc_hid_t H5Aget_type(cnnc_hid_t attr_id);
cnnc_hid_t H5Aget_space(cnnc_hid_t attr_id);
int H5Aread(cnnc_hid_t attr_id, cnnc_hid_t type_id, void *buf);
cnnc_hid_t H5Dget_type(cnnc_hid_t dset_id);
cnnc_hid_t H5Dget_space(cnnc_hid_t dset_id);
int H5Dread(cnnc_hid_t dset_id, cnnc_hid_t mem_type_id, cnnc_hid_t mem_space_id, cnnc_hid_t file_space_id,
  cnnc_hid_t plist_id, void *buf);
int H5Sget_simple_extent_type(cnnc_hid_t space_id);
int H5Sget_simple_extent_ndims(cnnc_hid_t space_id);
int H5Sget_simple_extent_dims(cnnc_hid_t space_id, cnnc_hsize_t *dims, cnnc_hsize_t *maxdims);
long long H5Sget_simple_extent_npoints(cnnc_hid_t space_id);
int H5Sclose(cnnc_hid_t space_id);
int H5Tget_class(cnnc_hid_t type_id);
size_t H5Tget_size(cnnc_hid_t type_id);
int H5Tis_variable_str(cnnc_hid_t type_id);
cnnc_hid_t H5Tcopy(cnnc_hid_t type_id);
int H5Tclose(cnnc_hid_t type_id);
int H5free_memory(void *mem);
extern cnnc_hid_t H5T_NATIVE_FLOAT_g;
extern cnnc_hid_t H5P_CLS_FILE_ACCESS_ID_g;
]])

local I_GROUP, I_DATASET = 2, 5
local T_INTEGER, T_FLOAT, T_STRING = 0, 1, 3
local S_SCALAR, S_SIMPLE = 0, 1

local lib

-- The loaded library, or a cnnc error naming the package that provides it.
local function library(where)
  if lib then return lib end
  local tried = {}
  for _, name in ipairs(M.LIBRARIES) do
    local ok, l = pcall(ffi.load, name)
    if ok then
      local fine = pcall(function() return l.H5open, l.H5T_NATIVE_FLOAT_g end)
      if fine and l.H5open() >= 0 then
        l.H5Eset_auto2(0, nil, nil)
        lib = l
        return lib
      end
    end
    tried[#tried + 1] = name
  end
  util.fail(where, 'reading Keras files needs the HDF5 library, which is not installed (tried %s); on Debian or Ubuntu: '
    .. 'sudo apt-get install %s', table.concat(tried, ', '), M.PACKAGE)
end
M.library = library

local File = {}
File.__index = File

-- Opens an HDF5 file for reading: path on disk, or (opts.bytes) its bytes in memory,
-- `path` then naming it in messages. Returns a File.
function M.open(path, opts)
  local where = { file = path }
  local L = library(where)
  local id
  if opts and opts.bytes then
    local fapl = L.H5Pcreate(L.H5P_CLS_FILE_ACCESS_ID_g)
    local bytes = opts.bytes
    if fapl < 0 or L.H5Pset_fapl_core(fapl, 65536, false) < 0
      or L.H5Pset_file_image(fapl, ffi.cast('void *', bytes), #bytes) < 0 then
      if fapl >= 0 then L.H5Pclose(fapl) end
      util.fail(where, 'the HDF5 library cannot open a file held in memory')
    end
    id = L.H5Fopen('cnnc-memory-image.h5', 0, fapl)
    L.H5Pclose(fapl)
  else
    id = L.H5Fopen(path, 0, 0)
  end
  if id < 0 then
    util.fail(where, 'the HDF5 library cannot open it: not an HDF5 file, or truncated or damaged')
  end
  return setmetatable({ id = id, path = path, L = L }, File)
end

function File:close()
  if self.id then self.L.H5Fclose(self.id) end
  self.id = nil
end

function File:fail(obj, fmt, ...)
  util.fail({ file = self.path }, '%s' .. fmt, obj and obj ~= '' and (obj .. ': ') or '', ...)
end

-- What `name` (a path from the root, '/' for the root) is: 'group', 'dataset', another
-- object kind, or nil when it does not exist.
function File:kind(name)
  if name ~= '/' then
    -- every link on the way must exist, or H5Lexists fails
    local sofar = ''
    for part in name:gmatch('[^/]+') do
      sofar = sofar .. '/' .. part
      if self.L.H5Lexists(self.id, sofar, 0) <= 0 then return nil end
    end
  end
  local o = self.L.H5Oopen(self.id, name, 0)
  if o < 0 then return nil end
  local t = self.L.H5Iget_type(o)
  self.L.H5Oclose(o)
  return t == I_GROUP and 'group' or (t == I_DATASET and 'dataset' or 'other')
end

-- The member names of group `name`, in the file's name order.
function File:members(name)
  if self:kind(name) ~= 'group' then self:fail(name, 'is not a group') end
  local L = self.L
  local g = L.H5Oopen(self.id, name, 0)
  local info = ffi.new('cnnc_H5G_info_t')
  local ok = L.H5Gget_info(g, info) >= 0
  local list = {}
  if ok then
    for i = 0, tonumber(info.nlinks) - 1 do
      local n = L.H5Lget_name_by_idx(g, '.', 0, 0, i, nil, 0, 0)
      if n < 0 then ok = false; break end
      local buf = ffi.new('char[?]', n + 1)
      if L.H5Lget_name_by_idx(g, '.', 0, 0, i, buf, n + 1, 0) < 0 then ok = false; break end
      list[#list + 1] = ffi.string(buf, n)
    end
  end
  L.H5Oclose(g)
  if not ok then self:fail(name, 'cannot list the members of this group (a damaged file?)') end
  return list
end

-- Shape of a dataspace ({} for a scalar), or nil for an empty (null) one.
local function space_shape(L, space)
  local t = L.H5Sget_simple_extent_type(space)
  if t == S_SCALAR then return {} end
  if t ~= S_SIMPLE then return nil end
  local nd = L.H5Sget_simple_extent_ndims(space)
  if nd < 0 then return nil end
  local dims = ffi.new('cnnc_hsize_t[?]', math.max(nd, 1))
  if L.H5Sget_simple_extent_dims(space, dims, nil) < 0 then return nil end
  local s = {}
  for i = 0, nd - 1 do s[i + 1] = tonumber(dims[i]) end
  return s
end

-- Strings held by a string attribute or dataset: reads with `read(type, buf)`.
local function read_strings(L, ftype, count, read)
  local out = {}
  if L.H5Tis_variable_str(ftype) > 0 then
    local ptrs = ffi.new('char *[?]', math.max(count, 1))
    if read(ftype, ptrs) < 0 then return nil end
    for i = 0, count - 1 do
      out[i + 1] = ptrs[i] ~= nil and ffi.string(ptrs[i]) or ''
      if ptrs[i] ~= nil then L.H5free_memory(ptrs[i]) end
    end
    return out
  end
  local size = tonumber(L.H5Tget_size(ftype))
  local buf = ffi.new('char[?]', math.max(size * count, 1))
  if read(ftype, buf) < 0 then return nil end
  for i = 0, count - 1 do
    local s = ffi.string(buf + i * size, size)
    out[i + 1] = s:gsub('%z.*$', '')
  end
  return out
end

-- Attribute `attr` of object `name`: a string, a list of strings ({array = true}), or
-- nil when the object has no such attribute. Only string attributes are read.
function File:attr(name, attr)
  local L = self.L
  local o = L.H5Oopen(self.id, name, 0)
  if o < 0 then self:fail(name, 'does not exist') end
  local has = L.H5Aexists(o, attr)
  if has <= 0 then L.H5Oclose(o); return nil end
  local a = L.H5Aopen(o, attr, 0)
  local ftype, space = L.H5Aget_type(a), L.H5Aget_space(a)
  local shape = space >= 0 and space_shape(L, space)
  local cls = ftype >= 0 and L.H5Tget_class(ftype)
  local res
  if shape and #shape > 0 and util.prod(shape) == 0 then
    res = { array = true } -- an empty list (Keras writes np.asarray([]), a float array, for one)
  elseif shape and cls == T_STRING then
    local count = util.prod(shape)
    res = read_strings(L, ftype, count, function(t, buf) return L.H5Aread(a, t, buf) end)
    if res and #shape > 0 then res.array = true end
  end
  if space >= 0 then L.H5Sclose(space) end
  if ftype >= 0 then L.H5Tclose(ftype) end
  L.H5Aclose(a)
  L.H5Oclose(o)
  if not res then
    self:fail(name, "attribute '%s' is not a string, or cannot be read", attr)
  end
  if res.array then return res end
  return res[1]
end

-- Dataset `name` as a float32 cnnc tensor (integers and other float widths converted).
function File:tensor(name)
  local L = self.L
  if self:kind(name) ~= 'dataset' then self:fail(name, 'is not a dataset') end
  local d = L.H5Oopen(self.id, name, 0)
  local ftype, space = L.H5Dget_type(d), L.H5Dget_space(d)
  local shape = space >= 0 and space_shape(L, space)
  local cls = ftype >= 0 and L.H5Tget_class(ftype)
  local t, err
  if not shape then err = 'has no readable shape'
  elseif cls ~= T_FLOAT and cls ~= T_INTEGER then err = 'does not hold numbers (HDF5 type class ' .. tostring(cls) .. ')'
  else
    local n = util.prod(shape)
    if n > 2 ^ 28 then err = string.format('has %.0f values, more than cnnc supports', n)
    else
      t = tensor.new(shape)
      if n > 0 and L.H5Dread(d, L.H5T_NATIVE_FLOAT_g, 0, 0, 0, t.data) < 0 then
        err, t = 'cannot be read (truncated or damaged data)', nil
      end
    end
  end
  if space >= 0 then L.H5Sclose(space) end
  if ftype >= 0 then L.H5Tclose(ftype) end
  L.H5Oclose(d)
  if not t then self:fail(name, '%s', err) end
  return t
end

-- A dataset holding a string (Keras 2 weights-only files keep nothing so, but a config may).
function File:string_dataset(name)
  local L = self.L
  local d = L.H5Oopen(self.id, name, 0)
  if d < 0 then self:fail(name, 'does not exist') end
  local ftype, space = L.H5Dget_type(d), L.H5Dget_space(d)
  local res
  if ftype >= 0 and L.H5Tget_class(ftype) == T_STRING then
    local shape = space_shape(L, space) or {}
    res = read_strings(L, ftype, util.prod(shape), function(t, buf) return L.H5Dread(d, t, 0, 0, 0, buf) end)
  end
  L.H5Sclose(space)
  L.H5Tclose(ftype)
  L.H5Oclose(d)
  if not res then self:fail(name, 'is not a string dataset') end
  return res[1]
end

return M
