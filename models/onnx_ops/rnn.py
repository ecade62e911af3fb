"""ONNX recurrent operators."""

# ONNX-level rewrites, run in order before conversion: (importer, [NodeProto]) -> [NodeProto], a new list in
# which a chain the exporters spell out (say, an Erf-based Gelu) is one new node of the operator it computes;
# the importer gives constants (`is_const`, `value`) and `g.outputs`; the model's own nodes are not changed
PATTERNS = ()


class RecurrentOps:
    """The importer's methods for these operators (a mixin of models.onnx_import._Importer)."""
