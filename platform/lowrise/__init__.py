"""Lowrise: a folder of YAML becomes a records application on a real database."""

__version__ = "0.1.0"
