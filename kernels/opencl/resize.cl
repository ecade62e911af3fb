// Resize: linear, one output element per work-item (nearest runs on layout's take kernel).

// x (B,H,W) -> y (B,P,Q) by taps = [h0 (P) | h1 (P) | hw (P) | w0 (Q) | w1 (Q) | ww (Q)], the positions as
// int bits: row taps h0/h1 (weight hw of h1) per p, column taps w0/w1 (ww of w1) per q
__kernel void linear(__global const float *x, int xo, __global float *y, int yo, __global const float *taps, int to,
                     int H, int W, int P, int Q, int total) {
    const int i = get_global_id(0);
    if (i >= total) return;
    const int q = i % Q, p = i / Q % P, b = i / (P * Q);
    __global const float *t = taps + to;
    __global const float *r0 = x + xo + (b * H + as_int(t[p])) * W, *r1 = x + xo + (b * H + as_int(t[P + p])) * W;
    const float a = t[2 * P + p], c = t[3 * P + 2 * Q + q];
    const int j0 = as_int(t[3 * P + q]), j1 = as_int(t[3 * P + Q + q]);
    const float v0 = r0[j0] + c * (r0[j1] - r0[j0]), v1 = r1[j0] + c * (r1[j1] - r1[j0]);
    y[yo + i] = v0 + a * (v1 - v0);
}
