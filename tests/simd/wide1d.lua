local nn = require 'cnnc'
local m = nn.Sequential{name = 'wide1d', input_shape = {50, 90}, seed = 3}
m:add(nn.Conv1D{33, 5, strides = 2, padding = 'causal', activation = 'selu'})
m:add(nn.Conv1D{17, 3, dilation_rate = 3, padding = 'same'})
return m
