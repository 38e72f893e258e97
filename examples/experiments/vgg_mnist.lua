-- A larger network for 28x28 grey images, in the manner of VGG (Simonyan and Zisserman,
-- 2014): pairs of 3x3 convolutions before each 2x2 max pooling, so a unit of the second
-- convolution of a pair sees 5x5 of its block's input. Twice the convolution layers of
-- examples/keras_mnist.lua and about 3.5 times its multiply-adds; train.lua trains it
-- (`--model examples/experiments/vgg_mnist.lua`) and filters.lua shows what its filters
-- respond to. Weights come from the seeded initializers unless `--weights DIR` supplies
-- trained ones.
local nn = require 'cnnc'

local m = nn.Sequential{name = 'vgg_mnist', input_shape = {28, 28, 1}, seed = 1}
m:add(nn.Conv2D{32, {3, 3}, activation = 'relu'}) -- (26, 26, 32)
m:add(nn.Conv2D{32, {3, 3}, activation = 'relu'}) -- (24, 24, 32)
m:add(nn.MaxPooling2D{{2, 2}})                    -- (12, 12, 32)
m:add(nn.Conv2D{64, {3, 3}, activation = 'relu'}) -- (10, 10, 64)
m:add(nn.Conv2D{64, {3, 3}, activation = 'relu'}) -- (8, 8, 64)
m:add(nn.MaxPooling2D{{2, 2}})                    -- (4, 4, 64)
m:add(nn.Flatten{})                               -- (1024)
m:add(nn.Dense{128, activation = 'relu'})
m:add(nn.Dense{10, activation = 'softmax'})
return m
