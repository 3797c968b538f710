"""Stateless differentiable operations: one family per module, NumPy path and GPU path."""
