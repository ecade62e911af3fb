"""deepx.runtime: see ARCHITECTURE.md."""
