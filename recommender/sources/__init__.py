"""Where a song comes from: links parsed without the network, YouTube through yt-dlp (and why it
refuses), and oEmbed for titles. The one place a new source is added.
"""
