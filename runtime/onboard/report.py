"""What a run reports, shared by `deepx run` and `deepx-run`: its outputs in brief, and the lines it prints."""


def outputs_summary(outputs: dict) -> dict:
    """{name: {shape, min, max}} of a run's output arrays, for its report."""
    return {n: dict(shape=list(y.shape), min=float(y.min()), max=float(y.max())) for n, y in outputs.items()}


def print_run(r: dict, runs=None, board=None, gaps=False, after_outputs=(), after_latency=(), wrote=None):
    """Print run report `r`'s outputs ({name: {shape, min, max}}), then the lines `after_outputs`, its latency
    over `runs` timed runs (default: r["latency_ms"]["runs"]; "(board B)" with `board`), the lines
    `after_latency`, its meter's energy (with the meter's gaps if `gaps` and any) and `wrote WROTE`."""
    for name, y in r["outputs"].items():
        print(f"{name}: shape {tuple(y['shape'])}, min {y['min']:.6g}, max {y['max']:.6g}")
    for line in after_outputs:
        print(line)
    lat = r["latency_ms"]
    if lat:
        on = "" if board is None else f" (board {board})"
        print(f"latency: median {lat['median']:.3f} ms, p90 {lat['p90']:.3f}, min {lat['min']:.3f}, "
              f"max {lat['max']:.3f} over {lat['runs'] if runs is None else runs} runs{on}")
    for line in after_latency:
        print(line)
    e = r["meter"]
    if e:
        gap = f", gaps {e['gaps']}" if gaps and e["gaps"] else ""
        what = "energy (emulated meter: the model replayed, not measured)" if e.get("replays_model") else "energy"
        print(f"{what}: {e['energy_mj_per_inference']:.3f} mJ per inference over {e['runs']} runs "
              f"({e['samples']} meter samples, mean {e['mean_w']:.3f} W{gap})")
    if wrote:
        print(f"wrote {wrote}")
