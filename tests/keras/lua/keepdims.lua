-- Global pooling with keepdims, written with the Functional API (tests/keras/data/keepdims,
-- computed by PyTorch): GlobalAveragePooling1D and GlobalMaxPooling2D keep their pooled
-- axes, so that a 1x1 convolution can follow each.
local nn = require 'cnnc'
local seq = nn.Input{shape = {10, 4}, name = 'seq'}
local image = nn.Input{shape = {6, 5, 3}, name = 'image'}

local t = nn.Conv1D{3, 3, activation = 'relu', name = 'conv_seq'}(seq)
t = nn.GlobalAveragePooling1D{keepdims = true, name = 'gap1d'}(t)     -- (1, 3)
t = nn.Conv1D{5, 1, activation = 'tanh', name = 'mix_seq'}(t)
t = nn.Flatten{name = 'flat_seq'}(t)

local i = nn.Conv2D{4, 3, padding = 'same', name = 'conv_img'}(image)
i = nn.GlobalMaxPooling2D{keepdims = true, name = 'gmp2d'}(i)          -- (1, 1, 4)
i = nn.Conv2D{5, 1, activation = 'sigmoid', name = 'mix_img'}(i)
local f = nn.Reshape{{5}, name = 'flat_img'}(i)

local probs = nn.Dense{3, activation = 'softmax', name = 'out'}(nn.Add{name = 'sum'}{t, f})
return nn.Model{inputs = {seq, image}, outputs = {probs, i}, name = 'keepdims'}
