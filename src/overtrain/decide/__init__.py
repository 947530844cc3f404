"""Decide: forecasts turned into decisions (plan the big run and the small runs, compare data recipes)."""
