"""AudioSet's own files: the ontology and class list, TFRecord reading, and downloading the
release.
"""
