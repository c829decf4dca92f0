"""The bot's part of ``python -m recommender doctor`` (entry point ``earshot.doctor``):
the Discord token's shape, never its value, and the invite link for this application."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from recommender.ops.doctor import FAIL, OK, WARN, Check

from .config import TOKEN_SHAPE
from .invite import PERMISSIONS, SCOPES, invite_url


def application_id(token: str) -> int | None:
    """The bot's user id, which a token's first part encodes; for a bot application it
    is also the application (client) id."""
    first = token.split(".", 1)[0]
    try:
        decoded = base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return int(decoded) if decoded.isdigit() else None


async def checks(env: Mapping[str, str]) -> list[Check]:
    token = env.get("DISCORD_TOKEN", "").strip()
    if not token:
        return [
            Check(
                "Discord token",
                FAIL,
                "DISCORD_TOKEN is not set: Developer Portal > your application > Bot > "
                "Reset Token, then put it in .env",
            )
        ]
    app_id = application_id(token)
    if not TOKEN_SHAPE.fullmatch(token) or app_id is None:
        return [
            Check(
                "Discord token",
                FAIL,
                f"DISCORD_TOKEN ({len(token)} characters) does not have a bot token's shape "
                "(three dot-separated parts, the first an encoded user id); copy it again",
            )
        ]
    link = invite_url(app_id)
    return [
        Check(
            "Discord token",
            OK,
            f"shape valid ({len(token)} characters) for application {app_id}",
            {"application_id": app_id, "length": len(token)},
        ),
        Check(
            "invite link",
            OK,
            link,
            {"url": link, "scopes": list(SCOPES), "permissions": PERMISSIONS.value},
        ),
        owner_commands(env),
    ]


def owner_commands(env: Mapping[str, str]) -> Check:
    """Whether every owner will see the owner commands (see bot.Earshot._home_guild)."""
    home = env.get("OWNER_GUILD_ID", "").strip()
    if home.isdigit():
        return Check(
            "owner commands", OK, f"in server {home} (OWNER_GUILD_ID), shown to every owner"
        )
    if env.get("BOT_ADMINS", "").strip():
        return Check(
            "owner commands",
            WARN,
            "BOT_ADMINS who are not server administrators will not see /reindex, /stats and "
            "/catalog unless the application names a server of its own in the Developer "
            "Portal: set OWNER_GUILD_ID to a server of yours",
        )
    return Check("owner commands", OK, "shown to server administrators; owners run them")
