"""One knob for the kernels' thread count: BLAS (numpy's and scipy's), OpenMP and numba."""
import os

from threadpoolctl import threadpool_limits

from .. import config


def default_threads() -> int:
    return config.THREADS or len(os.sched_getaffinity(0))


def set_threads(n: int = 0) -> int:
    """Use `n` threads (0: DEEPX_THREADS or every core this process may run on); returns n."""
    n = n or default_threads()
    from . import registry

    for backend in registry.BACKENDS:  # load OpenMP / numba before limiting them
        registry.backend_usable(backend)
    if registry.backend_usable("numba")[0]:
        import numba

        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    threadpool_limits(limits=n)  # stays in force: only leaving it as a context manager would undo it
    return n


class Switch:
    """The kernels' thread count read and changed between runs, cheaply: OpenMP's (the Cython kernels' loops),
    the BLAS libraries' (GEMMs called outside those loops) and Numba's, for the calling thread."""

    def __init__(self):
        from threadpoolctl import ThreadpoolController

        from . import registry

        for backend in registry.BACKENDS:  # load OpenMP / numba first
            registry.backend_usable(backend)
        libs = ThreadpoolController().lib_controllers
        self.openmp = [c for c in libs if c.user_api == "openmp"]
        self.blas = [c for c in libs if c.user_api == "blas"]
        self.numba = None
        if registry.backend_usable("numba")[0]:
            import numba

            self.numba = numba

    def current(self) -> int:
        """The count in force (OpenMP's; 1 without OpenMP)."""
        return max([c.num_threads for c in self.openmp] or [1])

    def use(self, n: int):
        for c in self.openmp + self.blas:
            c.set_num_threads(n)
        if self.numba:
            self.numba.set_num_threads(min(n, self.numba.config.NUMBA_NUM_THREADS))
