"""Evaluation: metrics, per-source results, reports, plots and what a run writes."""
