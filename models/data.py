"""Samples for RLC: calibration, validation and test data, each with what it is (reports say which data every
figure was measured on). From an .npz keyed by input name (optionally with a `labels` array), a folder of images
with a preprocessing spec, or crops of scikit-image's photographs.
"""
import os
from dataclasses import dataclass

import numpy as np

from . import io
from .graph import Graph, ModelError

IMAGE_FILES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
PRESETS = {  # torchvision's ImageNet preprocessing; unit: pixels / 255 only
    "imagenet": dict(resize=256, crop=224, scale=1 / 255, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
    "unit": dict(scale=1 / 255),
}
KEYS = ("resize", "crop", "scale", "mean", "std", "order")
# scikit-image's photographs: RLC calibrates on crops of the first set, tests on crops of the second
PHOTOS = {"calibration": ("astronaut", "coffee", "camera", "coins", "grass", "brick", "clock",
                          "immunohistochemistry", "text", "logo"),
          "test": ("chelsea", "rocket", "stereo_motorcycle", "retina", "hubble_deep_field", "moon", "gravel",
                   "page", "cell", "colorwheel")}


@dataclass
class Data:
    inputs: dict  # input name -> (N, ...) float32
    labels: np.ndarray = None  # (N,) int, when the data has them
    about: str = ""  # what the samples are, for reports

    def __len__(self):
        return len(next(iter(self.inputs.values())))

    def part(self, start, stop, about):
        """Samples start:stop, described as `about`."""
        labels = None if self.labels is None else self.labels[start:stop]
        return Data({k: v[start:stop] for k, v in self.inputs.items()}, labels, about)


def read(path: str, g: Graph, preprocess: str = None) -> Data:
    """DATA.npz / .npy (a `labels` member is the labels), or a folder of images made into the model's input."""
    if os.path.isdir(path):
        return Data({_image_input(g, path): images(path, g, preprocess)}, None, f"{_count(path)} images in {path}")
    if preprocess:
        raise ModelError(f"--preprocess {preprocess!r}: applies to a folder of images, and {path} is a file")
    arrays = io.read_inputs(path)
    labels = arrays.pop("labels", None) if isinstance(arrays, dict) else None
    inputs = io.bind_inputs(arrays, g, path)
    sizes = {len(v) for v in inputs.values()} | ({len(labels)} if labels is not None else set())
    if len(sizes) != 1:
        raise ModelError(f"{path}: its arrays (and labels) hold different numbers of samples: {sorted(sizes)}")
    if labels is not None and (labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer)):
        raise ModelError(f"{path}: labels must be one integer class per sample, got {labels.dtype} {labels.shape}")
    return Data({k: np.asarray(v, np.float32) for k, v in inputs.items()}, labels,
                f"{sizes.pop()} samples of {os.path.basename(path)}{' (labelled)' if labels is not None else ''}")


def _count(folder):
    return len([f for f in os.listdir(folder) if f.lower().endswith(IMAGE_FILES)])


def _image_input(g: Graph, where: str) -> str:
    """The model's one image input (N, C, H, W) with C 1 or 3."""
    shapes = {n: g.shapes[n] for n in g.inputs}
    if len(shapes) != 1 or len(s := next(iter(shapes.values()))) != 4 or s[1] not in (1, 3):
        raise ModelError(f"{where}: a folder of images feeds a model with one (N, 1 or 3, H, W) input; "
                         f"this one takes {shapes}")
    return g.inputs[0]


def parse_preprocess(spec: str) -> dict:
    """'imagenet', or 'resize=256,crop=224,scale=0.00392,mean=0.485/0.456/0.406,std=…,order=bgr', or a
    preset with changes ('imagenet,order=bgr'). resize: the shorter side; crop: a centre square."""
    out = {}
    for item in (spec or "unit").split(","):
        key, eq, value = item.strip().partition("=")
        if not eq and key in PRESETS:
            out.update(PRESETS[key])
            continue
        if key not in KEYS or not eq:
            raise ModelError(f"--preprocess {spec!r}: {item!r} is neither a preset ({', '.join(PRESETS)}) "
                             f"nor KEY=VALUE with KEY one of {', '.join(KEYS)}")
        try:
            if key == "order":
                if value not in ("rgb", "bgr"):
                    raise ValueError
                out[key] = value
            elif key in ("mean", "std"):
                out[key] = tuple(float(v) for v in value.split("/"))
            else:
                out[key] = float(eval_fraction(value)) if key == "scale" else int(value)
        except ValueError:
            raise ModelError(f"--preprocess {spec!r}: bad value in {item!r}") from None
    return out


def eval_fraction(text: str) -> float:
    """'0.5' or '1/255'."""
    num, _, den = text.partition("/")
    return float(num) / float(den or 1)


def images(folder: str, g: Graph, preprocess: str = None) -> np.ndarray:
    """Every image file of `folder` (sorted by name) as the model's input (N, C, H, W) float32."""
    from PIL import Image, UnidentifiedImageError

    spec, (_, c, h, w) = parse_preprocess(preprocess), g.shapes[_image_input(g, folder)]
    files = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_FILES))
    if not files:
        raise ModelError(f"{folder}: no image files ({', '.join(IMAGE_FILES)})")
    out = np.empty((len(files), c, h, w), np.float32)
    for i, name in enumerate(files):
        try:
            with Image.open(os.path.join(folder, name)) as im:
                out[i] = prepare(im.convert("L" if c == 1 else "RGB"), spec, (h, w))
        except (UnidentifiedImageError, OSError) as e:
            raise ModelError(f"{os.path.join(folder, name)}: not a readable image ({e})") from None
    return out


def prepare(im, spec: dict, size: tuple) -> np.ndarray:
    """A PIL image -> (C, H, W) float32: shorter side resized, centre crop to `size`, scaled, normalised."""
    from PIL import Image

    h, w = size
    side = spec.get("resize") or max(h, w)
    scale = side / min(im.size)
    im = im.resize((max(w, round(im.size[0] * scale)), max(h, round(im.size[1] * scale))), Image.BILINEAR)
    left, top = (im.size[0] - w) // 2, (im.size[1] - h) // 2
    x = np.asarray(im.crop((left, top, left + w, top + h)), np.float32) * spec.get("scale", 1.0)
    x = x[:, :, None] if x.ndim == 2 else x[:, :, ::-1] if spec.get("order") == "bgr" else x
    x = (x - np.asarray(spec.get("mean", 0.0), np.float32)) / np.asarray(spec.get("std", 1.0), np.float32)
    return x.transpose(2, 0, 1)


def photo_crops(which: str, n: int, size=(224, 224), preprocess="imagenet", seed=0) -> np.ndarray:
    """n crops (N, 3, H, W) of scikit-image's `which` photographs (PHOTOS): random squares of 30-100% of the
    shorter side, some flipped, preprocessed like a folder of images."""
    from PIL import Image

    try:
        import skimage.data
    except ImportError:
        raise ModelError("the photographs come from scikit-image: pip install scikit-image") from None
    rng, spec = np.random.default_rng(seed), parse_preprocess(preprocess)
    photos = []
    for name in PHOTOS[which]:
        x = getattr(skimage.data, name)()
        x = x[0] if isinstance(x, tuple) else x  # stereo_motorcycle: (left, right, disparity)
        photos.append(Image.fromarray(np.asarray(x, np.uint8) * (255 if x.dtype == bool else 1)).convert("RGB"))
    out = np.empty((n, 3, *size), np.float32)
    for i in range(n):
        im = photos[i % len(photos)]
        side = int(min(im.size) * rng.uniform(0.3, 1.0))
        left, top = rng.integers(0, im.size[0] - side + 1), rng.integers(0, im.size[1] - side + 1)
        crop = im.crop((left, top, left + side, top + side))
        if rng.random() < 0.5:
            crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
        out[i] = prepare(crop, spec, size)
    return out
