-- Every activation's C derivative (cnnc.activations' grad_c, which backward code inlines)
-- against its reference derivative (grad) at points on both sides of each kink and bound,
-- with the parameters the Keras and ONNX layers give them. One C program evaluates all.
local acts = require 'cnnc.activations'

-- Parameters per activation (its defaults otherwise).
local PARAMS = {
  leaky_relu = { { alpha = 0.2 }, { alpha = -0.5 } },
  onnx_elu = { { alpha = 0.5 }, { alpha = 1.7 } },
  onnx_selu = { { alpha = 1.67326, gamma = 1.0507 } },
  onnx_hard_sigmoid = { { alpha = 0.2, beta = 0.5 }, { alpha = 0.5, beta = 0.1 } },
  celu = { { alpha = 1.0 }, { alpha = 0.4 } },
  clip = { { min = -1.0, max = 2.0 }, { min = 0.5 }, { max = 0.25 }, {} },
  keras_relu = { { threshold = 0, negative_slope = 0 }, { threshold = 0.5, max = 2.0, negative_slope = 0.1 } },
}
local XS = { -7, -3.5, -3, -2.6, -1.2, -0.7, -0.3, -0.05, 0.05, 0.3, 0.55, 0.9, 1.4, 2.2, 2.9, 3.4, 5.5, 6.5, 9 }

describe('activation derivatives in C', function()
  it('match the reference derivative of every activation that has one', function()
    local cases, lines = {}, {}
    local names = {}
    for name, op in pairs(acts.ops) do if op.grad_c and op.ref then names[#names + 1] = name end end
    table.sort(names)
    for _, name in ipairs(names) do
      local op = acts.ops[name]
      for _, p in ipairs(PARAMS[name] or { acts.params_for and acts.params_for(name) or {} }) do
        for _, x in ipairs(XS) do
          local y = op.ref(x, p)
          local want = op.grad(x, y, p)
          local xs, ys = require('cnnc.util').c_float(x), require('cnnc.util').c_float(y)
          cases[#cases + 1] = { name = name, x = x, want = want }
          lines[#lines + 1] = string.format('{ float x = %s, y = %s; (void)x; (void)y; printf("%%.9g\\n", (double)(%s)); }',
            xs, ys, op.grad_c('x', 'y', p))
        end
      end
    end
    assert.is_true(#cases > 100)
    local dir = os.tmpname()
    os.remove(dir)
    os.execute('mkdir -p ' .. dir)
    local f = assert(io.open(dir .. '/g.c', 'w'))
    f:write('#include <math.h>\n#include <stdio.h>\nint main(void)\n{\n', table.concat(lines, '\n'), '\nreturn 0;\n}\n')
    f:close()
    local cp = io.popen(string.format('cc -std=c99 -O1 -Wall -Werror -o %s/g %s/g.c -lm 2>&1; echo "status:$?"', dir, dir))
    local log = cp:read('*a')
    cp:close()
    assert(log:match('status:0%s*$'), 'the C does not compile:\n' .. log:sub(1, 3000))
    local p = io.popen(dir .. '/g')
    local k = 0
    for line in p:lines() do
      k = k + 1
      local c = cases[k]
      local got = tonumber(line)
      assert(math.abs(got - c.want) <= 1e-5 * (1 + math.abs(c.want)),
        string.format('%s at x = %g: C gives %s, the reference %g', c.name, c.x, line, c.want))
    end
    p:close()
    os.execute('rm -rf ' .. dir)
    assert.equals(#cases, k)
  end)
end)
