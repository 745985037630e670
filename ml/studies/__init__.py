"""Studies that chose a shipped setting, each beside what it chose; README.md indexes them."""
