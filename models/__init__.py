"""deepx.models: see ARCHITECTURE.md."""
