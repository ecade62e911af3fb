// Normalisations, one output (or one softmax row) per work-item.

// x (N,C,H,W) -> y = x / (bias + alpha/size * sum of x^2 over `size` neighbouring channels)^beta
__kernel void lrn(__global const float *x, int xo, __global float *y, int yo,
                  int C, int HW, int size, float alpha, float beta, float bias, int total) {
    const int i = get_global_id(0);
    if (i >= total) return;
    const int c = i / HW % C;
    __global const float *x0 = x + xo + i - c * HW;  // channel 0 at this image and pixel
    float sq = 0.0f;
    for (int cc = max(0, c - (size - 1) / 2); cc < min(C, c + size / 2 + 1); cc++) sq += x0[cc * HW] * x0[cc * HW];
    y[yo + i] = x[xo + i] / pow(bias + alpha / size * sq, beta);
}

// x (N,C,inner) with per-channel scale, bias, mean, var (C) -> y (N,C,inner)
__kernel void batchnorm(__global const float *x, int xo, __global const float *scale, int so,
                        __global const float *bias, int bo, __global const float *mean, int mo,
                        __global const float *var, int vo, __global float *y, int yo,
                        int C, int inner, float eps, int total, int kind, float lo, float hi) {
    const int i = get_global_id(0);
    if (i >= total) return;
    const int c = i / inner % C;
    const float v = (x[xo + i] - mean[mo + c]) / sqrt(var[vo + c] + eps) * scale[so + c] + bias[bo + c];
    y[yo + i] = act(v, kind, lo, hi);
}

// x (outer, L, inner) -> exp(x) / sum exp(x) along L, or with `logs` x - log(sum exp(x)); work-item (o, j) does
// one row
__kernel void softmax(__global const float *x, int xo, __global float *y, int yo, int L, int inner, int rows,
                      int logs) {
    const int i = get_global_id(0);
    if (i >= rows) return;
    const int base = i / inner * L * inner + i % inner;
    __global const float *xr = x + xo + base;
    __global float *yr = y + yo + base;
    float m = -INFINITY, sum = 0.0f;
    for (int l = 0; l < L; l++) m = fmax(m, xr[l * inner]);
    for (int l = 0; l < L; l++) sum += exp(xr[l * inner] - m);
    const float shift = m + log(sum);
    for (int l = 0; l < L; l++) yr[l * inner] = logs ? xr[l * inner] - shift : exp(xr[l * inner] - m) / sum;
}

// the sum of v over the work-group (GROUP items, a power of two), through `part`; every item gets it
float group_sum(float v, __local float *part) {
    const int t = get_local_id(0);
    part[t] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = GROUP / 2; h > 0; h >>= 1) {
        if (t < h) part[t] += part[t + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float total = part[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return total;
}

// x (rows, CG, L): row r standardized, its channel j * scale[r % groups * CG + j] + bias[...]; a layer norm
// is one channel (CG = 1) of L with scale and bias per element (per_element). Work-group r does row r, its
// GROUP items each every GROUP-th element
__kernel void standardize(__global const float *x, int xo, __global const float *scale, int so,
                          __global const float *bias, int bo, int has_b, __global float *y, int yo,
                          int groups, int CG, int L, float eps, int per_element) {
    __local float part[GROUP];
    const int r = get_group_id(0), t = get_local_id(0), n = CG * L;
    __global const float *xr = x + xo + r * n;
    __global float *yr = y + yo + r * n;
    float s = 0.0f;
    for (int i = t; i < n; i += GROUP) s += xr[i];
    const float mean = group_sum(s, part) / n;
    s = 0.0f;
    for (int i = t; i < n; i += GROUP) s += (xr[i] - mean) * (xr[i] - mean);
    const float inv = rsqrt(group_sum(s, part) / n + eps);
    for (int i = t; i < n; i += GROUP) {
        const int c = per_element ? i : r % groups * CG + i / L;
        yr[i] = (xr[i] - mean) * inv * scale[so + c] + (has_b ? bias[bo + c] : 0.0f);
    }
}
