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

// y (dims, at most 8 axes, leading 1s) = x at the sum over axes of offs[starts[d] + i_d], `fill` where one is -1
__kernel void take(__global const float *x, int xo, __global const int *offs, int oo, __global float *y, int yo,
                   int8 dims8, int8 starts8, float fill, int total) {
    int i = get_global_id(0);
    if (i >= total) return;
    int n[8], s[8], off = 0, out = i;
    vstore8(dims8, 0, n);
    vstore8(starts8, 0, s);
    for (int d = 7; d >= 0; d--) {
        const int o = offs[oo + s[d] + i % n[d]];
        i /= n[d];
        if (o < 0) {
            y[yo + out] = fill;
            return;
        }
        off += o;
    }
    y[yo + out] = x[xo + off];
}
