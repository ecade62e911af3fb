"""deepx.boards: see ARCHITECTURE.md."""
