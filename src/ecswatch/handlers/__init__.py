"""Thin Lambda entry points: parse the input, call the domain, return."""
