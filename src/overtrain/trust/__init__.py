"""Trust: how far a forecast can be trusted (backtests, the method chosen by them, calibrated intervals)."""
