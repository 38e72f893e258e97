-- cnnc.emit.tidy: the rewrites that remove the generator's leftovers from C text, and the
-- cases where C's precedence or side effects forbid them.

package.path = 'compiler/?.lua;' .. package.path
local tidy = require 'cnnc.emit.tidy'

local function same(want, src)
  assert.equal(want, tidy.run(src))
end

describe('tidy expressions', function()
  it('folds literal arithmetic where grouping allows', function()
    same('x = 32;', 'x = 2 * 16;')
    same('p = a[5];', 'p = a[2 + 3];')
    same('y = x - 6;', 'y = x - 2 * 3;')
    same('f(12, 7);', 'f(3 * 4, 10 - 3);')
    same('q = 3;', 'q = 7 / 2;')
    same('r = 1;', 'r = 7 % 3;')
  end)
  it('leaves literals C would group otherwise', function()
    same('y = x * 2 * 3;', 'y = x * 2 * 3;')
    same('y = x + 2 + 3;', 'y = x + 2 + 3;')
    same('y = x - 2 + 3;', 'y = x - 2 + 3;')
    same('y = 2 + 3 * x;', 'y = 2 + 3 * x;')
    same('y = -2 * 3;', 'y = -2 * 3;')
    same('y = a / 2 * 3;', 'y = a / 2 * 3;')
    same('y = 0 - 5;', 'y = 0 - 5;')
    same('y = 2.0f * 3.0f;', 'y = 2.0f * 3.0f;')
  end)
  it('drops * 1, / 1, + 0 and - 0', function()
    same('a[i] = b[j];', 'a[i * 1] = b[j + 0];')
    same('p = q;', 'p = q / 1 - 0;')
    same('f(x, y);', 'f(1 * x, 0 + y);')
    same('z = (a + b);', 'z = (a + b) * 1;')
  end)
  it('keeps 1 * after a division and + 0 before a product', function()
    same('y = a * b;', 'y = a / 1 * b;')
    same('y = a % 1 * b;', 'y = a % 1 * b;')
    same('y = a + 0 * b;', 'y = a + 0 * b;')
    same('y = 0.0f + x;', 'y = 0.0f + x;')
  end)
  it('drops parentheses around a lone operand or a whole index, not calls or casts', function()
    same('y = x * 3;', 'y = (x) * 3;')
    same('a[i * 4 + j] = 0;', 'a[(i * 4 + j)] = 0;')
    same('y = f(x);', 'y = f(x);')
    same('y = (float)x;', 'y = (float)x;')
    same('y = (int)(x);', 'y = (int)(x);')
  end)
  it('folds comparisons and conditionals', function()
    same('{\n  f(1);\n}', '{\n  const int b = 4 == 4;\n  f(b);\n}')
    same('n = 7;', 'n = 1 ? 7 : 9;')
    same('n = 9;', 'n = 0 ? 7 : 9;')
    same('n = 5;', 'n = last ? 5 : 5;')
    same('n = last ? 5 : 6;', 'n = last ? 5 : 6;')
  end)
  it('leaves comments, strings and preprocessor lines alone', function()
    same('/* 2 * 16 + 0 */ x = "1 * 2";\n#define K (2 * 3)\n', '/* 2 * 16 + 0 */ x = "1 * 2";\n#define K (2 * 3)\n')
  end)
end)

describe('tidy statements', function()
  it('turns a loop of one iteration into a block', function()
    same('{\n  y[0] = 2;\n}', 'for (int b = 0; b < 1; ++b) {\n  y[b] = b * 3 + 2;\n}')
    same('{\n  f(3);\n}', 'for (int k = 3; k < 9; k += 8) {\n  f(k);\n}')
  end)
  it('turns a braceless loop of one iteration into its statement', function()
    same('{\n  memset(s + 12, 0, sizeof(float) * 5);\n  x = 1;\n}',
      '{\n  for (int k = 0; k < 1; ++k) memset(s + k * 3468 + 12, 0, sizeof(float) * 5);\n  x = 1;\n}')
    same('{ vf_store(t, a); out[4] = t[0]; }', '{ vf_store(t, a); for (int j = 0; j < 1; ++j) out[4 + j] = t[j]; }')
    same('for (int i = 0; i < 4; ++i)\ny[i] = 0;', 'for (int g = 0; g < 1; ++g)\nfor (int i = 0; i < 4; ++i)\ny[g * 4 + i] = 0;')
    same('{\n  for (int k = 0; k < 3; ++k) {\n    if (k == 1) continue;\n    f(k);\n  }\n}',
      'for (int g = 0; g < 1; ++g) {\n  for (int k = 0; k < 3; ++k) {\n    if (k == 1) continue;\n    f(g + k);\n  }\n}')
    same('if (c) if (d) a[0] = 1; else b[0] = 2;\nz = 3;',
      'if (c) for (int k = 0; k < 1; ++k) if (d) a[k] = 1; else b[k] = 2;\nz = 3;')
  end)
  it('drops the braces of a block that declares nothing, or ends a block that does not see its names before it', function()
    -- (cnnc.template re-indents the file afterwards)
    same('for (;;) {\nf(x);\nfloat y = 1;\ng(y);\n}', 'for (;;) {\nf(x);\n{\nfloat y = 1;\ng(y);\n}\n}')
    same('if (c) {\nint a = 0, y = 2;\ng(y);\n}', 'if (c) {\n{\nint a = 0, y = 2;\ng(y);\n}\n}')
    local shadow = 'for (;;) {\nfloat y = 0;\nf(y);\n{\nfloat y = 1;\ng(y);\n}\n}'
    same(shadow, shadow)
    local comma = 'for (;;) {\nf(y);\n{\nint a = 0, y = 2;\ng(y);\n}\n}'
    same(comma, comma)
    local params = 'void f(int y)\n{\n{\nfloat y = 1;\ng(y);\n}\n}'
    same(params, params)
    same('void f(int x)\n{\nx = 2;\nfloat y = 1;\ng(x, y);\n}', 'void f(int x)\n{\nx = 2;\n{\nfloat y = 1;\ng(x, y);\n}\n}')
    local init = 'float a[2][2] = {\n{1, 2},\n{3, 4}\n};'
    same(init, init)
    local middle = 'for (;;) {\n{\nfloat y = 1;\ng(y);\n}\nh(x);\n}'
    same(middle, middle)
    same('void f(int y)\n{\ng(y);\nh(y);\nk(y);\n}', 'void f(int y)\n{\n{\ng(y);\nh(y);\n}\nk(y);\n}')
    same('void f(int y)\n{\nfor (int i = 0; i < y; ++i) {\nint z = i;\ng(z);\n}\nk(y);\n}',
      'void f(int y)\n{\n{\nfor (int i = 0; i < y; ++i) {\nint z = i;\ng(z);\n}\n}\nk(y);\n}')
    same('{\n  y[0] = 2;\n}', '{\n  y[0] = 2;\n}')
  end)
  it('turns `if (c) continue;` in a loop of one iteration into an if around the rest', function()
    same('for (int oy = 0; oy < 9; ++oy) {\nconst int iy = oy / 3;\nif (!(oy % 3 != 0 || iy >= 3)) {\nf(iy);\n'
      .. 'if (!(iy == 2)) {\ng(iy);\n}\n}\n}',
      'for (int oy = 0; oy < 9; ++oy) {\nfor (int ky = 0; ky < 1; ++ky) {\nconst int iy = (oy - ky) / 3;\n'
      .. 'if ((oy - ky) % 3 != 0 || iy >= 3) continue;\nf(iy);\nif (iy == 2) continue;\ng(iy + ky);\n}\n}')
    local other = 'for (int b = 0; b < 1; ++b) {\nif (x) continue;\nif (y) g(b); else continue;\n}'
    same(other, other)
  end)
  it('keeps a loop of one iteration whose body has a break or changes its variable', function()
    local a = 'for (int b = 0; b < 1; ++b) {\n  if (x) break;\n  g(b);\n}'
    same(a, a)
    local c = 'for (int b = 0; b < 1; ++b) {\n  b += 2;\n}'
    same(c, c)
    local d = 'for (int b = 0; b < 1; ++b) break;\nx = 1;'
    same(d, d)
    local e = 'for (int b = 0; b < 1; ++b) b += 2;\nx = 1;'
    same(e, e)
  end)
  it('drops loops that never run and empty loops', function()
    same('x = 1;', 'for (int b = 4; b < 4; ++b) {\n  g(b);\n}\nx = 1;')
    same('x = 1;', 'for (int c = 0; c < 8; ++c) {\n}\nx = 1;')
    same('x = 1;', 'for (int b = 4; b < 4; ++b) if (y) g(b); else h(b);\nx = 1;')
    same('x = 1;', 'for (int c = 0; c < 8; ++c) ;\nx = 1;')
  end)
  it('keeps a loop that never runs where a statement must stay (the body of an if)', function()
    local a = 'if (y) for (int b = 4; b < 4; ++b) g(b);\nx = 1;'
    same(a, a)
  end)
  it('propagates const int literals through their block', function()
    same('{\n  f(26, 3);\n}\ng(y1);', '{\n  const int y0 = 0, y1 = 26;\n  f(y1 + y0, 3);\n}\ng(y1);')
    local kept = '{\n  const int n = 4;\n  int *p = (int *)&n;\n}'
    same(kept, kept)
  end)
  it('drops fills and copies of zero floats, with a braceless loop around them', function()
    same('x = 1;', 'memset(p + 4, 0, sizeof(float) * 0);\nx = 1;')
    same('x = 1;', 'for (int k = 0; k < 3; ++k) memcpy(d + k, s, sizeof(float) * 0);\nx = 1;')
    same('memset(p, 0, sizeof(float) * n);', 'memset(p, 0, sizeof(float) * n);')
  end)
  it('drops self-assignments but not calls', function()
    same('{\n  z = 1;\n}', '{\n  y[c] = y[c];\n  z = 1;\n}')
    same('{\n  y[f(c)] = y[f(c)];\n}', '{\n  y[f(c)] = y[f(c)];\n}')
  end)
end)
