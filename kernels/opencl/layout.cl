// Data movement, one output element per work-item.

// x (rows, cols) -> y[r * pitch + c]: one input of a concatenation into its columns of y
__kernel void copy2d(__global const float *x, int xo, __global float *y, int yo, int cols, int pitch, int total) {
    const int i = get_global_id(0);
    if (i < total) y[yo + i / cols * pitch + i % cols] = x[xo + i];
}

// y (shape) = x read through strides: a transposition when the strides are x's, permuted
__kernel void gather(__global const float *x, int xo, __global float *y, int yo, int8 shape, int8 strides, int total) {
    const int i = get_global_id(0);
    if (i < total) y[yo + i] = x[xo + strided(i, shape, strides)];
}

// x (planes, H, W) -> y (planes, top+H+bottom, left+W+right), the border filled with `value`
__kernel void pad(__global const float *x, int xo, __global float *y, int yo,
                  int H, int W, int top, int left, int P, int Q, float value, int total) {
    const int i = get_global_id(0);
    if (i >= total) return;
    const int h = i / Q % P - top, w = i % Q - left, plane = i / (P * Q);
    y[yo + i] = (h >= 0 && h < H && w >= 0 && w < W) ? x[xo + (plane * H + h) * W + w] : value;
}
