-- cnnc.toolchain: which C compiler builds a target's code, and how its executables run.
--
-- A target of the machine's own architecture (generic, the x86 targets on x86-64, neon on
-- AArch64) is built with the C compiler the user names (--cc, $CC, else cc) and run
-- directly. A target of another architecture (neon on x86-64) is cross-compiled and its
-- executables run under user-mode emulation:
--   compiler  $CNNC_CROSS_CC, else the target's cross compiler (aarch64-linux-gnu-gcc);
--             its own ld and objcopy make the weight blob object (cnnc.cli.blob_object);
--   runner    $CNNC_RUN_WRAPPER (a command prefix, e.g. "qemu-aarch64 -L /sysroot"), else
--             the target's emulator with the cross C library (qemu-aarch64 -L
--             /usr/aarch64-linux-gnu).
-- The Debian packages: gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user. Nothing
-- here builds or runs anything; it only answers which commands to use.

local targets = require 'cnnc.targets'

local M = {}

local function shell_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function env(name)
  local v = os.getenv(name)
  if v and v ~= '' then return v end
end

-- true when target t (a table of cnnc.targets) belongs to another architecture than the
-- machine cnnc runs on.
function M.is_cross(t)
  return t.arch ~= nil and t.arch ~= targets.host_arch()
end

-- The C compiler for target t. explicit: the compiler the user named (--cc), which wins;
-- otherwise the cross compiler for a cross target, else $CC or cc.
function M.cc(t, explicit)
  if explicit and explicit ~= '' then return explicit end
  if M.is_cross(t) and t.cross then return env('CNNC_CROSS_CC') or t.cross.cc end
  return env('CC') or 'cc'
end

-- The shell words to put before an executable built for target t: '' for the machine's
-- own targets, else the emulator (with a trailing space).
function M.run_prefix(t)
  if not M.is_cross(t) then return '' end
  local w = env('CNNC_RUN_WRAPPER')
  if w then return w .. ' ' end
  if not t.cross then return '' end
  return t.cross.qemu .. ' -L ' .. shell_quote(t.cross.sysroot) .. ' '
end

local function have(cmd)
  local word = cmd:match('^%s*(%S+)')
  if not word then return false end
  local p = io.popen('command -v ' .. shell_quote(word) .. ' 2>/dev/null')
  local out = p and p:read('*a') or ''
  if p then p:close() end
  return out:match('%S') ~= nil
end

-- Whether this machine can build and run target t: true, or false and what is missing.
function M.available(t)
  if not M.is_cross(t) then return true end
  if not t.cross then
    return false, string.format('no cross toolchain is known for %s (%s) on %s', t.name, t.arch, targets.host_arch())
  end
  local missing = {}
  local cc = M.cc(t)
  if not have(cc) then missing[#missing + 1] = cc end
  local wrapper = env('CNNC_RUN_WRAPPER')
  if wrapper then
    if not have(wrapper) then missing[#missing + 1] = wrapper:match('%S+') end
  else
    if not have(t.cross.qemu) then missing[#missing + 1] = t.cross.qemu end
    local f = io.open(t.cross.sysroot .. '/lib/libc.so.6', 'rb')
    if f then f:close() else missing[#missing + 1] = t.cross.sysroot .. '/lib/libc.so.6' end
  end
  if #missing == 0 then return true end
  return false, string.format('%s needs %s (Debian: %s)', t.name, table.concat(missing, ', '),
    table.concat(t.cross.debian, ' '))
end

-- The targets of other architectures this machine can build and run under emulation (what
-- the test suites add to cnnc.targets.host_list), and one line per cross target it cannot.
function M.cross_list()
  local list, skipped = {}, {}
  for _, name in ipairs(targets.names) do
    local t = targets.list[name]
    if t and t.cross and M.is_cross(t) then
      local ok, why = M.available(t)
      if ok then list[#list + 1] = name else skipped[#skipped + 1] = why end
    end
  end
  return list, skipped
end

return M
