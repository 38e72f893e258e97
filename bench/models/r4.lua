-- R4: a 1-D convolutional network on a 4096-sample, 1-channel signal: Conv1D 16 (k9,
-- same), pool 2, Conv1D 32 (k9, same), pool 2, Conv1D 64 (k9, valid), global average,
-- Dense 4 (linear).
local nn = require 'cnnc'

local m = nn.Sequential{name = 'r4', input_shape = {4096, 1}, seed = 1}
m:add(nn.Conv1D{16, 9, padding = 'same', activation = 'relu'})
m:add(nn.MaxPooling1D{2})
m:add(nn.Conv1D{32, 9, padding = 'same', activation = 'relu'})
m:add(nn.MaxPooling1D{2})
m:add(nn.Conv1D{64, 9, activation = 'relu'})
m:add(nn.GlobalAveragePooling1D{})
m:add(nn.Dense{4})
return m
