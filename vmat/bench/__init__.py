"""Benchmarks that ship with vmat (``vmat bench ...``): each reports what it measured, on what, and how."""
