"""ONNX recurrent operators."""


class RecurrentOps:
    """(filled by the recurrent family)"""
