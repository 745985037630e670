"""Release: exporting a weights file and calibrating its int8 model."""
