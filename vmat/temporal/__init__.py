"""temporal stage (see README)."""
