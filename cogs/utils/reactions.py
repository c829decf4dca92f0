"""The rating reactions: 1️⃣-🔟 like the suggestion at that place, 👎 says the others in
the message missed. /recommend adds them; the feedback cog reads them back."""

from __future__ import annotations

from recommender.ratings import DISLIKE_KEY, LIKE_KEYS

NUMBER_EMOJI = ("1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣", "6️⃣", "7️⃣", "8️⃣", "9️⃣", "🔟")
DISLIKE_EMOJI = "👎"
REACTION_KEYS = dict(zip(NUMBER_EMOJI, LIKE_KEYS, strict=True)) | {DISLIKE_EMOJI: DISLIKE_KEY}
