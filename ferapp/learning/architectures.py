"""The networks' shapes by name and the precisions they train in: plain data, no Keras, so
that command lines can offer and check them before Keras starts (network.py builds them)."""

# name -> (conv blocks as (filters, kernel, convs per block), dense widths); a block ends
# in 2x2 max pooling. Names in RESIDUAL build each pair of a block's convolutions as a
# residual unit (ResNet's basic block: the pair's input, projected by a 1x1 convolution when
# the width changes, is added before the second ReLU). Names in SEPARABLE build every
# convolution but the first (on the one grey channel) as a depthwise separable one
# (a 3x3 per channel, then a 1x1 across channels: MobileNet's and Xception's unit).
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
    # students (issue 39: at most 60 M multiply-adds, a fifth of wide's 289 M):
    # wide's widths, separable convolutions (about 34 M)
    "sepwide": ([(32, 3, 2), (64, 3, 2), (256, 3, 2), (512, 3, 2)], (256, 256)),
    # one more separable convolution in each low-resolution block (about 54 M)
    "sepdeep": ([(32, 3, 2), (64, 3, 2), (256, 3, 3), (512, 3, 3)], (256, 256)),
    # compact at half width in the two high-resolution blocks and 176 filters at 6x6:
    # plain convolutions (about 58 M)
    "slim": ([(16, 3, 2), (32, 3, 2), (128, 3, 2), (176, 3, 2)], (256, 256)),
}
RESIDUAL = frozenset({"residual"})
SEPARABLE = frozenset({"sepwide", "sepdeep"})
STUDENTS = frozenset({"slim", "sepwide", "sepdeep"})  # at most STUDENT_MACS each
# the most multiply-adds per face a student may cost (issue 39)
STUDENT_MACS = 60_000_000

# Keras dtype policies a model can be built and trained under (its exports are float32)
PRECISIONS = ("float32", "mixed_bfloat16")
