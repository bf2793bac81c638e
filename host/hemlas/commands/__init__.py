"""The CLI's command handlers: do_x(args) functions, one module per area."""
