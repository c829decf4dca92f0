"""The bot's invite link: its scopes, and exactly the permissions earshot uses."""

from __future__ import annotations

import discord

SCOPES = ("bot", "applications.commands")

# Read the channel and its history (reactions on earlier replies), answer, embed the
# suggestions, and add the rating reactions. Nothing else.
PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    embed_links=True,
    add_reactions=True,
    read_message_history=True,
)


def invite_url(application_id: int) -> str:
    return discord.utils.oauth_url(application_id, permissions=PERMISSIONS, scopes=SCOPES)
