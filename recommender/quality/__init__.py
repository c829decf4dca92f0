"""Is it good: the evaluation protocol and the simulated members and servers."""
