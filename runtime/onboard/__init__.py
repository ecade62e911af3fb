"""The runtime on the board: `deepx-run` and what it imports. `deepx flash` copies this package's import
closure (with the compiled kernels of the backends that need no compiler) and nothing else, so a module
imported here must be one the board can run: numpy, scipy, deepx's compiled kernels, pyopencl and
pyserial when present; never numba, onnx or a compiler."""
