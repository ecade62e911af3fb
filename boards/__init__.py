"""deepx.boards: board profiles (one TOML file each), their cost model, and the emulated board's clock.

    board = boards.load("jetson-nano")
    ms = cost.run_ms(board.processor("gpu"), "opencl", [cost.Work("conv", 2e9, 4e6)])
"""
from . import cost
from .profile import Board, BoardError, Processor, from_text, load, names

__all__ = ["Board", "BoardError", "Processor", "cost", "from_text", "load", "names"]
