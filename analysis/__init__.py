"""Statistics, summaries and reports over simulation records. Never touches SimPy objects."""
