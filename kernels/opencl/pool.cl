// Pooling over NCHW planes, one output per work-item.

// x (N,C,H,W) -> y (N,C,P,Q): max over each window; padding never wins
__kernel void maxpool(__global const float *x, int xo, __global float *y, int yo,
                      int H, int W, int P, int Q, int R, int S,
                      int sh, int sw, int pt, int pl, int dh, int dw, int total) {
    const int i = get_global_id(0);
    if (i >= total) return;
    const int q = i % Q, p = i / Q % P, plane = i / (P * Q);
    __global const float *xp = x + xo + plane * H * W;
    float m = -INFINITY;
    for (int r = 0; r < R; r++) {
        const int ih = p * sh - pt + r * dh;
        if (ih < 0 || ih >= H) continue;
        for (int s = 0; s < S; s++) {
            const int iw = q * sw - pl + s * dw;
            if (iw >= 0 && iw < W) m = fmax(m, xp[ih * W + iw]);
        }
    }
    y[yo + i] = m;
}

// x (N,C,H,W) -> y (N,C,P,Q): mean over each window; the divisor counts padding cells when
// count_include_pad (never cells past the end padding, which ceil_mode may reach)
__kernel void avgpool(__global const float *x, int xo, __global float *y, int yo,
                      int H, int W, int P, int Q, int R, int S, int sh, int sw,
                      int pt, int pl, int pb, int pr, int count_include_pad, int total) {
    const int i = get_global_id(0);
    if (i >= total) return;
    const int q = i % Q, p = i / Q % P, plane = i / (P * Q);
    __global const float *xp = x + xo + plane * H * W;
    const int h0 = p * sh - pt, w0 = q * sw - pl;
    float sum = 0.0f;
    for (int ih = max(h0, 0); ih < min(h0 + R, H); ih++)
        for (int iw = max(w0, 0); iw < min(w0 + S, W); iw++) sum += xp[ih * W + iw];
    const int cip = count_include_pad;
    const int rows = min(h0 + R, cip ? H + pb : H) - max(h0, cip ? -pt : 0);
    const int cols = min(w0 + S, cip ? W + pr : W) - max(w0, cip ? -pl : 0);
    y[yo + i] = sum / (float)(rows * cols);
}

// x (N,C,H,W) -> y (N,C,1,1): the mean of each plane
__kernel void global_avgpool(__global const float *x, int xo, __global float *y, int yo, int HW, int planes) {
    const int i = get_global_id(0);
    if (i >= planes) return;
    __global const float *xp = x + xo + i * HW;
    float sum = 0.0f;
    for (int j = 0; j < HW; j++) sum += xp[j];
    y[yo + i] = sum / (float)HW;
}
