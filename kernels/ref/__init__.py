"""NumPy reference kernels: the definition of every op, kept simple on purpose (float64 inside)."""
