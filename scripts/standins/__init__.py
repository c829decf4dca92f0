"""Real local stand-ins for the services earshot talks to, shared by the tests and the
benchmarks: an HTTP server with Range support (YouTube media, AudioSet downloads, TF Hub,
a package index), a Discord API (gateway + REST) the real discord.py client connects
to, SavedModels with VGGish's interface or architecture, songs, and ways to run the CLI
and the bot as processes."""

# A reindex inside a test trains a short tagger: the tests check that a build is made,
# served and swapped, not how well it tags (test_evaluate and the targets measure that).
TEST_TAGGER_STEPS = 40
