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

#define MT 8  // matmul's tile: MT x MT outputs per work-group, K in steps of MT through local memory

// y[i] (M,N) = a[i] (M,K) . b[i] (K,N) over the batches i, each operand's matrix at strided(i) (0 strides
// where it broadcasts); work-item (n, m, i)
__kernel void matmul(__global const float *a, int ao, __global const float *b, int bo, __global float *y, int yo,
                     int M, int K, int N, int8 batch, int8 a_strides, int8 b_strides) {
    __local float ta[MT][MT], tb[MT][MT];
    const int n = get_global_id(0), m = get_global_id(1), i = get_global_id(2);
    const int ln = get_local_id(0), lm = get_local_id(1);
    __global const float *ai = a + ao + strided(i, batch, a_strides);
    __global const float *bi = b + bo + strided(i, batch, b_strides);
    float acc = 0.0f;
    for (int k0 = 0; k0 < K; k0 += MT) {
        ta[lm][ln] = m < M && k0 + ln < K ? ai[m * K + k0 + ln] : 0.0f;
        tb[lm][ln] = k0 + lm < K && n < N ? bi[(k0 + lm) * N + n] : 0.0f;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int kk = 0; kk < MT; kk++) acc += ta[lm][kk] * tb[kk][ln];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (m < M && n < N) y[yo + (i * M + m) * N + n] = acc;
}
