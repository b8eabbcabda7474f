"""Services: the operations the views, the CLI and the workers call."""
