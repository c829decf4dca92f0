"""What earshot knows: the store (SQLite or PostgreSQL), migrations, AudioSet ingest, and checking
videos still play.
"""
