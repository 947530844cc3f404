"""Runs: the run table and everything that makes one (readers, filters, fit sets, task sets, checks, testbeds)."""
