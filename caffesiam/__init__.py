"""caffesiam: siamese networks in Caffe, easy to get right, fast to build, pleasant to train."""

__version__ = "0.1.0"
