// Fully connected layers at small batch (matrix-vector products); larger batches run as conv.cl's
// tiled GEMM. Build-time sizes: GROUP, the work-group size, split into rows of LANES (powers of two).

#define ROWS (GROUP / LANES)

// y (N,K) = act(x (N,M) . w (K,M)^T + b (K)): a work-group does ROWS rows k of w, LANES work-items
// each summing every LANES-th product of a row, then reducing in local memory
__kernel void gemv(__global const float *x, int xo, __global const float *w, int wo,
                   __global const float *b, int bo, int has_b, __global float *y, int yo,
                   int N, int M, int K, int kind, float lo, float hi) {
    __local float part[ROWS][LANES];
    const int t = get_local_id(0), row = get_local_id(1), k = get_group_id(1) * ROWS + row;
    const int kk = min(k, K - 1);  // work-items past K compute row K-1 again but store nothing
    __global const float *wk = w + wo + kk * M;
    const float bk = has_b ? b[bo + kk] : 0.0f;
    for (int n = 0; n < N; n++) {
        __global const float *xn = x + xo + n * M;
        float acc = 0.0f;
        for (int m = t; m < M; m += LANES) acc += wk[m] * xn[m];
        part[row][t] = acc;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int h = LANES / 2; h > 0; h >>= 1) {
            if (t < h) part[row][t] += part[row][t + h];
            barrier(CLK_LOCAL_MEM_FENCE);
        }
        if (t == 0 && k < K) y[yo + n * K + k] = act(part[row][0] + bk, kind, lo, hi);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}
