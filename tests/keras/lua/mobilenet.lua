-- MobileNet's blocks written with the Functional API: a strided stem, depthwise and
-- separable convolutions, batch norm and ReLU6 (tests/keras/data/mobilenet).
local nn = require 'cnnc'

-- convolution, batch norm, ReLU6
local function block(x, conv, name)
  x = conv(x)
  x = nn.BatchNormalization{name = name .. '_bn'}(x)
  return nn.ReLU{6, name = name .. '_relu'}(x)
end

local image = nn.Input{shape = {24, 24, 3}, name = 'image'}
local x = block(image, nn.Conv2D{8, 3, strides = 2, padding = 'same', use_bias = false, name = 'stem'}, 'stem')
x = block(x, nn.DepthwiseConv2D{3, padding = 'same', use_bias = false, name = 'dw1'}, 'dw1')
x = nn.Conv2D{16, 1, use_bias = false, name = 'pw1'}(x)
x = nn.BatchNormalization{name = 'pw1_bn'}(x)
x = nn.Activation{'relu6', name = 'pw1_relu'}(x)
x = block(x, nn.DepthwiseConv2D{3, strides = 2, padding = 'same', depth_multiplier = 2, name = 'dw2'}, 'dw2')
x = nn.SeparableConv2D{24, 3, padding = 'same', activation = 'relu6', name = 'sep'}(x)
x = nn.BatchNormalization{name = 'sep_bn'}(x)
x = nn.GlobalAveragePooling2D{name = 'pool'}(x)
x = nn.Dropout{0.25, name = 'dropout'}(x)
local probs = nn.Dense{10, activation = 'softmax', name = 'logits'}(x)
return nn.Model{inputs = image, outputs = probs, name = 'mobilenet'}
