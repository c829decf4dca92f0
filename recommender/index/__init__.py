"""Frames to vectors to hits: the tagger, the vector space, the on-disk index, and rebuilding it
(in a child process, behind a lock).
"""
