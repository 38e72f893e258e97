-- Conv1D on the SIMD targets (cnnc.simd.conv1d, and cnnc.simd.winograd1d where its cost model
-- takes a layer): strides, dilation, 'causal' and 'same' padding (edge steps at both ends),
-- an input no longer than the window's span (every step but one an edge step), output
-- channels in several blocks with a partial last vector, a batch norm after an activation
-- kept in the registers, softmax over the channels (the scalar pass), a grouped Conv1D
-- (cnnc.simd.grouped), and one-tap layers whose input channels come in chunks.
local nn = require 'cnnc'
local m = nn.Sequential{name = 'wide1d', input_shape = {50, 90}, seed = 3}
m:add(nn.Conv1D{33, 5, strides = 2, padding = 'causal', activation = 'selu'})
m:add(nn.Conv1D{17, 3, dilation_rate = 3, padding = 'same'})
m:add(nn.Conv1D{70, 4, strides = 3, padding = 'same', activation = 'relu'})
m:add(nn.BatchNormalization{moving_variance_initializer = {'random_uniform', minval = 0.5, maxval = 2}, beta_initializer = {'random_uniform', minval = -1, maxval = 1}})
m:add(nn.Conv1D{12, 5, dilation_rate = 2, padding = 'same', activation = 'softmax'})
m:add(nn.Conv1D{32, 3, groups = 2, padding = 'causal', activation = 'relu'})
-- one-tap layers sum their input channels in chunks (avx512: 2 of 16, then 3 of 18 and one
-- of 16; avx2: the second in 2), a vector activation applied after the last
m:add(nn.Conv1D{70, 1})
m:add(nn.Conv1D{45, 1, activation = 'tanh'})
return m
