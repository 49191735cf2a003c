"""Caffe itself: where it is installed, caffe_pb2 and prototxt text, the process runner, net
upgrades, shapes and weight checks (Caffe aborts on a bad net, so those run in a child), doctor."""
