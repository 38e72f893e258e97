-- R3: the convolutional part of VGG-16 on 224x224x3: 13 3x3 'same' ReLU convolutions
-- and 5 2x2 max-pools, no dense head (output 7x7x512). About 15.5 G multiply-adds.
local nn = require 'cnnc'

local m = nn.Sequential{name = 'r3', input_shape = {224, 224, 3}, seed = 1}
local cfg = {64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'}
for _, c in ipairs(cfg) do
  if c == 'M' then
    m:add(nn.MaxPooling2D{{2, 2}})
  else
    m:add(nn.Conv2D{c, {3, 3}, padding = 'same', activation = 'relu'})
  end
end
return m
