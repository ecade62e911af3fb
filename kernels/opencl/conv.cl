// 2-D convolution: an implicit GEMM with local-memory tiles (ordinary convs, 1x1 convs, large-batch
// dense) and a direct kernel (depthwise, small channel counts).
// Build-time sizes: GEMM_L (work-group GEMM_L x GEMM_L), GEMM_WM x GEMM_WN outputs per work-item,
// GEMM_TK (tile depth).

#define L GEMM_L
#define WM GEMM_WM
#define WN GEMM_WN
#define TK GEMM_TK
#define TM (L * WM)
#define TN (L * WN)

// Per (image, group) = get_group_id(2):  Y[k, pq] = act(sum_crs W[k, crs] * X[crs, pq] + b[k])
//   W (Kg, Cg*R*S) row-major: the group's weights;  X: the im2col matrix of the image, read on the fly,
//   X[(c, r, s), (p, q)] = x[c*xcs + ih*xhs + iw], ih = p*sh - pt + r*dh, iw = q*sw - pl + s*dw, 0 outside;
//   Y[k, pq] at y[k*ycs + pq*yps].
// NCHW conv: xcs = H*W, xhs = W, ycs = P*Q, yps = 1.  Dense y (N,K) = x (N,M) w (K,M)^T as a 1x1 conv
// over N pixels of one image: C = M, H = P = N, W = Q = 1, xcs = 1, xhs = M, ycs = 1, yps = K.
// A work-group computes a TM x TN tile of Y; work-item (tx, ty) its rows ty + i*L and columns tx + j*L.
__kernel void conv_gemm(__global const float *x, int xo, __global const float *w, int wo,
                        __global const float *b, int bo, int has_b, __global float *y, int yo,
                        int Kg, int Cg, int H, int W, int R, int S, int P, int Q,
                        int sh, int sw, int pt, int pl, int dh, int dw, int groups,
                        int xcs, int xhs, int xns, int ycs, int yps, int yns,
                        int kind, float lo, float hi) {
    __local float As[TK][TM];  // As[kk][m] = W[k0 + m, c0 + kk]
    __local float Bs[TK][TN];  // Bs[kk][n] = X[c0 + kk, pq0 + n]
    const int tx = get_local_id(0), ty = get_local_id(1), t = ty * L + tx;
    const int pq0 = get_group_id(0) * TN, k0 = get_group_id(1) * TM;
    const int image = get_group_id(2) / groups, g = get_group_id(2) % groups;
    const int PQ = P * Q, RS = R * S, CRS = Cg * RS;
    x += xo + image * xns + g * Cg * xcs;
    w += wo + g * Kg * CRS;
    y += yo + image * yns + g * Kg * ycs;

    float acc[WM][WN];
    for (int i = 0; i < WM; i++)
        for (int j = 0; j < WN; j++) acc[i][j] = 0.0f;

    for (int c0 = 0; c0 < CRS; c0 += TK) {
        for (int e = t; e < TM * TK; e += L * L) {
            const int m = e / TK, kk = e % TK, k = k0 + m, crs = c0 + kk;
            As[kk][m] = (k < Kg && crs < CRS) ? w[k * CRS + crs] : 0.0f;
        }
        for (int e = t; e < TK * TN; e += L * L) {
            const int kk = e / TN, n = e % TN, crs = c0 + kk, pq = pq0 + n;
            float v = 0.0f;
            if (crs < CRS && pq < PQ) {
                const int c = crs / RS, r = crs / S % R, s = crs % S;
                const int ih = pq / Q * sh - pt + r * dh, iw = pq % Q * sw - pl + s * dw;
                if (ih >= 0 && ih < H && iw >= 0 && iw < W) v = x[c * xcs + ih * xhs + iw];
            }
            Bs[kk][n] = v;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int kk = 0; kk < TK; kk++) {
            float a[WM], bv[WN];
            for (int i = 0; i < WM; i++) a[i] = As[kk][ty + i * L];
            for (int j = 0; j < WN; j++) bv[j] = Bs[kk][tx + j * L];
            for (int i = 0; i < WM; i++)
                for (int j = 0; j < WN; j++) acc[i][j] += a[i] * bv[j];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    for (int i = 0; i < WM; i++) {
        const int k = k0 + ty + i * L;
        if (k >= Kg) break;
        const float bk = has_b ? b[bo + g * Kg + k] : 0.0f;
        for (int j = 0; j < WN; j++) {
            const int pq = pq0 + tx + j * L;
            if (pq < PQ) y[k * ycs + pq * yps] = act(acc[i][j] + bk, kind, lo, hi);
        }
    }
}

// x (N,C,H,W) * w (K,C/groups,R,S) + b (K) -> y (N,K,P,Q), one output per work-item
__kernel void conv_direct(__global const float *x, int xo, __global const float *w, int wo,
                          __global const float *b, int bo, int has_b, __global float *y, int yo,
                          int C, int H, int W, int K, int R, int S, int P, int Q,
                          int sh, int sw, int pt, int pl, int dh, int dw, int groups, int total,
                          int kind, float lo, float hi) {
    const int i = get_global_id(0);
    if (i >= total) return;
    const int q = i % Q, p = i / Q % P, k = i / (P * Q) % K, n = i / (K * P * Q);
    const int Cg = C / groups, c0 = k / (K / groups) * Cg;
    __global const float *wk = w + wo + k * Cg * R * S;
    float acc = has_b ? b[bo + k] : 0.0f;
    for (int c = 0; c < Cg; c++) {
        __global const float *xc = x + xo + (n * C + c0 + c) * H * W;
        for (int r = 0; r < R; r++) {
            const int ih = p * sh - pt + r * dh;
            if (ih < 0 || ih >= H) continue;
            for (int s = 0; s < S; s++) {
                const int iw = q * sw - pl + s * dw;
                if (iw >= 0 && iw < W) acc += wk[(c * R + r) * S + s] * xc[ih * W + iw];
            }
        }
    }
    y[yo + i] = act(acc, kind, lo, hi);
}

// Transposed conv: x (N,C,H,W) *T w (C,K/groups,R,S) + b (K) -> y (N,K,P,Q), one output per work-item,
// gathering the input pixels whose window covers it: (p, q) = (ih, iw) * stride - pads + (r, s) * dilation
__kernel void conv_transpose_direct(__global const float *x, int xo, __global const float *w, int wo,
                                    __global const float *b, int bo, int has_b, __global float *y, int yo,
                                    int C, int H, int W, int K, int R, int S, int P, int Q,
                                    int sh, int sw, int pt, int pl, int dh, int dw, int groups, int total,
                                    int kind, float lo, float hi) {
    const int i = get_global_id(0);
    if (i >= total) return;
    const int q = i % Q, p = i / Q % P, k = i / (P * Q) % K, n = i / (K * P * Q);
    const int Kg = K / groups, Cg = C / groups, c0 = k / Kg * Cg, kk = k % Kg;
    float acc = has_b ? b[bo + k] : 0.0f;
    for (int r = 0; r < R; r++) {
        const int th = p + pt - r * dh;
        if (th < 0 || th % sh) continue;
        const int ih = th / sh;
        if (ih >= H) continue;
        for (int s = 0; s < S; s++) {
            const int tw = q + pl - s * dw;
            if (tw < 0 || tw % sw) continue;
            const int iw = tw / sw;
            if (iw >= W) continue;
            __global const float *xp = x + xo + ((n * C + c0) * H + ih) * W + iw;
            __global const float *wp = w + wo + ((c0 * Kg + kk) * R + r) * S + s;
            for (int c = 0; c < Cg; c++) acc += xp[c * H * W] * wp[c * Kg * R * S];
        }
    }
    y[yo + i] = act(acc, kind, lo, hi);
}
