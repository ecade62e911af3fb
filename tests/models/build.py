"""Builds the modern test models of issue 15 from architecture code with random weights, exports them to ONNX
(opset 17, two also at older opsets; a dynamic batch axis on the input) and writes each as a small "structure"
file: every float weight is a ConstantOfShape node of its shape (deepx.models.light.he_initialised turns such a
file into a model with random He-initialised weights). Constants whose values matter (the mel filterbank before
Log, the detector's anchors, scalars) stay Constant nodes. The files, and models.json (per model: input shape,
opset, ONNX operators with counts, parameters), go to models/modern/, which deepx installs
(deepx.models.light.path(name) serves them He-initialised).

Run with a Python that has torch, torchvision and onnx (not deepx's dependencies):

    python tests/models/build.py [NAME ...]      (default: every model)
"""
import collections
import json
import os
import sys

import numpy as np
import onnx
import torch
import torchvision
from onnx import helper, numpy_helper
from torch import nn
from torch.nn import functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models", "modern")
OPSET = 17


# --- YOLOv8n-like detector ----------------------------------------------------------------------------------
class ConvBnAct(nn.Sequential):
    """Conv-BN-SiLU (or another activation)."""

    def __init__(self, cin, cout, k=3, s=1, groups=1, act=nn.SiLU):
        super().__init__(nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout), act())


class Bottleneck(nn.Module):
    def __init__(self, c, shortcut=True):
        super().__init__()
        self.cv1, self.cv2, self.add = ConvBnAct(c, c), ConvBnAct(c, c), shortcut

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """YOLOv8's C2f: a 1x1 conv, Split in two halves, n bottlenecks on the second, Concat of all, a 1x1 conv."""

    def __init__(self, cin, cout, n=1, shortcut=False):
        super().__init__()
        self.c = cout // 2
        self.cv1 = ConvBnAct(cin, 2 * self.c, 1)
        self.cv2 = ConvBnAct((2 + n) * self.c, cout, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, shortcut) for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).split((self.c, self.c), 1))
        for m in self.m:
            y.append(m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    """Spatial pyramid pooling (fast): three chained 5x5 MaxPools, Concat."""

    def __init__(self, cin, cout):
        super().__init__()
        c = cin // 2
        self.cv1, self.cv2 = ConvBnAct(cin, c, 1), ConvBnAct(4 * c, cout, 1)
        self.pool = nn.MaxPool2d(5, 1, 2)

    def forward(self, x):
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(self.pool(y[-1]))
        return self.cv2(torch.cat(y, 1))


class YOLOv8n(nn.Module):
    """YOLOv8n's widths and depths (0.25, 0.33): backbone, SPPF, FPN/PAN neck, decoupled head, and the box
    decoding in the graph (DFL softmax over 16 bins as a 1x1 conv, anchors, Sigmoid class scores)."""

    def __init__(self, nc=80, size=320, reg_max=16):
        super().__init__()
        w = [16, 32, 64, 128, 256]
        self.b = nn.ModuleList([ConvBnAct(3, w[0], 3, 2), ConvBnAct(w[0], w[1], 3, 2), C2f(w[1], w[1], 1, True),
                                ConvBnAct(w[1], w[2], 3, 2), C2f(w[2], w[2], 2, True),
                                ConvBnAct(w[2], w[3], 3, 2), C2f(w[3], w[3], 2, True),
                                ConvBnAct(w[3], w[4], 3, 2), C2f(w[4], w[4], 1, True), SPPF(w[4], w[4])])
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.n1, self.n2 = C2f(w[4] + w[3], w[3]), C2f(w[3] + w[2], w[2])
        self.d1, self.n3 = ConvBnAct(w[2], w[2], 3, 2), C2f(w[2] + w[3], w[3])
        self.d2, self.n4 = ConvBnAct(w[3], w[3], 3, 2), C2f(w[3] + w[4], w[4])
        c2, c3 = max(16, w[2] // 4, 4 * reg_max), max(w[2], min(nc, 100))
        chs = (w[2], w[3], w[4])
        self.box = nn.ModuleList(nn.Sequential(ConvBnAct(c, c2), ConvBnAct(c2, c2), nn.Conv2d(c2, 4 * reg_max, 1))
                                 for c in chs)
        self.cls = nn.ModuleList(nn.Sequential(ConvBnAct(c, c3), ConvBnAct(c3, c3), nn.Conv2d(c3, nc, 1))
                                 for c in chs)
        self.nc, self.reg_max = nc, reg_max
        self.dfl = nn.Conv2d(reg_max, 1, 1, bias=False).requires_grad_(False)
        self.dfl.weight.data[:] = torch.arange(reg_max, dtype=torch.float32).view(1, reg_max, 1, 1)
        points, strides = [], []
        for s in (8, 16, 32):
            n = size // s
            sy, sx = torch.meshgrid(torch.arange(n) + 0.5, torch.arange(n) + 0.5, indexing="ij")
            points.append(torch.stack((sx, sy), -1).view(-1, 2))
            strides.append(torch.full((n * n, 1), float(s)))
        self.register_buffer("anchors", torch.cat(points).transpose(0, 1).contiguous())  # (2, A)
        self.register_buffer("strides", torch.cat(strides).transpose(0, 1).contiguous())  # (1, A)

    def forward(self, x):
        # x (N,3,S,S) -> (N, 4 + nc, A): boxes (cx, cy, w, h) in pixels, class probabilities
        feats = []
        for i, m in enumerate(self.b):
            x = m(x)
            if i in (4, 6):
                feats.append(x)
        p3, p4, p5 = feats[0], feats[1], x
        t4 = self.n1(torch.cat((self.up(p5), p4), 1))
        o3 = self.n2(torch.cat((self.up(t4), p3), 1))
        o4 = self.n3(torch.cat((self.d1(o3), t4), 1))
        o5 = self.n4(torch.cat((self.d2(o4), p5), 1))
        n = x.shape[0]
        out = torch.cat([torch.cat((b(o), c(o)), 1).view(n, 4 * self.reg_max + self.nc, -1)
                         for o, b, c in zip((o3, o4, o5), self.box, self.cls)], 2)
        box, cls = out.split((4 * self.reg_max, self.nc), 1)
        a = box.shape[2]
        dist = self.dfl(box.view(n, 4, self.reg_max, a).transpose(2, 1).softmax(1)).view(n, 4, a)
        lt, rb = dist.chunk(2, 1)
        x1y1, x2y2 = self.anchors - lt, self.anchors + rb
        xywh = torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), 1)
        return torch.cat((xywh * self.strides, cls.sigmoid()), 1)


# --- DB / U-Net style text detector ------------------------------------------------------------------------
class DBNet(nn.Module):
    """A small DB text detector: a strided Conv-BN-ReLU backbone (1/4 .. 1/32), an FPN with 2x bilinear
    Resize (align_corners False), the four levels upsampled to 1/4 and concatenated, a head of 3x3 conv and
    two 2x2 stride-2 ConvTranspose, Sigmoid: the probability map at the input's size."""

    def __init__(self, inner=64):
        super().__init__()
        w = [16, 24, 48, 96, 160]
        act = nn.ReLU
        self.stem = ConvBnAct(3, w[0], 3, 2, act=act)
        self.stages = nn.ModuleList(nn.Sequential(ConvBnAct(a, b, 3, 2, act=act), ConvBnAct(b, b, 3, 1, act=act))
                                    for a, b in zip(w[:-1], w[1:]))
        self.lateral = nn.ModuleList(nn.Conv2d(c, inner, 1, bias=False) for c in w[1:])
        self.smooth = nn.ModuleList(nn.Conv2d(inner, inner // 4, 3, padding=1, bias=False) for _ in w[1:])
        self.head = nn.Sequential(ConvBnAct(inner, inner // 4, 3, act=act),
                                  nn.ConvTranspose2d(inner // 4, inner // 4, 2, 2), nn.BatchNorm2d(inner // 4),
                                  nn.ReLU(), nn.ConvTranspose2d(inner // 4, 1, 2, 2), nn.Sigmoid())

    def forward(self, x):
        # x (N,3,H,W) -> (N,1,H,W)
        x = self.stem(x)
        c = []
        for s in self.stages:
            x = s(x)
            c.append(x)
        p = [m(f) for m, f in zip(self.lateral, c)]
        for i in (2, 1, 0):
            p[i] = p[i] + F.interpolate(p[i + 1], scale_factor=2.0, mode="bilinear", align_corners=False)
        f = [F.interpolate(m(q), scale_factor=2.0 ** i, mode="bilinear", align_corners=False) if i else m(q)
             for i, (m, q) in enumerate(zip(self.smooth, p))]
        return self.head(torch.cat(f[::-1], 1))


# --- ViT / SVTR-style recogniser ---------------------------------------------------------------------------
class Attention(nn.Module):
    """Multi-head self-attention spelled out: one qkv Linear, MatMul, scale, Softmax, MatMul, projection."""

    def __init__(self, dim, heads):
        super().__init__()
        self.h, self.d = heads, dim // heads
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x):
        # x (N,L,C) -> (N,L,C)
        n, length, c = x.shape
        q, k, v = self.qkv(x).reshape(n, length, 3, self.h, self.d).permute(2, 0, 3, 1, 4)
        a = (q @ k.transpose(-2, -1)) * (self.d ** -0.5)
        return self.proj((a.softmax(-1) @ v).transpose(1, 2).reshape(n, length, c))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp=2):
        super().__init__()
        self.n1, self.attn, self.n2 = nn.LayerNorm(dim), Attention(dim, heads), nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp * dim), nn.GELU(), nn.Linear(mlp * dim, dim))

    def forward(self, x):
        x = x + self.attn(self.n1(x))
        return x + self.mlp(self.n2(x))


class SVTR(nn.Module):
    """A small SVTR / ViT text recogniser: 4x4 patch embedding conv, position embedding, transformer blocks,
    LayerNorm, mean over the height, a Linear to the CTC classes per column."""

    def __init__(self, dim=64, depth=4, heads=2, classes=37, size=(32, 128)):
        super().__init__()
        self.hw = (size[0] // 4, size[1] // 4)
        self.embed = nn.Conv2d(3, dim, 4, 4)
        self.pos = nn.Parameter(0.02 * torch.randn(1, self.hw[0] * self.hw[1], dim))
        self.blocks = nn.Sequential(*[Block(dim, heads) for _ in range(depth)])
        self.norm, self.fc = nn.LayerNorm(dim), nn.Linear(dim, classes)

    def forward(self, x):
        # x (N,3,32,128) -> (N,32,classes)
        x = self.embed(x).flatten(2).transpose(1, 2) + self.pos  # (N, 8*32, dim)
        x = self.norm(self.blocks(x))
        n, _, c = x.shape
        x = x.reshape(n, self.hw[0], self.hw[1], c).mean(1)  # (N, 32, dim)
        return self.fc(x)


# --- CRNN ---------------------------------------------------------------------------------------------------
class CRNN(nn.Module):
    """Conv-BN-ReLU stack with MaxPools to height 1 -> (T,N,F) -> 2-layer bidirectional LSTM -> Linear ->
    LogSoftmax over the CTC classes."""

    def __init__(self, classes=37, hidden=96):
        super().__init__()
        r = nn.ReLU
        self.cnn = nn.Sequential(ConvBnAct(1, 32, act=r), nn.MaxPool2d(2), ConvBnAct(32, 64, act=r), nn.MaxPool2d(2),
                                 ConvBnAct(64, 128, act=r), ConvBnAct(128, 128, act=r), nn.MaxPool2d((2, 1)),
                                 ConvBnAct(128, 128, act=r), nn.MaxPool2d((4, 1)))
        self.rnn = nn.LSTM(128, hidden, num_layers=2, bidirectional=True)
        self.fc = nn.Linear(2 * hidden, classes)

    def forward(self, x):
        # x (N,1,32,128) -> (T=32, N, classes)
        f = self.cnn(x).squeeze(2).permute(2, 0, 1)  # (T, N, 128)
        y, _ = self.rnn(f)
        return self.fc(y).log_softmax(2)


# --- keyword spotting on a mel front end --------------------------------------------------------------------
def mel_filterbank(bins=257, mels=40, rate=16000):
    """(bins, mels) triangular HTK mel filters."""
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    hz = 700 * (10 ** (np.linspace(mel(20), mel(rate / 2), mels + 2) / 2595) - 1)
    f = np.linspace(0, rate / 2, bins)
    lo, mid, hi = hz[:-2, None], hz[1:-1, None], hz[2:, None]
    return np.maximum(0, np.minimum((f - lo) / (mid - lo), (hi - f) / (hi - mid))).T.astype(np.float32)


class MelFrontEnd(nn.Module):
    """Raw audio (N,16000) -> log mel (N,T=49,40): framing and a Hann-windowed DFT as one Conv1d (512-sample
    frames, hop 320), power as Pow, a MatMul with the mel filterbank, Log(x + eps)."""

    def __init__(self, n_fft=512, hop=320, mels=40):
        super().__init__()
        bins = n_fft // 2 + 1
        t = np.arange(n_fft)
        k = np.arange(bins)[:, None]
        window = 0.5 - 0.5 * np.cos(2 * np.pi * t / n_fft)
        dft = np.concatenate([np.cos(2 * np.pi * k * t / n_fft), -np.sin(2 * np.pi * k * t / n_fft)]) * window
        self.dft = nn.Conv1d(1, 2 * bins, n_fft, hop, bias=False).requires_grad_(False)
        self.dft.weight.data[:] = torch.from_numpy(dft[:, None].astype(np.float32))
        self.register_buffer("mel", torch.from_numpy(mel_filterbank(bins, mels)))
        self.bins = bins

    def forward(self, audio):
        spec = self.dft(audio.unsqueeze(1))  # (N, 2*bins, T)
        re, im = spec.split(self.bins, 1)
        power = (re.pow(2) + im.pow(2)).transpose(1, 2)  # (N, T, bins)
        return torch.log(power @ self.mel + 1e-6)  # (N, T, mels)


class DSCNN(nn.Module):
    """Hello Edge's DS-CNN (S): a 10x4 conv, four depthwise-separable blocks, GlobalAveragePool, Linear."""

    def __init__(self, classes=12, c=64):
        super().__init__()
        r = nn.ReLU
        self.front = MelFrontEnd()
        layers = [nn.Conv2d(1, c, (10, 4), 2, (5, 1), bias=False), nn.BatchNorm2d(c), r()]
        for _ in range(4):
            layers += [ConvBnAct(c, c, 3, groups=c, act=r), ConvBnAct(c, c, 1, act=r)]
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(c, classes)

    def forward(self, audio):
        # audio (N,16000) -> (N, classes)
        return self.fc(self.body(self.front(audio).unsqueeze(1)))


class KwsGRU(nn.Module):
    """The same mel front end, a 2-layer GRU over the frames, a Linear on the last step."""

    def __init__(self, classes=12, hidden=64):
        super().__init__()
        self.front = MelFrontEnd()
        self.rnn = nn.GRU(40, hidden, num_layers=2, batch_first=True)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, audio):
        # audio (N,16000) -> (N, classes)
        y, _ = self.rnn(self.front(audio))
        return self.fc(y[:, -1])


# --- the list -----------------------------------------------------------------------------------------------
MODELS = {  # name: (architecture, input shape, opset)
    "mobilenet_v3_small": (lambda: torchvision.models.mobilenet_v3_small(), (1, 3, 224, 224), OPSET),
    "mobilenet_v3_large": (lambda: torchvision.models.mobilenet_v3_large(), (1, 3, 224, 224), OPSET),
    "efficientnet_b0": (lambda: torchvision.models.efficientnet_b0(), (1, 3, 224, 224), OPSET),
    "yolov8n": (lambda: YOLOv8n(size=320), (1, 3, 320, 320), OPSET),
    "dbnet": (DBNet, (1, 3, 320, 320), OPSET),
    "svtr": (SVTR, (1, 3, 32, 128), OPSET),
    "crnn": (CRNN, (1, 1, 32, 128), OPSET),
    "kws_dscnn": (DSCNN, (1, 16000), OPSET),
    "kws_gru": (KwsGRU, (1, 16000), OPSET),
    # older exports: Split / Squeeze / Unsqueeze / ReduceMean axes as attributes, Resize-11, LayerNorm and
    # Gelu spelled out (ReduceMean, Sub, Pow, Sqrt, Div; Erf)
    "yolov8n_opset11": (lambda: YOLOv8n(size=320), (1, 3, 320, 320), 11),
    "svtr_opset13": (SVTR, (1, 3, 32, 128), 13),
}
#: tensors whose values matter, kept as Constant nodes: the mel filterbank keeps Log's input positive; the
#: detector's anchors, strides and DFL bin weights make its boxes
KEEP = ("mel", "anchors", "strides", "dfl.weight")


def structure(model: onnx.ModelProto):
    """Every float initializer of more than one element -> a ConstantOfShape node of its shape; scalars and the
    KEEP buffers -> Constant nodes (he_initialised randomises initializers, never Constant nodes). The exporter's
    Identity nodes that share one initializer between equal weights give each reader its own weight first (its
    role, a BatchNormalization variance say, decides its random values). Returns the model and its operators."""
    g = model.graph
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    shared = [n for n in g.node if n.op_type == "Identity" and n.input[0] in inits]
    for n in shared:
        inits[n.output[0]] = inits[n.input[0]]
        g.node.remove(n)
    used = {i for n in g.node for i in n.input}
    front, kept = [], []
    for name, a in inits.items():
        if name not in used:
            continue
        if a.dtype != np.float32:
            kept.append(numpy_helper.from_array(a, name))
        elif a.size <= 1 or any(name == k or name.endswith("." + k) for k in KEEP):
            front.append(helper.make_node("Constant", [], [name], value=numpy_helper.from_array(a, name)))
        else:
            kept.append(numpy_helper.from_array(np.array(a.shape, np.int64), name + "__shape"))
            front.append(helper.make_node("ConstantOfShape", [name + "__shape"], [name]))
    ops = collections.Counter(n.op_type for n in g.node)
    g.ClearField("initializer")
    g.initializer.extend(kept)
    nodes = front + list(g.node)
    g.ClearField("node")
    g.node.extend(nodes)
    return model, ops


def build(name: str) -> dict:
    """Export model `name` to its structure file; what models.json records of it."""
    make, shape, opset = MODELS[name]
    torch.manual_seed(0)
    net = make().eval()
    x = torch.randn(*shape)
    path = os.path.join(OUT, name + ".onnx")
    batch_axis = 1 if name == "crnn" else 0  # the CRNN's output is (T, N, classes)
    torch.onnx.export(net, (x,), path, dynamo=False, opset_version=opset, input_names=["input"],
                      output_names=["output"], dynamic_axes={"input": {0: "batch"}, "output": {batch_axis: "batch"}})
    model, ops = structure(onnx.load(path))
    onnx.save(model, path)
    onnx.checker.check_model(onnx.load(path))
    params = sum(p.numel() for p in net.parameters())
    return dict(input=list(shape), opset=opset, parameters=int(params), size_bytes=os.path.getsize(path),
                operators=dict(sorted(ops.items())))


def main(names):
    record = os.path.join(OUT, "models.json")
    os.makedirs(OUT, exist_ok=True)
    info = json.load(open(record)) if os.path.exists(record) else {}
    for name in names or MODELS:
        info[name] = build(name)
        print(f"{name}: {info[name]['parameters'] / 1e6:.2f} M parameters, {info[name]['size_bytes'] / 1e3:.0f} kB, "
              f"operators {info[name]['operators']}")
    with open(record, "w") as f:
        json.dump({k: info[k] for k in MODELS if k in info}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
