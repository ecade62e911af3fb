// Pieces every deepx OpenCL program starts with (OpenCL C 1.2, float32).
// Tensors arrive as (buffer, element offset) pairs so that they may be views into one arena buffer.

#define NONE 0
#define CLIP 1
#define SIGMOID 2
#define TANH 3
#define HARDSIGMOID 4
#define HARDSWISH 5
#define LEAKYRELU 6
#define ELU 7
#define SELU 8
#define CELU 9
#define THRESHOLDEDRELU 10
#define SOFTPLUS 11
#define SOFTSIGN 12
#define GELU 13
#define GELU_TANH 14
#define MISH 15
#define SILU 16
#define EXP 17
#define LOG 18
#define NEG 19
#define ABS 20
#define SQRT 21
#define RECIPROCAL 22
#define ERF 23
#define FLOOR 24
#define CEIL 25
#define NOT 26

float softplus(float v) { return fmax(v, 0.0f) + log1p(exp(-fabs(v))); }

// the fused activation of one value (kind: the kinds of kernels/common.py; lo, hi its parameters)
float act(float v, int kind, float lo, float hi) {
    switch (kind) {
    case CLIP: return fmin(fmax(v, lo), hi);
    case SIGMOID: return 1.0f / (1.0f + exp(-v));
    case TANH: return tanh(v);
    case HARDSIGMOID: return clamp(v * lo + hi, 0.0f, 1.0f);
    case HARDSWISH: return v * clamp(v * lo + hi, 0.0f, 1.0f);
    case LEAKYRELU: return v >= 0.0f ? v : v * lo;
    case ELU: return v >= 0.0f ? v : lo * expm1(v);
    case SELU: return hi * (v > 0.0f ? v : lo * expm1(v));
    case CELU: return fmax(v, 0.0f) + fmin(0.0f, lo * expm1(v / lo));
    case THRESHOLDEDRELU: return v > lo ? v : 0.0f;
    case SOFTPLUS: return softplus(v);
    case SOFTSIGN: return v / (1.0f + fabs(v));
    case GELU: return 0.5f * v * (1.0f + erf(v * 0.70710678f));
    case GELU_TANH: return 0.5f * v * (1.0f + tanh(0.79788456f * (v + 0.044715f * v * v * v)));
    case MISH: return v * tanh(softplus(v));
    case SILU: return v / (1.0f + exp(-v));
    case EXP: return exp(v);
    case LOG: return log(v);
    case NEG: return -v;
    case ABS: return fabs(v);
    case SQRT: return sqrt(v);
    case RECIPROCAL: return 1.0f / v;
    case ERF: return erf(v);
    case FLOOR: return floor(v);
    case CEIL: return ceil(v);
    case NOT: return v == 0.0f ? 1.0f : 0.0f;
    default: return v;
    }
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
