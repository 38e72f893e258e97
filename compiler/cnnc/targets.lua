-- cnnc.targets: the instruction sets generated code can be built for.
--
-- Each target names its vector width in floats, its register count (which bounds the
-- register tiles), the section of templates/simd.c that defines the vector macros the
-- kernels are written in, and how the running CPU is checked. `generic` has no vectors:
-- portable C99 only. `native` resolves to the best target this machine has.

local M = {}

M.list = {
  generic = { name = 'generic', width = 1 },
  sse4 = { name = 'sse4', width = 4, regs = 16, section = 'sse4', gcc_target = 'sse4.1', cpu = 'sse4.1' },
  avx2 = { name = 'avx2', width = 8, regs = 16, section = 'avx2', gcc_target = 'avx2,fma', cpu = 'avx2', cpu2 = 'fma' },
  avx512 = { name = 'avx512', width = 16, regs = 32, section = 'avx512', gcc_target = 'avx512f', cpu = 'avx512f' },
  neon = { name = 'neon', width = 4, regs = 32, section = 'neon' },
}

M.names = { 'generic', 'sse4', 'avx2', 'avx512', 'neon', 'native' }

-- The best target of the machine cnnc runs on (read from /proc/cpuinfo or uname).
function M.native()
  local f = io.open('/proc/cpuinfo', 'r')
  local info = f and f:read('*a') or ''
  if f then f:close() end
  local flags = ' ' .. (info:match('\nflags%s*:%s*([^\n]*)') or '') .. ' '
  if flags:find(' avx512f ', 1, true) then return 'avx512' end
  if flags:find(' avx2 ', 1, true) and flags:find(' fma ', 1, true) then return 'avx2' end
  if flags:find(' sse4_1 ', 1, true) then return 'sse4' end
  local p = io.popen('uname -m 2>/dev/null')
  local arch = p and p:read('*l') or ''
  if p then p:close() end
  if arch == 'aarch64' then return 'neon' end
  return 'generic'
end

-- generic plus every x86 SIMD target the running CPU has (what tests exercise here).
function M.host_list()
  local best = M.native()
  local order = { 'sse4', 'avx2', 'avx512' }
  local list = { 'generic' }
  for _, n in ipairs(order) do
    list[#list + 1] = n
    if n == best then return list end
  end
  if best == 'neon' then list = { 'generic', 'neon' } else list = { 'generic' } end
  return list
end

-- Returns the target table for a name, or nil and a message.
function M.get(name)
  if name == nil then name = 'generic' end
  if name == 'native' then name = M.native() end
  local t = M.list[name]
  if not t then
    return nil, string.format("unknown target '%s' (targets: %s)", tostring(name), table.concat(M.names, ', '))
  end
  return t
end

return M
