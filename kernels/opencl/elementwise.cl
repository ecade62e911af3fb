// Activations and broadcasting add / mul, one output per work-item.

// y (shape) = act(a (+|*) b), a and b read through their broadcast strides (0 on broadcast axes)
__kernel void binary(__global const float *a, int ao, __global const float *b, int bo, __global float *y, int yo,
                     int8 shape, int8 sa, int8 sb, int mul, int total, int kind, float lo, float hi) {
    const int i = get_global_id(0);
    if (i >= total) return;
    const float u = a[ao + strided(i, shape, sa)], v = b[bo + strided(i, shape, sb)];
    y[yo + i] = act(mul ? u * v : u + v, kind, lo, hi);
}

// y = act(x), elementwise
__kernel void activation(__global const float *x, int xo, __global float *y, int yo, int total,
                         int kind, float lo, float hi) {
    const int i = get_global_id(0);
    if (i < total) y[yo + i] = act(x[xo + i], kind, lo, hi);
}
