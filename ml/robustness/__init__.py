"""The robustness suite: acquisition shifts, the suite that runs them, its report."""
