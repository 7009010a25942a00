"""Measuring the models: verification (the paper's VAL/FAR and LFW's 10-fold protocol), LFW,
and face detection on WIDER FACE. Nothing here needs a library."""
