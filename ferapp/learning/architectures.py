"""The networks' shapes by name and the precisions they train in: plain data, no Keras, so
that command lines can offer and check them before Keras starts (network.py builds them)."""

# name -> (conv blocks as (filters, kernel, convs per block), dense widths); a block ends
# in 2x2 max pooling. Names in RESIDUAL build each pair of a block's convolutions as a
# residual unit (ResNet's basic block: the pair's input, projected by a 1x1 convolution when
# the width changes, is added before the second ReLU).
ARCHITECTURES = {
    # the tutorial's network: 64 3x3 / 128 5x5 / 512 3x3 / 512 3x3, dense 256, 512
    "tutorial": ([(64, 3, 1), (128, 5, 1), (512, 3, 1), (512, 3, 1)], (256, 512)),
    # the same at half width (about 1/4 of the compute)
    "half": ([(32, 3, 1), (64, 5, 1), (256, 3, 1), (256, 3, 1)], (128, 256)),
    # VGG-style: two 3x3 convolutions per block, narrow early, wide late
    "compact": ([(32, 3, 2), (64, 3, 2), (128, 3, 2), (256, 3, 2)], (256, 256)),
    # compact with the two low-resolution blocks twice as wide (12x12 and 6x6 maps):
    # 2.4x the multiply-adds, about the same training time in mixed bfloat16 (AMX)
    "wide": ([(32, 3, 2), (64, 3, 2), (256, 3, 2), (512, 3, 2)], (256, 256)),
    # deeper and residual: 12 convolutions, two residual units in each low-resolution
    # block; about 0.7x wide's multiply-adds (a teacher of another kind, issue 25)
    "residual": ([(32, 3, 2), (64, 3, 2), (128, 3, 4), (256, 3, 4)], (256, 256)),
}
RESIDUAL = frozenset({"residual"})

# Keras dtype policies a model can be built and trained under (its exports are float32)
PRECISIONS = ("float32", "mixed_bfloat16")
