-- A model whose output is its input, so `cnnc test` compares exactly the values a test
-- gives as inputs with those it gives as expected outputs (tests/testgen/run.sh).
local nn = require 'cnnc'
local m = nn.Sequential{name = 'identity', input_shape = {2, 4}}
m:add(nn.Activation{'linear', name = 'same'})
return m
