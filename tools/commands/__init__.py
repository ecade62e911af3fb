"""The subcommands of `deepx`: each module's `add(subparsers)` declares its commands, their options and the
function that runs each."""
