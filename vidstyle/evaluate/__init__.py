"""Measuring a stylised video: warping error, fidelity (tOF, content distance), charts, the baseline."""
