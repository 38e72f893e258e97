-- A U-Net written with the Functional API (tests/keras/data/unet): an encoder, a decoder by
-- transposed convolution and upsampling, skip connections concatenated and, cropped to
-- size as 'valid' convolutions require, added.
local nn = require 'cnnc'
local image = nn.Input{shape = {20, 20, 2}, name = 'image'}
local e1 = nn.Conv2D{8, 3, activation = 'relu', name = 'enc1'}(image)                  -- 18x18
local x = nn.MaxPooling2D{2, name = 'pool1'}(e1)                                        -- 9x9
local e2 = nn.Conv2D{12, 3, padding = 'same', activation = 'relu', name = 'enc2'}(x)
x = nn.MaxPooling2D{2, name = 'pool2'}(e2)                                              -- 4x4
x = nn.Conv2D{16, 3, padding = 'same', activation = 'relu', name = 'mid'}(x)
x = nn.Conv2DTranspose{12, 3, strides = 2, name = 'up1'}(x)                             -- 9x9
x = nn.Concatenate{name = 'cat1'}{x, e2}
x = nn.Conv2D{8, 3, padding = 'same', activation = 'relu', name = 'dec1'}(x)
x = nn.UpSampling2D{2, name = 'up2'}(x)                                                 -- 18x18
local skip = nn.Cropping2D{{{1, 1}, {2, 0}}, name = 'crop'}(e1)                          -- 16x16
x = nn.Cropping2D{{{0, 2}, {1, 1}}, name = 'crop_up'}(x)
x = nn.Add{name = 'skip_add'}{x, skip}
x = nn.UpSampling2D{{2, 1}, name = 'up3'}(x)                                            -- 32x16
local mask = nn.Conv2D{3, 1, activation = 'sigmoid', name = 'head'}(x)
return nn.Model{inputs = image, outputs = mask, name = 'unet'}
