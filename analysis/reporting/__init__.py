"""Reports: a results folder turned into one self-contained HTML page and paper figures.

``edgesim report DIR`` reads the folder once (:mod:`~analysis.reporting.results`), draws
every figure its data allows (:mod:`~analysis.reporting.families`, one module per family
of figures) and writes the page (:mod:`~analysis.reporting.page`). docs/reports.md
lists the figures and what each needs.
"""
