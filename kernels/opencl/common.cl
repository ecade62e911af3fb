// Pieces every deepx OpenCL program starts with (OpenCL C 1.2, float32).
// Tensors arrive as (buffer, element offset) pairs so that they may be views into one arena buffer.

#define NONE 0
#define CLIP 1
#define SIGMOID 2
#define TANH 3

// the fused activation of one value (kind: NONE, CLIP, SIGMOID, TANH)
float act(float v, int kind, float lo, float hi) {
    if (kind == CLIP) return fmin(fmax(v, lo), hi);
    if (kind == SIGMOID) return 1.0f / (1.0f + exp(-v));
    if (kind == TANH) return tanh(v);
    return v;
}

// flat index i of a row-major shape (8 axes, leading 1s) -> element offset under strides
int strided(int i, int8 shape, int8 strides) {
    int n[8], s[8], off = 0;
    vstore8(shape, 0, n);
    vstore8(strides, 0, s);
    for (int d = 7; d >= 0; d--) {
        off += (i % n[d]) * s[d];
        i /= n[d];
    }
    return off;
}
