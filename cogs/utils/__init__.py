"""Helpers the cogs share (as RoboDanny keeps them): the reaction vocabulary and the
cooldown. Cogs import these, never each other."""
