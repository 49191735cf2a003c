"""An ONNX graph under construction: nodes, weights and the ONNX value that each Caffe blob holds.

Caffe reuses blob names (in-place layers write their top over their bottom); ONNX values are
written once, so every write makes a new value and `blobs` maps the Caffe name to the newest.
"""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper, shape_inference

from caffesiam.errors import ExportError

OPSET = 21  # onnx 1.16+, onnxruntime 1.18+ and OpenCV 5 read it
IR_VERSION = 10  # the IR that opset 21 came with
BATCH = "batch"  # the name of the dynamic first dimension
_SHAPE_DATA_LIMIT = 64  # weights up to this size go into shape inference as data (shapes, axes)


class Graph:
    """Nodes and initializers in order; `blobs` maps a Caffe blob to its current ONNX value."""

    def __init__(self, input_name: str, input_shape: list[int]):
        self.input = helper.make_tensor_value_info(
            input_name, TensorProto.FLOAT, [BATCH, *input_shape[1:]]
        )
        self.nodes: list = []
        self.weights: list = []
        self.blobs = {input_name: input_name}
        self.names = {input_name}
        self._shapes: dict[str, tuple] = {input_name: (None, *input_shape[1:])}

    def name(self, hint: str) -> str:
        """A value name not used yet: `hint`, else `hint` with a number."""
        name, n = hint, 1
        while name in self.names:
            name, n = f"{hint}_{n}", n + 1
        self.names.add(name)
        return name

    def blob(self, caffe_name: str, layer) -> str:
        """The ONNX value that holds Caffe blob `caffe_name` now; ExportError if none does."""
        if caffe_name not in self.blobs:
            raise ExportError(
                f"layer '{layer.name}' ({layer.type}): bottom '{caffe_name}' is not made by any "
                f"earlier layer"
            )
        return self.blobs[caffe_name]

    def const(self, hint: str, array) -> str:
        """An initializer holding `array` (float32 unless it is an integer array)."""
        array = np.asarray(array)
        array = array.astype(np.int64 if array.dtype.kind in "iu" else np.float32)
        name = self.name(hint)
        self.weights.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str, **attributes) -> str:
        """Append one node with one output, named after `hint`; returns the output's name."""
        output = self.name(hint)
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=output, **attributes))
        return output

    def shape(self, value: str) -> tuple:
        """The shape of `value` (None for the batch dimension), by ONNX shape inference."""
        if value not in self._shapes:
            model = self.model([value], check=False, shapes_only=True)
            inferred = shape_inference.infer_shapes(model, strict_mode=True).graph
            for info in list(inferred.value_info) + list(inferred.output):
                dims = info.type.tensor_type.shape.dim
                self._shapes[info.name] = tuple(
                    d.dim_value if d.HasField("dim_value") else None for d in dims
                )
        return self._shapes[value]

    def _dims(self, value: str, known: bool):
        """The dimensions to declare for an output: inferred when `known`, else left open."""
        return [BATCH if d is None else d for d in self.shape(value)] if known else None

    def model(self, outputs: list[str], check=True, shapes_only=False) -> onnx.ModelProto:
        """The ModelProto of everything so far, with `outputs` as the graph's outputs.

        `shapes_only` leaves large weights out (declared as inputs by their shape), so that
        inferring shapes midway through a large net does not copy all its weights each time.
        """
        weights, inputs = self.weights, [self.input]
        if shapes_only:
            weights = [w for w in self.weights if np.prod(w.dims) <= _SHAPE_DATA_LIMIT]
            inputs = inputs + [
                helper.make_tensor_value_info(w.name, w.data_type, list(w.dims))
                for w in self.weights
                if np.prod(w.dims) > _SHAPE_DATA_LIMIT
            ]
        graph = helper.make_graph(
            self.nodes,
            "caffesiam_tower",
            inputs,
            [
                helper.make_tensor_value_info(o, TensorProto.FLOAT, self._dims(o, check))
                for o in outputs
            ],
            initializer=weights,
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            ir_version=IR_VERSION,
            producer_name="caffesiam",
        )
        if check:
            onnx.checker.check_model(model, full_check=True)
        return model
