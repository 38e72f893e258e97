-- Targets of another architecture (cnnc.targets, cnnc.toolchain): which compiler builds them,
-- how their executables run, and that neon C refuses a compiler for the wrong machine.

local T = dofile((debug.getinfo(1, 'S').source:match('^@(.*[/\\])') or './') .. 'testutil.lua')
local nn = T.nn
local targets = require 'cnnc.targets'
local toolchain = require 'cnnc.toolchain'

local function neon_model()
  return nn.Sequential{ name = 'tiny', input_shape = { 6, 6, 3 }, seed = 2, layers = {
    nn.Conv2D{ 8, 3, activation = 'relu' }, nn.Flatten{}, nn.Dense{ 4 },
  } }
end

describe('targets of another architecture', function()
  local host = targets.host_arch()
  local neon = targets.list.neon

  it('host_list names only targets of this machine', function()
    for _, name in ipairs(targets.host_list()) do
      local t = targets.list[name]
      assert.is_false(toolchain.is_cross(t), name)
    end
    if host ~= 'aarch64' then assert.is_true(toolchain.is_cross(neon)) end
  end)

  it('a cross target gets its cross compiler and emulator, an own one $CC and nothing', function()
    local generic = targets.list.generic
    assert.equal('', toolchain.run_prefix(generic))
    assert.equal('mycc', toolchain.cc(neon, 'mycc'))
    if host ~= 'aarch64' and not os.getenv('CNNC_CROSS_CC') and not os.getenv('CNNC_RUN_WRAPPER') then
      assert.equal('aarch64-linux-gnu-gcc', toolchain.cc(neon))
      assert.equal("qemu-aarch64 -L '/usr/aarch64-linux-gnu' ", toolchain.run_prefix(neon))
    end
  end)

  it('cross_list offers only what it can run, and says why not otherwise', function()
    local list, skipped = toolchain.cross_list()
    for _, name in ipairs(list) do assert.is_true(toolchain.is_cross(targets.list[name])) end
    for _, why in ipairs(skipped) do assert.matches('needs', why) end
  end)

  it('neon C has no CPU check to fail and stops a compiler for another machine with a clear error', function()
    local r = T.compile(neon_model(), { target = 'neon' })
    assert.truthy(r.c:find('int tiny_cpu_supported(void)', 1, true))
    assert.truthy(r.c:find('#if !defined(__aarch64__)', 1, true))
    assert.truthy(r.c:find('#error "the neon target needs an AArch64 C compiler', 1, true))
    if host ~= 'aarch64' then
      local dir = T.tmpdir()
      assert(T.driver.write_c(r, dir))
      local p = io.popen(string.format('cc -std=c99 -fsyntax-only %s/tiny.c 2>&1', dir))
      local out = p:read('*a')
      p:close()
      T.rmdir(dir)
      assert.matches('the neon target needs an AArch64 C compiler', out, 1, true)
    end
  end)
end)
