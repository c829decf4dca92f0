"""Hits to a reply: the ranking pipeline, the store's view of candidates, a reply's suggestions,
and what people read.
"""
