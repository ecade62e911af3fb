"""Command line tools: `deepx …`."""
