"""Deploy a trained tower anywhere: export to ONNX (`export`), run it without Caffe (`runtime`)."""
