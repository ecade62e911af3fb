// Fully connected layers at small batch (matrix-vector products); larger batches run as conv.cl's
// tiled GEMM. Build-time size: GROUP, the work-group size (a power of two).

// y (N,K) = act(x (N,M) . w (K,M)^T + b (K)): work-group k reduces the dot products of row k of w
__kernel void gemv(__global const float *x, int xo, __global const float *w, int wo,
                   __global const float *b, int bo, int has_b, __global float *y, int yo,
                   int N, int M, int K, int kind, float lo, float hi) {
    __local float part[GROUP];
    const int k = get_group_id(0), t = get_local_id(0);
    __global const float *wk = w + wo + k * M;
    const float bk = has_b ? b[bo + k] : 0.0f;
    for (int n = 0; n < N; n++) {
        __global const float *xn = x + xo + n * M;
        float acc = 0.0f;
        for (int m = t; m < M; m += GROUP) acc += wk[m] * xn[m];
        part[t] = acc;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int h = GROUP / 2; h > 0; h >>= 1) {
            if (t < h) part[t] += part[t + h];
            barrier(CLK_LOCAL_MEM_FENCE);
        }
        if (t == 0) y[yo + n * K + k] = act(part[0] + bk, kind, lo, hi);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}
