"""Tower -> siamese (or triplet) train_test net, deploy net, losses and solver: caffe_pb2
messages, no I/O."""
