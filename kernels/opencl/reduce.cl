// Reductions, one output per work-item: its kept index o reads x at strided(o) over the kept axes plus
// strided(r) over the R reduced ones.

#define SUM 0
#define MEAN 1
#define MAX 2
#define MIN 3
#define L1 4
#define L2 5
#define SUM_SQUARE 6
#define LOG_SUM_EXP 7
#define PROD 8

// x -> y (total outputs): `kind` over the reduced axes
__kernel void reduce(__global const float *x, int xo, __global float *y, int yo, int8 kept, int8 kept_strides,
                     int8 red, int8 red_strides, int R, int kind, int total) {
    const int o = get_global_id(0);
    if (o >= total) return;
    __global const float *x0 = x + xo + strided(o, kept, kept_strides);
    float top = x0[0];
    if (kind == MAX || kind == MIN || kind == LOG_SUM_EXP)
        for (int r = 1; r < R; r++) {
            const float v = x0[strided(r, red, red_strides)];
            top = kind == MIN ? fmin(top, v) : fmax(top, v);
        }
    if (kind == MAX || kind == MIN) {
        y[yo + o] = top;
        return;
    }
    float acc = kind == PROD ? 1.0f : 0.0f;
    for (int r = 0; r < R; r++) {
        const float v = x0[strided(r, red, red_strides)];
        if (kind == PROD) acc *= v;
        else if (kind == L1) acc += fabs(v);
        else if (kind == L2 || kind == SUM_SQUARE) acc += v * v;
        else if (kind == LOG_SUM_EXP) acc += exp(v - top);
        else acc += v;
    }
    if (kind == MEAN) acc /= R;
    else if (kind == L2) acc = sqrt(acc);
    else if (kind == LOG_SUM_EXP) acc = log(acc) + top;
    y[yo + o] = acc;
}

// x (outer, R, inner) -> y (outer, inner): the index of the extremum of sign * x along R (the last when `last`)
__kernel void argext(__global const float *x, int xo, __global float *y, int yo, int R, int inner, float sign,
                     int last, int total) {
    const int o = get_global_id(0);
    if (o >= total) return;
    __global const float *x0 = x + xo + o / inner * R * inner + o % inner;
    float best = sign * x0[0];
    int at = 0;
    for (int r = 1; r < R; r++) {
        const float v = sign * x0[r * inner];
        if (v > best || (last && v == best)) {
            best = v;
            at = r;
        }
    }
    y[yo + o] = at;
}
