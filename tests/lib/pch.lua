-- Test-suite speed: a precompiled <immintrin.h> for the many small x86 SIMD builds the
-- suites compile. Parsing that header is most of such a build's compile time (about
-- 0.5 s of 0.8 s of CPU for a small model), so the suites that build hundreds of them
-- compile with `-include $PWD/build/tests/pch/<key>/cnnc_sys.h`, whose .gch gcc loads instead.
-- The generated C is unchanged and still includes <immintrin.h> itself (a second include
-- does nothing); gcc ignores a .gch made with other options, so the worst a stale or
-- mismatched one costs is time. Not for clang, cross compilers, or non-x86 hosts.
--   M.flags(cc, cflags, target): ' -include ...' for an x86 SIMD target (a cnnc.targets
--   entry or name) built by gcc with exactly these cflags (cli.cc_command's -std=c99
--   included), else ''.
local M = {}
local made = {}

local function sh(cmd)
  local p = io.popen(cmd .. ' 2>/dev/null')
  local out = p:read('*a')
  p:close()
  return out
end

local gcc_of = {}
local function is_host_gcc(cc)
  if gcc_of[cc] == nil then
    local v = sh(cc .. ' -dumpmachine') .. '|' .. sh(cc .. ' --version')
    gcc_of[cc] = v:match('x86_64') ~= nil and v:match('clang') == nil and v:match('Free Software Foundation') ~= nil
  end
  return gcc_of[cc]
end

function M.flags(cc, cflags, target)
  local name = type(target) == 'table' and target.name or target
  if name ~= 'sse4' and name ~= 'avx2' and name ~= 'avx512' then return '' end
  if os.getenv('CNNC_TEST_PCH') == '0' or not is_host_gcc(cc) then return '' end
  local key = cc .. '\0' .. cflags
  if made[key] ~= nil then return made[key] end
  -- a short stable name for the options (FNV-1a)
  local h = 2166136261
  for i = 1, #key do h = bit.band(bit.bxor(h, key:byte(i)) * 16777619, 0xffffffff) end
  local dir = string.format('%s/build/tests/pch/%08x', (sh('pwd'):gsub('%s+$', '')), h % 0x100000000)
  local hdr = dir .. '/cnnc_sys.h'
  if not io.open(hdr .. '.gch/plain.gch', 'rb') then
    os.execute('mkdir -p ' .. dir)
    local f = assert(io.open(hdr, 'w'))
    -- The feature macros first, as the runtime and a threaded model's C define them
    -- (identical definitions may repeat): <immintrin.h> brings in <stdlib.h>.
    f:write('/* made by tests/lib/pch.lua */\n#define _POSIX_C_SOURCE 200809L\n#define _XOPEN_SOURCE 700\n'
      .. '#include <immintrin.h>\n')
    f:close()
    -- made under a name of its own, then renamed: shards running at once may both make it
    -- A directory of two: gcc uses the one made with the options of the build at hand
    -- (-pthread, which a threaded model's build adds, defines _REENTRANT).
    local ok = os.execute(string.format('t=$(mktemp -d %s/gch.XXXXXX) && { %s %s -x c-header %s -o "$t/plain.gch" '
      .. '&& %s %s -pthread -x c-header %s -o "$t/pthread.gch"; } >/dev/null 2>&1 && { mv -T "$t" %s.gch 2>/dev/null '
      .. '|| rm -rf "$t"; }', dir, cc, cflags, hdr, cc, cflags, hdr, hdr))
    if not ((ok == 0 or ok == true) and io.open(hdr .. '.gch/plain.gch', 'rb')) then
      made[key] = ''
      return ''
    end
  end
  made[key] = ' -include ' .. hdr
  return made[key]
end

return M
