"""ONNX elementwise operators: arithmetic, comparisons and logic with broadcasting, where, activations (fused
into producers by models.passes), and the rewrites of spelled-out SiLU / HardSwish / Gelu chains.
Over 400 lines: some 45 operators, one short method each, beside the rewrites that produce them."""
import math

import numpy as np

from ...kernels import common as k
from ...kernels.common import CLIP, IDENTITY, NAMED_ACTS, Act
from ...kernels.ref.elementwise import apply_act
from ..graph import ModelError

ACTIVATIONS = {"Relu": NAMED_ACTS["relu"], "Sigmoid": NAMED_ACTS["sigmoid"], "Tanh": NAMED_ACTS["tanh"]}
# ONNX unary operator -> (activation kind, its fold on an integer constant or None)
UNARY = {"Softplus": (k.SOFTPLUS, None), "Softsign": (k.SOFTSIGN, None), "Mish": (k.MISH, None),
         "Exp": (k.EXP, None), "Log": (k.LOG, None), "Neg": (k.NEG, np.negative), "Abs": (k.ABS, np.abs),
         "Sqrt": (k.SQRT, None), "Reciprocal": (k.RECIPROCAL, None), "Erf": (k.ERF, None),
         "Floor": (k.FLOOR, None), "Ceil": (k.CEIL, None), "Not": (k.NOT, np.logical_not)}


def _int_div(a, b):
    """ONNX's integer Div: the quotient truncated toward zero."""
    q = a // b
    return np.where((a % b != 0) & ((a < 0) != (b < 0)), q + 1, q).astype(np.result_type(a, b))


def _div(a, b):
    if np.issubdtype(a.dtype, np.integer) and np.issubdtype(b.dtype, np.integer):
        return _int_div(a, b)
    return np.divide(a, b)


def _pow(a, b):
    """ONNX Pow: the base's type."""
    return np.power(a.astype(np.float64), b).astype(a.dtype)


BINARY = {"Add": ("add", np.add), "Mul": ("mul", np.multiply), "Sub": ("sub", np.subtract), "Div": ("div", _div),
          "Pow": ("pow", _pow), "Equal": ("equal", np.equal), "Less": ("less", np.less),
          "Greater": ("greater", np.greater), "LessOrEqual": ("less_equal", np.less_equal),
          "GreaterOrEqual": ("greater_equal", np.greater_equal), "And": ("logical_and", np.logical_and),
          "Or": ("logical_or", np.logical_or), "Xor": ("logical_xor", np.logical_xor),
          "Min": ("minimum", np.minimum), "Max": ("maximum", np.maximum)}


# --- ONNX-level rewrites ------------------------------------------------------------------------------------
class _Chains:
    """The model's nodes with who makes and who reads each tensor, for matching chains."""

    def __init__(self, imp, nodes):
        self.imp, self.nodes = imp, nodes
        self.producer = {o: n for n in nodes for o in n.output}
        self.readers = {}
        for n in nodes:
            for i in n.input:
                self.readers.setdefault(i, []).append(n)
        self.outputs = set(imp.g.outputs)

    def const(self, name):
        """A scalar constant (an initializer or a Constant node's value) as a float, else None."""
        if self.imp.is_const(name) and name:
            v = self.imp.value(name)
        else:
            n = self.producer.get(name)
            if n is None or n.op_type != "Constant" or n.attribute[0].name not in ("value", "value_float"):
                return None
            v = self.imp.onnx.helper.get_attribute_value(n.attribute[0])
            v = self.imp.onnx.numpy_helper.to_array(v) if not isinstance(v, float) else v
        v = np.asarray(v)
        return float(v.reshape(-1)[0]) if v.size == 1 and v.dtype.kind == "f" else None

    def only(self, name, op_type):
        """The node of `op_type` that alone reads `name` (not a graph output), else None."""
        r = self.readers.get(name, [])
        return r[0] if len(r) == 1 and r[0].op_type == op_type and name not in self.outputs else None

    def made(self, name, op_type):
        n = self.producer.get(name)
        return n if n is not None and n.op_type == op_type else None

    def other(self, node, name):
        """node's input other than `name` (a two-input node)."""
        return node.input[1] if node.input[0] == name else node.input[0]

    def by_const(self, node, value, tol=1e-4):
        """The non-constant input of a two-input node whose other input is the scalar `value`, else None."""
        for i in (0, 1):
            c = self.const(node.input[1 - i])
            if c is not None and abs(c - value) <= tol * abs(value):
                return node.input[i]
        return None

    def replace(self, removed, last, op_type, x, **attrs):
        """The node list with the `removed` nodes gone and `last` replaced by op_type(x) making last's output."""
        new = self.imp.onnx.helper.make_node(op_type, [x], [last.output[0]], name=last.name, **attrs)
        gone = {id(n) for n in removed}
        self.nodes = [new if n is last else n for n in self.nodes if id(n) not in gone or n is last]
        return new


def _gated(ch, mul, gate_type):
    """Mul(x, gate(x)) with the gate's output read by that Mul alone -> (gate node, x), else None."""
    for g_in in mul.input:
        gate = ch.made(g_in, gate_type)
        if gate is not None and ch.other(mul, g_in) == gate.input[0] and ch.only(g_in, "Mul") is mul:
            return gate, gate.input[0]
    return None


def fuse_gates(imp, nodes):
    """x * Sigmoid(x) -> Swish (SiLU), x * HardSigmoid(x) -> HardSwish (its alpha and beta)."""
    ch = _Chains(imp, nodes)
    for mul in [n for n in nodes if n.op_type == "Mul" and len(n.input) == 2]:
        for gate_type in ("Sigmoid", "HardSigmoid"):
            found = _gated(ch, mul, gate_type)
            if found is None:
                continue
            gate, x = found
            if gate_type == "Sigmoid":
                ch.replace([gate], mul, "Swish", x)
            else:
                a = {t.name: imp.onnx.helper.get_attribute_value(t) for t in gate.attribute}
                ch.replace([gate], mul, "HardSwish", x, alpha=a.get("alpha", 0.2), beta=a.get("beta", 0.5))
            break
    return ch.nodes


def _gelu_tail(ch, x, p):
    """From p = 1 + erf(x / sqrt 2): the nodes up to x * 0.5 * p in one of its orders -> (nodes, last), else None."""
    m1 = ch.only(p, "Mul")
    if m1 is None:
        return None
    q = ch.other(m1, p)
    if q == x:  # (x * p) * 0.5
        m2 = ch.only(m1.output[0], "Mul")
        return ([m1, m2], m2) if m2 is not None and ch.by_const(m2, 0.5) == m1.output[0] else None
    half = ch.made(q, "Mul")
    if half is not None and ch.by_const(half, 0.5) == x and ch.only(q, "Mul") is m1:  # (x * 0.5) * p
        return [half, m1], m1
    if ch.by_const(m1, 0.5) == p:  # (p * 0.5) * x
        m2 = ch.only(m1.output[0], "Mul")
        return ([m1, m2], m2) if m2 is not None and ch.other(m2, m1.output[0]) == x else None
    return None


def fuse_gelu(imp, nodes):
    """x * 0.5 * (1 + Erf(x / sqrt 2)) (Div by 1.4142 or Mul by 0.7071; the 0.5 first or last) -> Gelu."""
    ch = _Chains(imp, nodes)
    for erf in [n for n in nodes if n.op_type == "Erf"]:
        scale = ch.producer.get(erf.input[0])
        if scale is None or ch.only(erf.input[0], "Erf") is not erf:
            continue
        if scale.op_type == "Div" and ch.const(scale.input[1]) is not None \
                and abs(ch.const(scale.input[1]) - math.sqrt(2)) < 1e-4 * math.sqrt(2):
            x = scale.input[0]
        elif scale.op_type == "Mul":
            x = ch.by_const(scale, math.sqrt(0.5))
        else:
            continue
        add = ch.only(erf.output[0], "Add")
        if x is None or add is None or ch.by_const(add, 1.0, 1e-6) != erf.output[0]:
            continue
        tail = _gelu_tail(ch, x, add.output[0])
        if tail is not None:
            ch.replace([scale, erf, add, *tail[0]], tail[1], "Gelu", x)
    return ch.nodes


def _clip_bounds(ch, clip):
    """A Clip node's constant (min, max), else None."""
    if ch.imp.opset < 11:
        a = {t.name: ch.imp.onnx.helper.get_attribute_value(t) for t in clip.attribute}
        return a.get("min"), a.get("max")
    bounds = [ch.const(i) for i in list(clip.input[1:3]) + [""] * (3 - len(clip.input))]
    return tuple(bounds)


def fuse_relu6_hardswish(imp, nodes):
    """x * Clip(x + 3, 0, 6) / 6 (Div by 6 or Mul by 1/6, before or after the Mul by x) -> HardSwish."""
    ch = _Chains(imp, nodes)
    for add in [n for n in nodes if n.op_type == "Add" and len(n.input) == 2]:
        x, clip = ch.by_const(add, 3.0), ch.only(add.output[0], "Clip")
        if x is None or clip is None or _clip_bounds(ch, clip) != (0.0, 6.0):
            continue
        c = clip.output[0]
        m1 = ch.readers[c][0] if len(ch.readers.get(c, [])) == 1 and c not in ch.outputs else None
        if m1 is None or m1.op_type not in ("Mul", "Div"):
            continue
        m2 = ch.only(m1.output[0], "Mul") or ch.only(m1.output[0], "Div")
        if m2 is None:
            continue
        if m1.op_type == "Mul" and ch.other(m1, c) == x and _sixth(ch, m2, m1.output[0]):
            ch.replace([add, clip, m1], m2, "HardSwish", x)
        elif _sixth(ch, m1, c) and m2.op_type == "Mul" and ch.other(m2, m1.output[0]) == x:
            ch.replace([add, clip, m1], m2, "HardSwish", x)
    return ch.nodes


def _sixth(ch, node, t):
    """node is t / 6 or t * (1/6)."""
    if node.op_type == "Div":
        return node.input[0] == t and ch.const(node.input[1]) is not None and abs(ch.const(node.input[1]) - 6) < 1e-4
    return ch.by_const(node, 1 / 6) == t


def _cube(ch, name, x):
    """The nodes making `name` = x^3 (Pow(x, 3), or x * (x * x) in either order), else None."""
    node = ch.producer.get(name)
    if node is None:
        return None
    if node.op_type == "Pow" and node.input[0] == x and ch.const(node.input[1]) == 3.0:
        return [node]
    if node.op_type != "Mul" or x not in node.input:
        return None
    sq = ch.made(ch.other(node, x), "Mul")
    return [node, sq] if sq is not None and list(sq.input) == [x, x] and ch.only(sq.output[0], "Mul") is node \
        else None


def _tanh_head(ch, tanh):
    """Tanh(sqrt(2/pi) * (x + 0.044715 * x^3)) -> (x, its nodes but the Tanh), else None."""
    scale = ch.made(tanh.input[0], "Mul")
    t = None if scale is None else ch.by_const(scale, math.sqrt(2 / math.pi))
    add = None if t is None else ch.made(t, "Add")
    if add is None or ch.only(tanh.input[0], "Tanh") is not tanh or ch.only(t, "Mul") is not scale:
        return None
    for x in add.input:
        m = ch.made(ch.other(add, x), "Mul")
        cube = None if m is None or ch.only(m.output[0], "Add") is not add else ch.by_const(m, 0.044715)
        nodes = None if cube is None or ch.only(cube, "Mul") is not m else _cube(ch, cube, x)
        if nodes is not None:
            return x, [scale, add, m, *nodes]
    return None


def fuse_gelu_tanh(imp, nodes):
    """x * 0.5 * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 x^3))) (the 0.5 first or last) -> Gelu approximate=tanh."""
    ch = _Chains(imp, nodes)
    for tanh in [n for n in nodes if n.op_type == "Tanh"]:
        head = _tanh_head(ch, tanh)
        add = ch.only(tanh.output[0], "Add")
        if head is None or add is None or ch.by_const(add, 1.0) != tanh.output[0]:
            continue
        tail = _gelu_tail(ch, head[0], add.output[0])
        if tail is not None:
            ch.replace([*head[1], tanh, add, *tail[0]], tail[1], "Gelu", head[0], approximate="tanh")
    return ch.nodes


# ONNX-level rewrites, run in order before conversion: (importer, [NodeProto]) -> [NodeProto], a new list in
# which a chain the exporters spell out (say, an Erf-based Gelu) is one new node of the operator it computes;
# the importer gives constants (`is_const`, `value`) and `g.outputs`; the model's own nodes are not changed
PATTERNS = (fuse_gates, fuse_relu6_hardswish, fuse_gelu, fuse_gelu_tanh)


class ElementwiseOps:
    """The importer's methods for these operators (a mixin of models.onnx_import._Importer)."""

    def _binary(self, node, op_type):
        op, fn = BINARY[op_type]
        if not self.runtime(node):
            with np.errstate(all="ignore"):
                return self.fold(node, fn(self.value(node.input[0]), self.value(node.input[1])))
        self.emit(node, op, list(node.input), node.output[0], act=IDENTITY)

    def _chain(self, node, op_type, last=None):
        # an n-ary op as a chain of binary ones; `last` (op, constant) ends it (Mean's division)
        op, fn = BINARY[op_type]
        if not self.runtime(node):
            acc = self.value(node.input[0])
            for i in node.input[1:]:
                acc = fn(acc, self.value(i))
            return self.fold(node, acc if last is None else _div(acc, np.asarray(last[1], acc.dtype)))
        steps = [(op, i) for i in node.input[1:]] + ([last] if last else [])
        acc = node.input[0]
        for s, (step, other) in enumerate(steps, 1):
            out = node.output[0] if s == len(steps) else f"{node.output[0]}/{step}{s}"
            if isinstance(other, float):
                other = self.weight(node, "n", np.float32(other))
            acc = self.emit(node, step, [acc, other], out, act=IDENTITY)
        if not steps:
            self.alias[node.output[0]] = acc

    def op_Add(self, node, a):
        """`add`: numpy broadcasting, activations after it fused; folded on constants, a per-channel constant
        into the Conv or BatchNormalization before it; a residual add (same shapes) of a Conv's output into that
        conv when run (the executor: `conv2d`'s residual input, added before the activation)."""
        self._binary(node, "Add")

    def op_Mul(self, node, a):
        """`mul`: numpy broadcasting, activations after it fused; folded on constants, a per-channel constant
        into the Conv or BatchNormalization before it."""
        self._binary(node, "Mul")

    def op_Sub(self, node, a):
        """`sub`: numpy broadcasting, activations after it fused; folded on constants."""
        self._binary(node, "Sub")

    def op_Div(self, node, a):
        """`div` (exact, also by a constant): numpy broadcasting; folded on constants (integers truncate toward
        zero)."""
        self._binary(node, "Div")

    def op_Pow(self, node, a):
        """`pow` (exponents 2, 3, 0.5, 1 without pow; a constant 0.5 is `activation` `sqrt`, 1 nothing):
        numpy broadcasting; folded on constants."""
        e = self.value(node.input[1]) if self.is_const(node.input[1]) else None
        if self.runtime(node, 1) and e is not None and e.size == 1 and len(self.shape(node.input[0])) >= e.ndim:
            if float(e.reshape(-1)[0]) == 1.0:
                self.alias[node.output[0]] = node.input[0]
                return
            if float(e.reshape(-1)[0]) == 0.5:
                return self._activation(node, NAMED_ACTS["sqrt"])
        self._binary(node, "Pow")

    def op_Equal(self, node, a):
        """`equal`: a 0/1 float mask; folded on constants."""
        self._binary(node, "Equal")

    def op_Less(self, node, a):
        """`less`: a 0/1 float mask; folded on constants."""
        self._binary(node, "Less")

    def op_Greater(self, node, a):
        """`greater`: a 0/1 float mask; folded on constants."""
        self._binary(node, "Greater")

    def op_LessOrEqual(self, node, a):
        """`less_equal`: a 0/1 float mask; folded on constants."""
        self._binary(node, "LessOrEqual")

    def op_GreaterOrEqual(self, node, a):
        """`greater_equal`: a 0/1 float mask; folded on constants."""
        self._binary(node, "GreaterOrEqual")

    def op_And(self, node, a):
        """`logical_and`: on 0/1 masks; folded on constants."""
        self._binary(node, "And")

    def op_Or(self, node, a):
        """`logical_or`: on 0/1 masks; folded on constants."""
        self._binary(node, "Or")

    def op_Xor(self, node, a):
        """`logical_xor`: on 0/1 masks; folded on constants."""
        self._binary(node, "Xor")

    def op_Sum(self, node, a):
        """`add`, one per extra input: folded on constants."""
        self._chain(node, "Add")

    def op_Min(self, node, a):
        """`minimum`, one per extra input: folded on constants."""
        self._chain(node, "Min")

    def op_Max(self, node, a):
        """`maximum`, one per extra input: folded on constants."""
        self._chain(node, "Max")

    def op_Mean(self, node, a):
        """`add`, one per extra input, then `div` by their number: folded on constants."""
        self._chain(node, "Add", ("div", float(len(node.input))))

    def op_Where(self, node, a):
        """`where` (the condition a 0/1 float mask): numpy broadcasting; folded on constants."""
        if not self.runtime(node):
            return self.fold(node, np.where(*(self.value(i) for i in node.input)))
        self.emit(node, "where", list(node.input), node.output[0])

    def op_PRelu(self, node, a):
        """`prelu`: the slope broadcasts to x (unidirectional; before opset 7 a (C) slope runs along axis 1);
        activations after it fused."""
        x, slope = node.input[:2]
        if not self.runtime(node):
            x, s = self.value(x), self.value(slope)
            return self.fold(node, np.where(x < 0, x * s, x).astype(x.dtype))
        shape = self.shape(x)
        if self.opset < 7 and self.is_const(slope) and len(shape) > 2 and self.value(slope).shape == shape[1:2]:
            slope = self.weight(node, "slope", self.value(slope).reshape((-1,) + (1,) * (len(shape) - 2)))
        self.emit(node, "prelu", [x, slope], node.output[0], act=IDENTITY)

    def _activation(self, node, act, int_fold=None):
        if not self.runtime(node, 1):
            x = self.value(node.input[0])  # folded in its own dtype (ONNX: the output's is the input's)
            if x.dtype.kind in "iub" and int_fold is not None:
                return self.fold(node, int_fold(x))
            y = apply_act(x.astype(np.float64), act)
            return self.fold(node, y.astype(x.dtype if x.dtype.kind in "fiu" else np.float32))
        self.emit(node, "activation", [node.input[0]], node.output[0], act=act)

    def _unary(self, node):
        kind, int_fold = UNARY[node.op_type]
        self._activation(node, Act(kind), int_fold)

    def op_Relu(self, node, a):
        """`activation` `relu`: fused into its producer."""
        self._activation(node, ACTIVATIONS["Relu"])

    def op_Sigmoid(self, node, a):
        """`activation` `sigmoid`: fused into its producer."""
        self._activation(node, ACTIVATIONS["Sigmoid"])

    def op_Tanh(self, node, a):
        """`activation` `tanh`: fused into its producer."""
        self._activation(node, ACTIVATIONS["Tanh"])

    def op_Clip(self, node, a):
        """`activation` `clip`: constant bounds; fused into its producer."""
        if self.opset < 11:
            lo, hi = a.get("min", -math.inf), a.get("max", math.inf)
        else:
            bound = [float(self.value(i)) if i else None for i in list(node.input[1:]) + ["", ""]][:2]
            if any(i and not self.is_const(i) for i in node.input[1:]):
                raise ModelError("Clip with runtime bounds is not supported")
            lo, hi = (-math.inf if bound[0] is None else bound[0]), (math.inf if bound[1] is None else bound[1])
        self._activation(node, Act(CLIP, float(lo), float(hi)))

    def op_HardSigmoid(self, node, a):
        """`activation` `hardsigmoid` (alpha, beta): fused into its producer."""
        self._activation(node, Act(k.HARDSIGMOID, a.get("alpha", 0.2), a.get("beta", 0.5)))

    def op_HardSwish(self, node, a):
        """`activation` `hardswish`: fused into its producer; also x * HardSigmoid(x) and x * Clip(x + 3, 0, 6) / 6."""
        self._activation(node, Act(k.HARDSWISH, a.get("alpha", 1.0 / 6.0), a.get("beta", 0.5)))

    def op_Swish(self, node, a):
        """`activation` `silu` (alpha 1 only): fused into its producer; also x * Sigmoid(x)."""
        if a.get("alpha", 1.0) != 1.0:
            raise ModelError(f"Swish alpha={a['alpha']} is not supported (only 1)")
        self._activation(node, NAMED_ACTS["silu"])

    def op_LeakyRelu(self, node, a):
        """`activation` `leakyrelu` (alpha): fused into its producer."""
        self._activation(node, Act(k.LEAKYRELU, a.get("alpha", 0.01)))

    def op_Elu(self, node, a):
        """`activation` `elu` (alpha): fused into its producer."""
        self._activation(node, Act(k.ELU, a.get("alpha", 1.0)))

    def op_Selu(self, node, a):
        """`activation` `selu` (alpha, gamma): fused into its producer."""
        self._activation(node, Act(k.SELU, a.get("alpha", 1.67326319217681884765625),
                                   a.get("gamma", 1.05070102214813232421875)))

    def op_Celu(self, node, a):
        """`activation` `celu` (alpha != 0): fused into its producer."""
        if a.get("alpha", 1.0) == 0:
            raise ModelError("Celu alpha=0 is not supported")
        self._activation(node, Act(k.CELU, a.get("alpha", 1.0)))

    def op_ThresholdedRelu(self, node, a):
        """`activation` `thresholdedrelu` (alpha): fused into its producer."""
        self._activation(node, Act(k.THRESHOLDEDRELU, a.get("alpha", 1.0)))

    def op_Gelu(self, node, a):
        """`activation` `gelu` (approximate none or tanh): fused into its producer; also the chains
        x * 0.5 * (1 + Erf(x / sqrt 2)) and x * 0.5 * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 x^3)))."""
        approximate = a.get("approximate", "none")
        if approximate not in ("none", "tanh"):
            raise ModelError(f"Gelu approximate={approximate!r} is not supported (none, tanh)")
        self._activation(node, NAMED_ACTS["gelu" if approximate == "none" else "gelu_tanh"])

    def op_Softplus(self, node, a):
        """`activation` `softplus`: fused into its producer."""
        self._unary(node)

    def op_Softsign(self, node, a):
        """`activation` `softsign`: fused into its producer."""
        self._unary(node)

    def op_Mish(self, node, a):
        """`activation` `mish`: fused into its producer."""
        self._unary(node)

    def op_Exp(self, node, a):
        """`activation` `exp`: fused into its producer; folded on constants."""
        self._unary(node)

    def op_Log(self, node, a):
        """`activation` `log`: fused into its producer; folded on constants."""
        self._unary(node)

    def op_Neg(self, node, a):
        """`activation` `neg`: fused into its producer; folded on constants (ints stay ints)."""
        self._unary(node)

    def op_Abs(self, node, a):
        """`activation` `abs`: fused into its producer; folded on constants (ints stay ints)."""
        self._unary(node)

    def op_Sqrt(self, node, a):
        """`activation` `sqrt`: fused into its producer; folded on constants."""
        self._unary(node)

    def op_Reciprocal(self, node, a):
        """`activation` `reciprocal`: fused into its producer; folded on constants."""
        self._unary(node)

    def op_Erf(self, node, a):
        """`activation` `erf`: fused into its producer; folded on constants."""
        self._unary(node)

    def op_Floor(self, node, a):
        """`activation` `floor`: fused into its producer; folded on constants."""
        self._unary(node)

    def op_Ceil(self, node, a):
        """`activation` `ceil`: fused into its producer; folded on constants."""
        self._unary(node)

    def op_Not(self, node, a):
        """`activation` `not`: on a 0/1 mask; fused into its producer; folded on constants."""
        self._unary(node)
