"""A new song to frames: the listener (cache, single flight, limits), worker processes, the Redis
job queue, ffmpeg decoding, VGGish and where the model comes from.
"""
