"""Model files: a Graph from an ONNX file, with its inputs for a command line."""
import sys

from . import io
from .graph import Graph, ModelError
from .onnx_import import load_onnx


def load_model(path, input_shapes=None, example=None) -> Graph:
    """A Graph from an ONNX file; dynamic input dimensions come from input_shapes, else from the
    example inputs (read_inputs' result); a dynamic batch is else 1, with a note on stderr."""
    if not str(path).endswith(".onnx"):
        raise ModelError(f"{path}: unknown model format (deepx reads .onnx files)")
    return load_onnx(path, input_shapes, example, default_batch=1,
                     note=lambda message: print(f"deepx: note: {message}", file=sys.stderr))


def model_and_inputs(model, input_path=None, input_shape_items=None):
    """(Graph, feeds) for a command line: the model, with its inputs read from IN.npz / IN.npy (which
    also give dynamic dimensions) or drawn at random."""
    arrays = io.read_inputs(input_path) if input_path else None
    g = load_model(model, io.parse_input_shapes(input_shape_items), arrays)
    return g, io.bind_inputs(arrays, g, input_path) if input_path else io.random_inputs(g)
