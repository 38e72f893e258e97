-- Winograd layers (tests/simd/run.lua builds this with --winograd on): odd map sizes and
-- ragged tiles, 'same' and 'valid' padding, channels that are not whole vectors, a fused
-- batch norm kept as an epilogue and one folded into the weights, an activation without
-- vector form (the scalar pass), a layer without bias, uneven padding (a fused ZeroPadding2D);
-- input channels that are whole vectors (read in place) and that are not (padded copy).
local nn = require 'cnnc'
local m = nn.Sequential{name = 'winograd', input_shape = {13, 10, 5}, seed = 5}
m:add(nn.Conv2D{19, 3, padding = 'same', activation = 'relu', bias_initializer = {'random_uniform', minval = -0.5, maxval = 0.5}})
m:add(nn.Conv2D{33, 3, padding = 'valid', activation = 'relu'})
m:add(nn.BatchNormalization{moving_variance_initializer = {'random_uniform', minval = 0.5, maxval = 2}, gamma_initializer = {'random_uniform', minval = 0.5, maxval = 2}})
m:add(nn.LeakyReLU{})
m:add(nn.Conv2D{16, 3, padding = 'same', activation = 'tanh'})
m:add(nn.Conv2D{40, 3, padding = 'same', activation = 'relu'})
m:add(nn.Conv2D{24, 3, padding = 'same', use_bias = false})
m:add(nn.BatchNormalization{moving_variance_initializer = {'random_uniform', minval = 0.5, maxval = 2}, beta_initializer = {'random_uniform', minval = -1, maxval = 1}})
m:add(nn.ZeroPadding2D{{{2, 0}, {1, 3}}})
m:add(nn.Conv2D{16, 3, activation = 'relu'})
return m
