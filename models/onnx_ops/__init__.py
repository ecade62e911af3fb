"""The ONNX importer's operator methods, one mixin class per op family (the families of kernels/ref).

Each `op_<OnnxType>(self, node, attrs)` uses the importer's tensor helpers (models/onnx_import.py:
`is_const`, `value`, `shape`, `emit`, `fold`, `runtime`, `weight`); its docstring is the operator's row in
the README's table ("deepx op: limits.").
"""


def ints(v):
    return [int(i) for i in v]
