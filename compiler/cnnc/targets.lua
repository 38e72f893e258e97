-- cnnc.targets: the instruction sets generated code can be built for.
--
-- Each target names its vector width in floats, its register count (which bounds the
-- register tiles), the section of templates/simd.c that defines the vector macros the
-- kernels are written in, the CPU architecture it belongs to, and how the running CPU is
-- checked; `narrow`, a narrower target every CPU of this one also runs (whose vectors a
-- kernel may take for a layer its own vectors do not fit: cnnc.simd.grouped), and vtype,
-- the C type of a vector for such a switch. `generic` has no vectors: portable C99 only. `native` resolves to the best
-- target this machine has. A target of another architecture (neon on x86-64) is built with
-- its cross compiler and run under its emulator (cnnc.toolchain: `cross`).

local M = {}

M.list = {
  generic = { name = 'generic', width = 1 },
  sse4 = { name = 'sse4', width = 4, regs = 16, section = 'sse4', arch = 'x86_64', gcc_target = 'sse4.1',
    cpu = 'sse4.1' },
  avx2 = { name = 'avx2', width = 8, regs = 16, section = 'avx2', arch = 'x86_64', gcc_target = 'avx2,fma',
    cpu = 'avx2', cpu2 = 'fma', vtype = '__m256' },
  -- Every AVX-512 CPU has AVX2 and FMA: a kernel may run a layer on 8-lane vectors (16 ymm
  -- registers: the upper 16 need AVX-512VL, which the CPU check does not ask for).
  avx512 = { name = 'avx512', width = 16, regs = 32, section = 'avx512', arch = 'x86_64', gcc_target = 'avx512f',
    cpu = 'avx512f', narrow = 'avx2' },
  -- NEON is mandatory on AArch64: no CPU check (section aarch64_common).
  neon = { name = 'neon', width = 4, regs = 32, section = 'neon', arch = 'aarch64', common = 'aarch64_common',
    cross = { triple = 'aarch64-linux-gnu', cc = 'aarch64-linux-gnu-gcc', qemu = 'qemu-aarch64',
      sysroot = '/usr/aarch64-linux-gnu',
      debian = { 'gcc-aarch64-linux-gnu', 'libc6-dev-arm64-cross', 'qemu-user' } } },
}

M.names = { 'generic', 'sse4', 'avx2', 'avx512', 'neon', 'native' }

local host_arch
-- The architecture of the machine cnnc runs on (`uname -m`: x86_64, aarch64, ...).
function M.host_arch()
  if not host_arch then
    local p = io.popen('uname -m 2>/dev/null')
    host_arch = p and p:read('*l') or ''
    if p then p:close() end
  end
  return host_arch
end

-- The best target of the machine cnnc runs on (read from /proc/cpuinfo or uname).
function M.native()
  local f = io.open('/proc/cpuinfo', 'r')
  local info = f and f:read('*a') or ''
  if f then f:close() end
  local flags = ' ' .. (info:match('\nflags%s*:%s*([^\n]*)') or '') .. ' '
  if flags:find(' avx512f ', 1, true) then return 'avx512' end
  if flags:find(' avx2 ', 1, true) and flags:find(' fma ', 1, true) then return 'avx2' end
  if flags:find(' sse4_1 ', 1, true) then return 'sse4' end
  if M.host_arch() == 'aarch64' then return 'neon' end
  return 'generic'
end

-- generic plus every SIMD target the running CPU has (what tests run natively here); never
-- a target of another architecture.
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
