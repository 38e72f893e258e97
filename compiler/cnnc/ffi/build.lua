-- cnnc.ffi.build: generated C -> a shared library in the build cache, loaded with ffi.load.
--
-- The cache lives in $CNNC_CACHE, else $XDG_CACHE_HOME/cnnc, else ~/.cache/cnnc. A library
-- is keyed by the SHA-256 of everything that decides its machine code: the generated C
-- and header (which hold the target and the weights, or the weight blob of a large
-- model), the FFI entry points (cnnc_so.c),
-- the compiler command with its flags, and the compiler's --version line. A key already
-- built is loaded without running the compiler. Builds happen in a directory private to
-- the process and the library is renamed into place, so two scripts compiling the same
-- model at once never see half a library. The flags default to cnnc build's (-O2), so a
-- library computes bit for bit what the executable of the same model computes.

local ffi = require 'ffi'
local common = require 'cnnc.ffi.common'
local sha256 = require 'cnnc.ffi.sha256'
local util = require 'cnnc.util'

local M = {}

ffi.cdef [[
int getpid(void);
size_t cnnc_so_input_size(void);
size_t cnnc_so_output_size(void);
size_t cnnc_so_workspace_size(void);
const char *cnnc_so_target(void);
int cnnc_so_cpu_supported(void);
void cnnc_so_predict_batch(const float *input, float *output, void *workspace, size_t n);
int cnnc_so_max_threads(void);
void *cnnc_so_team_start(int threads);
int cnnc_so_team_threads(void *team);
void cnnc_so_team_stop(void *team);
void cnnc_so_predict_batch_team(void *team, const float *input, float *output, void *workspaces, size_t n);
int cnnc_so_has_backward(void);
size_t cnnc_so_grad_weights_size(void);
size_t cnnc_so_backward_workspace_size(int threads);
void cnnc_so_backward_batch(void *team, int n, const float *inputs, float *outputs, const float *grad_outputs,
  float *grad_inputs, float *grad_weights, int loss, const float *targets, double scale, float *losses,
  void *workspace);
float *cnnc_so_weights(void);
void cnnc_so_refresh(void);
void cnnc_so_sgd(size_t n, float *w, const float *g, float *v, float lr, float momentum, int first);
void cnnc_so_adam(size_t n, float *w, const float *g, float *m, float *v, float lr, float b1, float b2, float eps,
  int t);
]]

local HERE = debug.getinfo(1, 'S').source:sub(2):match('^(.*)/[^/]*$') or '.'
M.SHIM = HERE .. '/cnnc_so.c'

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- Runs a shell command; returns ok, its output (stdout and stderr).
local function run(cmd)
  local p = io.popen(cmd .. ' 2>&1; echo "cnnc-status:$?"')
  local out = p:read('*a')
  p:close()
  local status = tonumber(out:match('cnnc%-status:(%d+)%s*$'))
  return status == 0, (out:gsub('cnnc%-status:%d+%s*$', ''))
end

function M.cache_dir()
  local dir = os.getenv('CNNC_CACHE')
  if dir and dir ~= '' then return dir end
  local xdg = os.getenv('XDG_CACHE_HOME')
  if xdg and xdg ~= '' then return xdg .. '/cnnc' end
  local home = os.getenv('HOME')
  if not home or home == '' then
    common.fail('cnnc: no cache directory: set CNNC_CACHE (or XDG_CACHE_HOME or HOME)')
  end
  return home .. '/.cache/cnnc'
end

local versions = {}
-- The first line of `cc --version`, once per compiler and process.
local function compiler_version(cc)
  if not versions[cc] then
    local ok, out = run(cc .. ' --version')
    if not ok then
      common.fail("model:compile: the C compiler '%s' does not run (%s); install gcc or set cc= / $CC", cc,
        (out:match('[^\n]*') or ''))
    end
    versions[cc] = out:match('[^\n]*')
  end
  return versions[cc]
end

local function file_exists(path)
  local f = io.open(path, 'rb')
  if f then f:close() end
  return f ~= nil
end

-- The command that builds out from dir/NAME.c, the shim and, for a model whose weights
-- are a blob, the blob's object. team: the model has the team API of a --threads build.
local function cc_command(cc, cflags, dir, name, out, blob_obj, team)
  -- -iquote, not -I: a model named like a system header (features, math) must not hide it.
  return string.format('%s -std=c99 %s -fPIC -shared -Wl,-Bsymbolic -iquote %s -DCNNC_MODEL_HEADER=%s -DCNNC_MODEL=%s '
    .. '-DCNNC_MODEL_UC=%s%s %s %s%s -lm -o %s', cc, cflags, q(dir), q('"' .. name .. '.h"'), name, name:upper(),
    team and ' -DCNNC_TEAM_API -pthread' or '', q(dir .. '/' .. name .. '.c'), q(M.SHIM),
    blob_obj and (' ' .. q(blob_obj)) or '', q(out))
end

local seq = 0
-- A name no other process (pid) nor earlier call in this one uses.
local function private(path)
  seq = seq + 1
  return string.format('%s.tmp.%d.%d', path, ffi.C.getpid(), seq)
end

-- spec: {name, c, h, blob (weight bytes or nil), cc, cflags, cache}. Returns
-- {so = path, dir, key, hit = bool}.
function M.library(spec)
  local cc, cflags = spec.cc, spec.cflags
  local shim = util.read_file(M.SHIM)
  if not shim then common.fail('cnnc: missing %s (a broken installation?)', M.SHIM) end
  local team = spec.h:find('_team_start(', 1, true) ~= nil
  local cmd = cc_command(cc, cflags, '@', spec.name, '@', nil, team)
  local key = sha256(table.concat({ 'cnnc.ffi.build 1', spec.name, cmd, compiler_version(cc), shim, spec.h, spec.c,
    spec.blob or '' }, '\0'))
  local root = spec.cache or M.cache_dir()
  local dir = string.format('%s/%s-%s', root, spec.name, key:sub(1, 24))
  local so = dir .. '/' .. spec.name .. '.so'
  local res = { so = so, dir = dir, key = key, hit = file_exists(so) }
  if res.hit then return res end

  local tmp = private(dir .. '/build')
  local ok, out = run('mkdir -p ' .. q(tmp))
  if not ok then common.fail('model:compile: cannot create the cache directory %s: %s', tmp, out) end
  for ext, text in pairs({ c = spec.c, h = spec.h }) do
    local wok, werr = util.write_file_atomic(tmp .. '/' .. spec.name .. '.' .. ext, text)
    if not wok then common.fail('model:compile: cannot write into %s: %s', tmp, tostring(werr)) end
  end
  local blob_obj
  if spec.blob then
    -- Large models keep their weights in NAME.weights.bin, linked as an object (cnnc.cli).
    local wok, werr = util.write_file_atomic(tmp .. '/' .. spec.name .. '.weights.bin', spec.blob)
    if not wok then common.fail('model:compile: cannot write into %s: %s', tmp, tostring(werr)) end
    local berr
    blob_obj, berr = require('cnnc.cli').blob_object(tmp, spec.name, cc)
    if not blob_obj then common.fail('model:compile: %s', tostring(berr)) end
  end
  local command = cc_command(cc, cflags, tmp, spec.name, tmp .. '/' .. spec.name .. '.so', blob_obj, team)
  local cok, log = run(command)
  if not cok then
    util.write_file_atomic(tmp .. '/build.log', command .. '\n' .. log)
    common.fail('model:compile: the C compiler failed (sources and log kept in %s):\n%s\n%s', tmp, command,
      log:sub(1, 2000))
  end
  -- The sources first (for reading), the library last: its presence means "built".
  for _, f in ipairs({ '.c', '.h', '.so' }) do
    local rok, rerr = os.rename(tmp .. '/' .. spec.name .. f, dir .. '/' .. spec.name .. f)
    if not rok then common.fail('model:compile: cannot move the build into %s: %s', dir, tostring(rerr)) end
  end
  os.remove(tmp .. '/' .. spec.name .. '.weights.bin')
  os.remove(tmp .. '/' .. spec.name .. '.weights.o')
  os.remove(tmp)
  return res
end

-- Loads a library and checks that it is the model the caller compiled. Returns the
-- namespace, or nil and a message when the file is not a usable library. private: load a
-- copy of its own (a training build's weights are the library's writable data, which two
-- nets of one library would otherwise share).
function M.load(so, sizes, private_copy)
  local path = so
  if private_copy then
    path = private(so)
    local ok, out = run('cp ' .. q(so) .. ' ' .. q(path))
    if not ok then return nil, 'cannot copy ' .. so .. ': ' .. out end
  end
  local ok, lib = pcall(ffi.load, path)
  -- (a loaded library stays mapped once its file is gone)
  if private_copy then os.remove(path) end
  if not ok then return nil, tostring(lib) end
  local okc, bad = pcall(function()
    if tonumber(lib.cnnc_so_input_size()) ~= sizes.input or tonumber(lib.cnnc_so_output_size()) ~= sizes.output
      or tonumber(lib.cnnc_so_workspace_size()) ~= sizes.workspace then
      return 'its sizes differ from the model compiled'
    end
  end)
  if not okc then return nil, tostring(bad) end
  if bad then return nil, bad end
  return lib
end

return M
