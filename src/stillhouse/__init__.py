"""stillhouse: self-hosted model distillation (teacher -> student -> serve -> evaluate)."""

__version__ = "0.1.0"
