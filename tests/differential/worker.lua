-- differential.worker: one of the --jobs processes run.lua starts.
--
-- usage (by run.lua only): luajit tests/differential/worker.lua WORKDIR
-- Reads WORKDIR/config.lua, then takes networks one at a time: a network is claimed by
-- creating WORKDIR/claims/<index> (mkdir is atomic, so two workers never take the same
-- one and a fast worker takes more), checked (differential.check) in WORKDIR/n<index>,
-- and its verdict written to WORKDIR/results/<index> as one line: "ok" or the failure; a
-- network with a cross build (neon) also gets WORKDIR/results/<index>.<target>.
-- A passing network's directory is removed at once; a failing one stays for --keep.

local here = (arg and arg[0] or ''):match('^(.*)/[^/]*$') or '.'
local root = here .. '/../..'
package.path = root .. '/compiler/?.lua;' .. root .. '/tests/?.lua;' .. package.path

local ffi = require 'ffi'
ffi.cdef [[ int mkdir(const char *path, unsigned int mode); ]]

local check = require 'differential.check'
local gen = require 'differential.gen'

local work = assert(arg[1], 'usage: worker.lua WORKDIR')
local ctx = dofile(work .. '/config.lua')

local function claim(index)
  return ffi.C.mkdir(string.format('%s/claims/%d', work, index), 448) == 0
end

local function verdict(index, text)
  local path = string.format('%s/results/%s', work, index)
  local f = assert(io.open(path .. '.tmp', 'wb'))
  f:write(text, '\n')
  f:close()
  assert(os.rename(path .. '.tmp', path))
end

for _, index in ipairs(ctx.indices) do
  if claim(index) then
    local dir = string.format('%s/n%04d', work, index)
    os.execute('mkdir -p ' .. check.q(dir))
    local desc = '?'
    local ok, res, cross, cross_res = xpcall(function()
      local net = gen.network(ctx.seed, index)
      desc = gen.describe(net)
      return check.run(net, dir, ctx)
    end, debug.traceback)
    if not ok then
      res = { 'the test itself raised an error: ' .. tostring(res) }
      cross = check.cross_target(index, ctx.seed, ctx)
      cross_res = cross and res
    end
    local function text(list) return (table.concat(list, '; '):gsub('%s*\n%s*', ' | ')) end
    if cross then
      verdict(index .. '.' .. cross, cross_res
        and string.format('FAIL #%d [%s] %s: %s', index, cross, desc, text(cross_res)) or 'ok')
    end
    if res then
      verdict(index, string.format('FAIL #%d %s: %s', index, desc, text(res)))
    else
      if not cross_res then os.execute('rm -rf ' .. check.q(dir)) end
      verdict(index, 'ok')
    end
  end
end
