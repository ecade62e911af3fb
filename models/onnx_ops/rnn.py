"""ONNX recurrent operators: LSTM, GRU, RNN with their default activations."""
import numpy as np

from ..graph import ModelError

# ONNX-level rewrites, run in order before conversion: (importer, [NodeProto]) -> [NodeProto], a new list in
# which a chain the exporters spell out (say, an Erf-based Gelu) is one new node of the operator it computes;
# the importer gives constants (`is_const`, `value`) and `g.outputs`; the model's own nodes are not changed
PATTERNS = ()

DEFAULT_ACTS = {"LSTM": ["sigmoid", "tanh", "tanh"], "GRU": ["sigmoid", "tanh"], "RNN": ["tanh"]}
STATES = {"LSTM": ("y", "h", "c"), "GRU": ("y", "h"), "RNN": ("y", "h")}


class RecurrentOps:
    """The importer's methods for these operators (a mixin of models.onnx_import._Importer)."""

    def _recurrent_attrs(self, node, a):
        """Refuse what the recurrent ops do not compute: other activations, clip, input_forget, a hidden_size
        other than R's, sequence_lens not all T."""
        acts = [s.lower() for s in a.get("activations", [])]
        default = DEFAULT_ACTS[node.op_type]
        if acts and acts != default * (len(acts) // len(default)):
            raise ModelError(f"activations {a['activations']} are not supported (only the default "
                             f"{', '.join(default)})")
        for name, bad in (("clip", "clip" in a), ("input_forget", a.get("input_forget", 0) != 0)):
            if bad:
                raise ModelError(f"{name}={a[name]} is not supported")
        hidden = self.shape(node.input[2])[2]
        if a.get("hidden_size", hidden) != hidden:
            raise ModelError(f"hidden_size={a['hidden_size']} does not match R's {hidden}")
        if len(node.input) > 4 and node.input[4]:
            steps = self.shape(node.input[0])[1 if a.get("layout", 0) else 0]
            if not self.is_const(node.input[4]) or np.any(self.value(node.input[4]) != steps):
                raise ModelError(f"sequence_lens is only supported constant and equal to the sequence length "
                                 f"{steps} for every sample")

    def _recurrent(self, node, a, op, states, **attrs):
        """Emit the `op` nodes making the ONNX node's outputs: Y; Y_h gathered from Y when Y is made, else (and
        Y_c) by an `op` node of its own, which runs the whole recurrence again. layout=1 (batch-first)
        transposes x and the initial states in, the outputs out."""
        self._recurrent_attrs(node, a)
        base = next(o for o in node.output if o)
        ins = [node.input[i] if len(node.input) > i else "" for i in (0, 1, 2, 3, *states)]
        if a.get("layout", 0):  # x (N,T,I) -> (T,N,I); h0, c0 (N,D,H) -> (D,N,H)
            ins = [self._transposed(node, name, f"{base}/{k}_in", (1, 0, 2)) if name and k in (0, 4, 5) else name
                   for k, name in enumerate(ins)]
        direction = a.get("direction", "forward")
        made = {}
        for output, which in zip(node.output, STATES[node.op_type]):
            if not output:
                continue
            if which == "h" and "y" in made:
                t = self._last_steps(node, made["y"], f"{base}/{which}", direction)
            else:
                t = self.emit(node, op, ins, f"{base}/{which}", direction=direction, result=which, **attrs)
            made[which] = t
            if a.get("layout", 0):  # y (T,D,N,H) -> (N,T,D,H); h, c (D,N,H) -> (N,D,H)
                t = self._transposed(node, t, f"{base}/{which}_out", (2, 0, 1, 3) if which == "y" else (1, 0, 2))
            self.alias[output] = t

    def _last_steps(self, node, y, output, direction):
        """Y_h (D,N,H) from Y (T,D,N,H): each direction's last step (T-1 forward, 0 backward)."""
        T, D, N, H = self.g.shapes[y]
        steps = self.emit(node, "reshape", [y], f"{output}_steps", shape=(T * D, N, H))
        last = tuple((0 if direction == "reverse" or d == 1 else T - 1) * D + d for d in range(D))
        return self.emit(node, "gather", [steps], output, indices=last, shape=(D,), axis=0)

    def _transposed(self, node, name, output, perm):
        return self.emit(node, "transpose", [name], output, perm=perm)

    def op_LSTM(self, node, a):
        """`lstm`: forward, reverse, bidirectional; bias, initial_h / initial_c and peepholes P, constant or
        not; `layout` 0 and 1; default activations only, no `clip`, no `input_forget`, `sequence_lens` only
        constant and all the sequence length; Y_h is gathered from Y when the node names Y, else it and Y_c
        each take a node that runs the whole recurrence again."""
        self._recurrent(node, a, "lstm", (5, 6, 7))

    def op_GRU(self, node, a):
        """`gru`: forward, reverse, bidirectional; `linear_before_reset` 0 and 1; bias and initial_h, constant
        or not; `layout` 0 and 1; default activations only, no `clip`, `sequence_lens` only constant and all
        the sequence length; Y_h is gathered from Y when the node names Y, else runs the recurrence alone."""
        self._recurrent(node, a, "gru", (5,), linear_before_reset=bool(a.get("linear_before_reset", 0)))

    def op_RNN(self, node, a):
        """`rnn`: forward, reverse, bidirectional; bias and initial_h, constant or not; `layout` 0 and 1;
        Tanh only, no `clip`, `sequence_lens` only constant and all the sequence length; Y_h is gathered from
        Y when the node names Y, else runs the recurrence alone."""
        self._recurrent(node, a, "rnn", (5,))
