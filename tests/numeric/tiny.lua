-- A small network whose output is linear (no softmax to hide tiny values) and whose
-- biases are zero: on an all-zero input every value is exactly 0, on a denormal input
-- (1e-40) every value would be denormal unless flushed. Used by tests/numeric/denormals.sh.
local nn = require 'cnnc'
return nn.Sequential{ name = 'tiny', input_shape = { 8, 8, 2 }, seed = 1, layers = {
  nn.Conv2D{ 16, 3, padding = 'same', activation = 'relu' },
  nn.MaxPooling2D{ 2 },
  nn.Conv2D{ 8, 3, padding = 'same' },
  nn.Flatten{},
  nn.Dense{ 4 },
} }
