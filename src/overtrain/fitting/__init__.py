"""Fitting: laws fitted to runs by the batched least-squares engine, the method that names them, the `Fit` result."""
