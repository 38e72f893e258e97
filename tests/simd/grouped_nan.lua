-- A non-finite input must stay in its groups (cnnc.simd.grouped, M.eligible): an infinity
-- in input channel 5 (run.lua puts it there) reaches outputs 0-15 of the first layer
-- (groups of 16: every target's own vectors), 0-23 of the second (groups of 24) and the
-- third (groups of 8), never channels 24-47. The groups of 24 and 8 run on 8-lane AVX2
-- vectors in an AVX-512 build (swish left to the scalar pass there): a 16-lane block of
-- channels 16-31 would span two groups and turn 0 * inf into NaN in channels 24-31.
local nn = require 'cnnc'
local m = nn.Sequential{name = 'grouped_nan', input_shape = {7, 6, 48}, seed = 4}
m:add(nn.Conv2D{48, 1, groups = 3})
m:add(nn.Conv2D{48, 3, padding = 'same', groups = 2, activation = 'swish'})
m:add(nn.Conv2D{48, 1, groups = 6})
return m
