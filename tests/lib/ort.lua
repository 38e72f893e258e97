-- ONNX Runtime as a second oracle for the ONNX tests: runs tests/lib/ort_run.js with node
-- and the npm package onnxruntime-node@1.30.0, which `make deps` installs into build/npm
-- (never committed). Tests that need it call `available()` and, when it returns false,
-- print its reason as a skip: `<suite>: skipping ONNX Runtime checks: ...`.
--
--   local ort = dofile('tests/lib/ort.lua')
--   local ok, why = ort.available()
--   local ok, err = ort.run('model.onnx', {'x.npy'}, {'y.npy'}, {threads = 1})

local M = {}

M.NPM_DIR = os.getenv('CNNC_NPM_DIR') or 'build/npm'
M.SCRIPT = 'tests/lib/ort_run.js'

local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function exists(path)
  local f = io.open(path, 'rb')
  if f then f:close() end
  return f ~= nil
end

local cached
-- true, or false and why ONNX Runtime cannot run here (what to install).
function M.available()
  if cached ~= nil then return cached[1], cached[2] end
  local why
  local rc = os.execute('command -v node >/dev/null 2>&1')
  if rc ~= 0 and rc ~= true then
    why = 'node is not installed (Debian: apt-get install npm, then make deps)'
  elseif not exists(M.NPM_DIR .. '/node_modules/onnxruntime-node/package.json') then
    why = 'onnxruntime-node is not installed in ' .. M.NPM_DIR .. ' (make deps installs it when npm is present)'
  end
  cached = { why == nil, why }
  return why == nil, why
end

-- Runs model on the .npy files `inputs`, writing the .npy files `outputs` (float32).
-- opts: threads (default 1), log (a file for node's messages), no_opt (no graph
-- optimisations). Returns true, or false and the error text.
function M.run(model, inputs, outputs, opts)
  opts = opts or {}
  local ok, why = M.available()
  if not ok then return false, why end
  local parts = { 'CNNC_NPM_DIR=' .. quote(M.NPM_DIR), 'node', quote(M.SCRIPT), quote(model),
    '--threads', tostring(opts.threads or 1) }
  if opts.no_opt then parts[#parts + 1] = '--no-opt' end
  for _, i in ipairs(inputs) do parts[#parts + 1] = quote(i) end
  for _, o in ipairs(outputs) do parts[#parts + 1] = '-o ' .. quote(o) end
  local log = opts.log or os.tmpname()
  local rc = os.execute(table.concat(parts, ' ') .. ' > ' .. quote(log) .. ' 2>&1')
  if rc == 0 or rc == true then
    if not opts.log then os.remove(log) end
    return true
  end
  local f = io.open(log, 'rb')
  local text = f and f:read('*a') or ''
  if f then f:close() end
  if not opts.log then os.remove(log) end
  return false, text:gsub('%s+$', '')
end

return M
