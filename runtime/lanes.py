"""Steps of several processors at once: one persistent worker thread per processor after the first (which
runs on the caller's thread); a step waits only for the steps on other processors whose tensors it reads."""
import threading


class Lanes:
    """`calls[i]` is step i as (fn, args, kwargs); `lanes[k]` is processor k's steps in order, each as (step
    index, [steps on other processors it waits for]); `names` name the processors (and their threads)."""

    def __init__(self, calls: list, lanes: list, names: list):
        self.calls, self.lanes = calls, lanes
        self.done = [threading.Event() for _ in calls]
        self.error = None
        self.stopping = False
        self.go = [threading.Event() for _ in lanes[1:]]
        self.finished = [threading.Event() for _ in lanes[1:]]
        for k in range(1, len(lanes)):
            threading.Thread(target=self._worker, args=(k,), daemon=True, name=f"deepx-{names[k]}").start()

    def _lane(self, k):
        try:
            for i, deps in self.lanes[k]:
                for d in deps:
                    self.done[d].wait()
                    if self.error:
                        return
                fn, args, kw = self.calls[i]
                fn(*args, **kw)
                self.done[i].set()
        except BaseException as e:  # handed to the caller's thread
            self.error = e
            for ev in self.done:
                ev.set()

    def _worker(self, k):
        while True:
            self.go[k - 1].wait()
            self.go[k - 1].clear()
            if self.stopping:
                return
            self._lane(k)
            self.finished[k - 1].set()

    def close(self):
        """Stop the workers (no run after this)."""
        self.stopping = True
        for ev in self.go:
            ev.set()

    def run(self):
        """Every step once; re-raises a step's error on the caller's thread."""
        self.error = None
        for ev in self.done:
            ev.clear()
        for ev in self.go:
            ev.set()
        self._lane(0)
        for ev in self.finished:
            ev.wait()
            ev.clear()
        if self.error:
            raise self.error
