"""Queries. Every function takes `*, session` and never commits: the caller owns the unit of work."""
