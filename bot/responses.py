"""Answering an interaction privately first, then publicly.

A slash command that takes time is deferred (the member sees "earshot is thinking…"), and
a deferred response's privacy cannot change afterwards. So earshot thinks *privately*:
a refusal found while listening (the video is private, the song is silent, the listeners
are busy) stays between earshot and the member from the first moment. An answer is then
posted as public follow-ups. Discord turns a follow-up sent right after a deferral into an
edit of the private "thinking…" message, so that message is first edited into a short
note, and deleted once the public answer is there.

The first response can also be taken by Discord with its answer lost on the way back (a
502 from Discord's edge, a dropped connection). discord.py then retries, and Discord says
"already acknowledged" (40060). ``LostAnswers`` watches the HTTP calls to tell that case
from another process having answered, so earshot carries on instead of leaving the member
a "thinking…" forever.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from types import SimpleNamespace

import aiohttp
import discord

log = logging.getLogger(__name__)

ALREADY_ANSWERED = 40060  # Discord: "Interaction has already been acknowledged"
UNKNOWN_INTERACTION = 10062  # Discord: the interaction expired (or never was)
CALLBACK = re.compile(r"/interactions/(\d+)/[^/]+/callback$")
REMEMBER_S = 15 * 60  # an interaction token lives 15 minutes
THINKING_PRIVATELY = "earshot.thinking_privately"  # a key of Interaction.extras


class LostAnswers:
    """Interaction callbacks this process sent whose answer did not come back: a server
    error or a dropped connection, seen through aiohttp's request tracing."""

    def __init__(self) -> None:
        self._lost: dict[int, float] = {}
        self.trace = aiohttp.TraceConfig()
        self.trace.on_request_end.append(self._on_end)
        self.trace.on_request_exception.append(self._on_exception)

    def was_lost(self, interaction_id: int) -> bool:
        return self._lost.pop(interaction_id, None) is not None

    def _note(self, url: object) -> None:
        match = CALLBACK.search(getattr(url, "path", ""))
        if match:
            now = time.monotonic()
            self._lost = {i: t for i, t in self._lost.items() if now - t < REMEMBER_S}
            self._lost[int(match.group(1))] = now

    async def _on_end(
        self, _session: aiohttp.ClientSession, _context: SimpleNamespace, params: object
    ) -> None:
        response = getattr(params, "response", None)
        if response is not None and response.status >= 500:
            self._note(getattr(params, "url", None))

    async def _on_exception(
        self, _session: aiohttp.ClientSession, _context: SimpleNamespace, params: object
    ) -> None:
        self._note(getattr(params, "url", None))


async def think_privately(interaction: discord.Interaction, lost: LostAnswers) -> None:
    """Defer, ephemerally. Raises discord.HTTPException (40060) when another process
    answered first; carries on when Discord took this one but its answer was lost."""
    try:
        await interaction.response.defer(ephemeral=True, thinking=True)
    except discord.HTTPException as exc:
        if exc.code != ALREADY_ANSWERED or not lost.was_lost(interaction.id):
            raise
        log.info(
            "interaction %s: Discord took the first response but its answer was lost on the "
            "way back; carrying on with the follow-up",
            interaction.id,
        )
    except aiohttp.ClientConnectionError as exc:
        # Sent, and the connection dropped before the answer: taken if its message exists.
        try:
            await interaction.original_response()
        except discord.NotFound:
            log.info("interaction %s: the first response was lost (%s); again", interaction.id, exc)
            await interaction.response.defer(ephemeral=True, thinking=True)
        else:
            log.info(
                "interaction %s: the answer to the first response was lost (%s); carrying on",
                interaction.id,
                exc,
            )
    interaction.extras[THINKING_PRIVATELY] = True


def is_thinking_privately(interaction: discord.Interaction) -> bool:
    return bool(interaction.extras.get(THINKING_PRIVATELY))


async def answer_publicly(
    interaction: discord.Interaction,
    embeds: Sequence[discord.Embed],
    note: str,
    posted: Callable[[int, discord.Message], Awaitable[None]],
) -> None:
    """Post ``embeds`` publicly, one message each, after ``think_privately``; ``posted``
    is awaited with each message as soon as it is there (so a later failure loses none
    of the earlier ones). The private "thinking…" message reads ``note`` meanwhile, then
    goes."""
    try:
        await interaction.edit_original_response(content=note)
    except discord.HTTPException as exc:  # dismissed by the member, say: post all the same
        log.info("could not turn the thinking of %s into a note: %s", interaction.id, exc)
    for n, embed in enumerate(embeds):
        await posted(n, await interaction.followup.send(embed=embed, wait=True))
    try:
        await interaction.delete_original_response()
    except discord.HTTPException as exc:  # the member may have dismissed it already
        log.debug("could not delete the private note of %s: %s", interaction.id, exc)


async def answer_privately(
    interaction: discord.Interaction, embeds: Sequence[discord.Embed]
) -> None:
    """Replace the private "thinking…" message (``think_privately``) with ``embeds``."""
    await interaction.edit_original_response(content=None, embeds=list(embeds))


async def tell_privately(interaction: discord.Interaction, message: str) -> None:
    """An answer only the member sees, wherever the interaction stands."""
    if is_thinking_privately(interaction):
        await interaction.edit_original_response(content=message, embed=None, view=None)
    elif not interaction.response.is_done():
        await interaction.response.send_message(message, ephemeral=True)
    else:
        # A public "thinking…" placeholder cannot turn ephemeral: replace it.
        try:
            await interaction.delete_original_response()
        except discord.HTTPException as exc:
            log.debug("could not delete the placeholder of %s: %s", interaction.id, exc)
        await interaction.followup.send(message, ephemeral=True)
