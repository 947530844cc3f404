"""Render: what a person reads (terminal tables, figures, the reproduction report)."""
