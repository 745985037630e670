"""``python -m ml validate-site``: a hospital's own films run exactly as the service runs them, and a report.

- :mod:`ml.site.files`: the folder's files and the optional labels CSV;
- :mod:`ml.site.served`: one film decoded, preprocessed, answered and assessed as the service does;
- :mod:`ml.site.run`: every film in a fixed order, as one site sending them one at a time (the
  source-shift monitor's window);
- :mod:`ml.site.stats`: intervals, calibration and the stream's figures (numpy);
- :mod:`ml.site.verdict`: the rules of the verdict, in one place;
- :mod:`ml.site.report` and :mod:`ml.site.plots`: ``report.md``, ``summary.json``, ``images.csv`` and the
  PNG plots;
- :mod:`ml.site.cli`: the command line.

None of it loads torch unless the torch engine is asked for.
"""
