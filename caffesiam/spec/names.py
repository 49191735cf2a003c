"""The names the siamese wrapper gives blobs and layers (a leaf module: it imports nothing).

Mirrors examples/siamese/mnist_siamese_train_test.prototxt: the Data layer's `pair_data` and
`sim` tops, a `slice_pair` Slice into `data` and `data_p`, and a `_p` twin of every tower layer.
"""

INPUT_BLOB = "data"
TWIN_SUFFIX = "_p"
NEGATIVE_SUFFIX = "_n"  # the third tower of a triplet net
TWIN_SUFFIXES = (TWIN_SUFFIX, NEGATIVE_SUFFIX)
PAIR_DATA = "pair_data"
SIM = "sim"  # the pair's label: 1 = same class (Caffe's convention)
SLICE = "slice_pair"
LOSS_TOP = "loss"
RESERVED = frozenset({PAIR_DATA, SIM, SLICE, LOSS_TOP, INPUT_BLOB + TWIN_SUFFIX})
