-- R2: a VGG-style CIFAR network on 32x32x3: three blocks of two 3x3 'same' ReLU
-- convolutions (64, 128, 256 filters) each followed by a 2x2 max-pool, then
-- Dense 256 ReLU and Dense 10 softmax. About 0.15 G multiply-adds.
local nn = require 'cnnc'

local m = nn.Sequential{name = 'r2', input_shape = {32, 32, 3}, seed = 1}
for _, filters in ipairs{64, 128, 256} do
  m:add(nn.Conv2D{filters, {3, 3}, padding = 'same', activation = 'relu'})
  m:add(nn.Conv2D{filters, {3, 3}, padding = 'same', activation = 'relu'})
  m:add(nn.MaxPooling2D{{2, 2}})
end
m:add(nn.Flatten{})
m:add(nn.Dense{256, activation = 'relu'})
m:add(nn.Dense{10, activation = 'softmax'})
return m
