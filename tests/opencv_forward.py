"""Run by the OpenCV 5 venv (.venv-runtimes): MODEL.onnx INPUTS.npz OUTPUTS.npz.

Every array x<name> in INPUTS goes through cv2.dnn's ONNX importer; the output is y<name>.
Kept to numpy and cv2, so that it runs where caffesiam is not installed.
"""

import sys

import cv2
import numpy as np

model, inputs, outputs = sys.argv[1:4]
net = cv2.dnn.readNetFromONNX(model)
results = {}
with np.load(inputs) as arrays:
    for key in arrays.files:
        net.setInput(arrays[key])
        results["y" + key[1:]] = net.forward()
np.savez(outputs, **results)
print(cv2.__version__)
