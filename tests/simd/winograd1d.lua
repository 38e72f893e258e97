-- 1-D Winograd layers (cnnc.simd.winograd1d; tests/simd/run.lua builds this with --winograd
-- on): F(m, 3) for 3 taps and F(m, A) x F(3, 3) over 3 phases for 4 to 9 taps (taps padded
-- with zeros to 6 or 9), lengths that leave a ragged last tile, 'same', 'valid' and 'causal'
-- padding (the tiles at the ends go through the border copy), input channels that are not
-- whole vectors (the last input step then too), output channels that are not, a batch norm
-- kept as an epilogue and one folded into the weights, pools in the output transform, softmax
-- over the channels (the scalar pass), and a layer of stride 2 the direct kernel keeps.
local nn = require 'cnnc'
local m = nn.Sequential{name = 'winograd1d', input_shape = {61, 13}, seed = 4}
m:add(nn.Conv1D{19, 3, padding = 'same', activation = 'relu', bias_initializer = {'random_uniform', minval = -0.5, maxval = 0.5}})
m:add(nn.BatchNormalization{moving_variance_initializer = {'random_uniform', minval = 0.5, maxval = 2}, beta_initializer = {'random_uniform', minval = -1, maxval = 1}})
m:add(nn.Conv1D{32, 9, padding = 'causal'})
m:add(nn.BatchNormalization{moving_variance_initializer = {'random_uniform', minval = 0.5, maxval = 2}, gamma_initializer = {'random_uniform', minval = 0.5, maxval = 2}})
m:add(nn.Conv1D{24, 5, activation = 'elu'})
m:add(nn.Conv1D{16, 7, padding = 'same', activation = 'relu'})
m:add(nn.MaxPooling1D{3})
m:add(nn.Conv1D{20, 4, activation = 'softmax'})
m:add(nn.Conv1D{17, 8, padding = 'same'})
m:add(nn.AveragePooling1D{2})
m:add(nn.Conv1D{8, 3, strides = 2, padding = 'same'})
return m
