// Activations, broadcasting binary ops and where, one output per work-item.

// u `op` v (op: a code of kernels/common.py BINARY); comparisons and logic as 0/1
float bin1(float u, float v, int op) {
    switch (op) {
    case 0: return u + v;
    case 1: return u * v;
    case 2: return u - v;
    case 3: return u / v;
    case 4: return v == 2.0f ? u * u : (v == 0.5f ? sqrt(u) : (v == 1.0f ? u : pow(u, v)));
    case 5: return fmin(u, v);
    case 6: return fmax(u, v);
    case 7: return u == v;
    case 8: return u < v;
    case 9: return u > v;
    case 10: return u <= v;
    case 11: return u >= v;
    case 12: return u != 0.0f && v != 0.0f;
    case 13: return u != 0.0f || v != 0.0f;
    case 14: return (u != 0.0f) != (v != 0.0f);
    default: return u >= 0.0f ? u : u * v;  // prelu
    }
}

// y (shape) = act(a `op` b), a and b read through their broadcast strides (0 on broadcast axes)
__kernel void binary(__global const float *a, int ao, __global const float *b, int bo, __global float *y, int yo,
                     int8 shape, int8 sa, int8 sb, int op, int total, int kind, float lo, float hi) {
    const int i = get_global_id(0);
    if (i >= total) return;
    y[yo + i] = act(bin1(a[ao + strided(i, shape, sa)], b[bo + strided(i, shape, sb)], op), kind, lo, hi);
}

// y (shape) = x where cond != 0, else y, each read through its broadcast strides
__kernel void where_(__global const float *c, int co, __global const float *x, int xo, __global const float *z,
                     int zo, __global float *y, int yo, int8 shape, int8 sc, int8 sx, int8 sz, int total) {
    const int i = get_global_id(0);
    if (i >= total) return;
    y[yo + i] = c[co + strided(i, shape, sc)] != 0.0f ? x[xo + strided(i, shape, sx)] : z[zo + strided(i, shape, sz)];
}

// y = act(x), elementwise
__kernel void activation(__global const float *x, int xo, __global float *y, int yo, int total,
                         int kind, float lo, float hi) {
    const int i = get_global_id(0);
    if (i < total) y[yo + i] = act(x[xo + i], kind, lo, hi);
}
