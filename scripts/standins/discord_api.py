"""A small Discord API on 127.0.0.1: gateway WebSocket (zlib-stream) and the REST routes
earshot uses, enough for the real discord.py client to log in, sync commands, receive
interactions and reactions, answer, react, and resume after a disconnect.

It runs on its own event loop in a thread; tests drive it with the thread-safe methods
at the bottom (``interaction``, ``react``, ``reconnect``, ``wait_for``) and read what the
bot did from ``calls`` (every REST request) and ``messages``.

Servers: by default one (``guild_id``, with its channel ``channel_id``). ``guilds=N``
makes N servers whose ids are chosen so that server i lives on shard i of N, as Discord
places a server: shard ``(guild_id >> 22) % shard_count``; ``guild_ids=[...]`` names them
outright. READY lists a shard's own servers, each gets a GUILD_CREATE, each has its own
channel, and every event about a server (interactions, reactions) goes to the socket of
the shard that owns it, whichever process runs that shard.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import mimetypes
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import WSMsgType, web

API = "/api/v10"
EPOCH_MS = 1420070400000
EPHEMERAL = 1 << 6
LOADING = 1 << 7  # a deferred response's "thinking…" state
IS_VOICE_MESSAGE = 1 << 13
CDN_KEY = b"stand-in signing key"


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime())


@dataclass
class Call:
    method: str
    path: str
    body: Any
    at: float = field(default_factory=time.monotonic)


@dataclass
class Member:
    id: int
    name: str
    administrator: bool = False

    def user(self) -> dict:
        return {
            "id": str(self.id),
            "username": self.name,
            "discriminator": "0",
            "global_name": self.name,
            "avatar": None,
            "bot": False,
            "public_flags": 0,
        }

    def member(self) -> dict:
        return {
            "user": self.user(),
            "roles": [],
            "joined_at": _now_iso(),
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "nick": None,
            "avatar": None,
            "communication_disabled_until": None,
            "permissions": str(8 if self.administrator else 0x0000_0000_0004_0840),
        }


FIRST_GUILD = 800_000_000_000_000_001


def guild_ids_for(count: int, first: int = FIRST_GUILD) -> list[int]:
    """``count`` server ids near ``first`` such that server i lives on shard i of
    ``count`` (``(id >> 22) % count == i``); for one server, ``first`` itself."""
    if count < 1:
        raise ValueError("at least one guild")
    if count == 1:
        return [first]
    base = (first >> 22) - (first >> 22) % count  # a multiple of count: shard 0
    low = first & ((1 << 22) - 1)
    return [((base + i) << 22) | low for i in range(count)]


class FakeDiscord:
    def __init__(
        self,
        owner_id: int = 1000,
        *,
        guilds: int = 1,
        guild_ids: list[int] | None = None,
        shards: int = 1,
    ) -> None:
        """``guilds``: how many servers the bot is in (ids from ``guild_ids_for``), or
        ``guild_ids`` outright; ``shards``: what /gateway/bot recommends (the bot may
        still choose its own SHARD_COUNT)."""
        self._ids = itertools.count(int(time.time() * 1000 - EPOCH_MS) << 22)
        self.app_id = 900_000_000_000_000_001
        self.bot_id = self.app_id
        self.owner_id = owner_id
        self.guild_ids: list[int] = list(guild_ids or guild_ids_for(guilds))
        self.guild_id = self.guild_ids[0]  # the default server of every helper
        # Each server's one text channel: the id after the server's (800...002 for one).
        self.channel_ids: dict[int, int] = {g: g + 1 for g in self.guild_ids}
        self.in_guild = True  # False: the bot was invited nowhere yet
        self.shards = shards  # what /gateway/bot recommends
        self.identified_shards: list[list[int]] = []  # [shard_id, shard_count] per IDENTIFY
        self.reactions: dict[int, dict[str, set[int]]] = {}  # message -> emoji -> users
        # "502" or "reset": how the answer to the next interaction callback is lost
        self.lose_next_answer = ""
        self.rest_reads = 0  # GETs of messages and reaction lists (the bot catching up)
        self._shard_of: dict[int, tuple[int, int]] = {}  # socket -> (shard id, shard count)
        self._sessions: dict[str, tuple[int, int]] = {}  # session id -> its shard
        self._session_numbers = itertools.count(1)
        self.calls: list[Call] = []
        self.messages: dict[int, dict] = {}
        self.commands: list[dict] = []  # every registered command, of every scope
        self.command_scopes: dict[str | None, list[dict]] = {}  # None: global; else a guild
        self.app_guild_id: int | None = None  # the server the application names as its own
        self.interactions: dict[int, dict] = {}
        self.identifies = 0
        self.resumes: list[dict] = []
        self.sequence = 0
        self.session_id = "session-1"  # the one IDENTIFY gave last (each gets its own)
        self._sockets: list[web.WebSocketResponse] = []
        self._compressors: dict[int, Any] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.lock = threading.RLock()
        self.files: dict[int, tuple[bytes, str]] = {}  # attachment id -> (body, content type)
        self.cdn_reads: list[str] = []  # the paths of attachments fetched from the CDN

    # --- lifecycle ------------------------------------------------------------------

    def __enter__(self) -> FakeDiscord:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}{API}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    async def _start(self) -> None:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", API + "/{tail:.*}", self._rest)
        app.router.add_get("/attachments/{channel}/{id}/{filename}", self._cdn)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def next_id(self) -> int:
        return next(self._ids)

    # --- payloads -------------------------------------------------------------------

    def bot_user(self) -> dict:
        return {
            "id": str(self.bot_id),
            "username": "earshot",
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": True,
            "public_flags": 0,
            "flags": 0,
            "verified": True,
            "mfa_enabled": False,
        }

    @property
    def channel_id(self) -> int:
        """The first server's channel (the one server's, by default)."""
        return self.channel_ids[self.guild_id]

    def guild_of_channel(self, channel_id: int) -> int:
        for guild, channel in self.channel_ids.items():
            if channel == channel_id:
                return guild
        raise KeyError(f"Channel {channel_id}")

    def shard_of_guild(self, guild_id: int, shard_count: int | None = None) -> int:
        """The shard a server lives on, of ``shard_count`` (default ``shards``)."""
        return (guild_id >> 22) % max(shard_count or self.shards, 1)

    def guilds_of_shard(self, shard_id: int, shard_count: int) -> list[int]:
        return [g for g in self.guild_ids if (g >> 22) % shard_count == shard_id]

    def channel(self, guild_id: int | None = None) -> dict:
        guild_id = guild_id or self.guild_id
        return {
            "id": str(self.channel_ids[guild_id]),
            "type": 0,
            "name": "music",
            "position": 0,
            "guild_id": str(guild_id),
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }

    def guild(self, guild_id: int | None = None) -> dict:
        guild_id = guild_id or self.guild_id
        number = self.guild_ids.index(guild_id) + 1
        everyone = {
            "id": str(guild_id),
            "name": "@everyone",
            "permissions": "1071698660929",
            "position": 0,
            "color": 0,
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }
        bot_member = {
            "user": self.bot_user(),
            "roles": [],
            "joined_at": _now_iso(),
            "deaf": False,
            "mute": False,
            "flags": 0,
        }
        return {
            "id": str(guild_id),
            "name": "Test Server" if number == 1 else f"Test Server {number}",
            "icon": None,
            "owner_id": str(self.owner_id),
            "roles": [everyone],
            "emojis": [],
            "stickers": [],
            "features": [],
            "channels": [self.channel(guild_id)],
            "threads": [],
            "members": [bot_member],
            "member_count": 3,
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "large": False,
            "unavailable": False,
            "joined_at": _now_iso(),
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "system_channel_id": None,
            "afk_channel_id": None,
            "afk_timeout": 300,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "splash": None,
            "discovery_splash": None,
            "application_id": None,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "max_members": 1000,
            "premium_progress_bar_enabled": False,
        }

    def application(self) -> dict:
        owner = Member(self.owner_id, "owner").user()
        return {
            "id": str(self.app_id),
            "name": "earshot",
            "icon": None,
            "description": "",
            "rpc_origins": [],
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": owner,
            "team": None,
            "verify_key": "0" * 64,
            "flags": 0,
            "summary": "",
            "bot": self.bot_user(),
            "interactions_endpoint_url": None,
            "tags": [],
            "redirect_uris": [],
            "integration_types_config": {},
            **({"guild_id": str(self.app_guild_id)} if self.app_guild_id else {}),
        }

    def _message(
        self,
        body: dict,
        *,
        interaction: dict | None = None,
        message_id: int | None = None,
        guild_id: int | None = None,
    ) -> dict:
        """A message in a server's channel: the interaction's server, else ``guild_id``,
        else the first."""
        if interaction is not None:
            guild_id = int(interaction["guild_id"])
        guild_id = guild_id or self.guild_id
        message_id = message_id or self.next_id()
        message = {
            "id": str(message_id),
            "channel_id": str(self.channel_ids[guild_id]),
            "guild_id": str(guild_id),
            "author": self.bot_user(),
            "content": body.get("content") or "",
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": body.get("embeds") or [],
            "pinned": False,
            "type": 20 if interaction else 0,
            "flags": int(body.get("flags") or 0),
            "components": body.get("components") or [],
            "reactions": [],
            "application_id": str(self.app_id),
            "webhook_id": str(self.app_id),
        }
        if interaction:
            message["interaction_metadata"] = {
                "id": str(interaction["id"]),
                "type": 2,
                "user": interaction["member"]["user"],
                "authorizing_integration_owners": {"0": str(guild_id)},
            }
        self.messages[message_id] = message
        return message

    # --- gateway --------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        compress = request.query.get("compress")
        if compress not in (None, "zlib-stream"):
            await ws.close(code=4000, message=b"only zlib-stream compression is supported")
            return ws
        if compress:
            self._compressors[id(ws)] = zlib.compressobj()
        self._sockets.append(ws)
        await self._send(ws, {"op": 10, "d": {"heartbeat_interval": 41250}})
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                payload = json.loads(msg.data)
                op = payload.get("op")
                if op == 1:
                    await self._send(ws, {"op": 11})
                elif op == 2:
                    shard = payload["d"].get("shard") or [0, 1]
                    session = f"session-{next(self._session_numbers)}"
                    with self.lock:
                        self.identifies += 1
                        self.identified_shards.append(shard)
                        self._shard_of[id(ws)] = (shard[0], shard[1])
                        self._sessions[session] = (shard[0], shard[1])
                        self.session_id = session
                    # A guild lives on shard (guild_id >> 22) % shard_count, as on Discord.
                    ours = self.guilds_of_shard(shard[0], shard[1]) if self.in_guild else []
                    await self._dispatch_to(
                        ws,
                        "READY",
                        {
                            "v": 10,
                            "user": self.bot_user(),
                            "guilds": [{"id": str(g), "unavailable": True} for g in ours],
                            "shard": shard,
                            "session_id": session,
                            "resume_gateway_url": self.gateway_url,
                            "application": {"id": str(self.app_id), "flags": 0},
                            "private_channels": [],
                            "relationships": [],
                        },
                    )
                    for guild in ours:
                        await self._dispatch_to(ws, "GUILD_CREATE", self.guild(guild))
                elif op == 6:
                    with self.lock:
                        self.resumes.append(payload["d"])
                        resumed = self._sessions.get(payload["d"].get("session_id"))
                        if resumed is not None:  # the socket serves that session's shard
                            self._shard_of[id(ws)] = resumed
                    await self._dispatch_to(ws, "RESUMED", {})
        finally:
            if ws in self._sockets:
                self._sockets.remove(ws)
            self._compressors.pop(id(ws), None)
            self._shard_of.pop(id(ws), None)
        return ws

    async def _send(self, ws: web.WebSocketResponse, payload: dict) -> None:
        data = json.dumps(payload)
        compressor = self._compressors.get(id(ws))
        if compressor is None:
            await ws.send_str(data)
        else:
            await ws.send_bytes(
                compressor.compress(data.encode()) + compressor.flush(zlib.Z_SYNC_FLUSH)
            )

    async def _dispatch_to(self, ws: web.WebSocketResponse, event: str, data: dict) -> None:
        self.sequence += 1
        await self._send(ws, {"op": 0, "t": event, "s": self.sequence, "d": data})

    def _sockets_for(self, guild_id: int) -> list[web.WebSocketResponse]:
        """The sockets of every session of the shard that owns the server (a bot run twice
        has two, and Discord sends each of them every event); none when no connected shard
        does. With no shard known at all (nothing identified yet), the last socket."""
        owners = [
            ws
            for ws in self._sockets
            if (shard := self._shard_of.get(id(ws))) is not None
            and (guild_id >> 22) % shard[1] == shard[0]
        ]
        if owners:
            return owners
        if self._sockets and not any(id(ws) in self._shard_of for ws in self._sockets):
            return [self._sockets[-1]]
        return []

    def _socket_for(self, guild_id: int) -> web.WebSocketResponse | None:
        """The newest session's socket of the shard that owns the server, if connected."""
        owners = self._sockets_for(guild_id)
        return owners[-1] if owners else None

    def shard_connected(self, guild_id: int) -> bool:
        """Whether the shard that owns the server is connected now."""
        return self._socket_for(guild_id) is not None

    async def _dispatch(self, event: str, data: dict, guild_id: int | None = None) -> bool:
        """To the socket of the shard that owns the guild; False when no connected shard
        owns it (Discord would deliver it to nobody)."""
        if not self._sockets:
            raise RuntimeError("the bot is not connected to the gateway")
        delivered = False
        for ws in self._sockets_for(guild_id or self.guild_id):
            if ws.closed:
                continue
            try:
                await self._dispatch_to(ws, event, data)
            except (ConnectionResetError, RuntimeError):  # a session going away
                continue
            delivered = True
        return delivered

    # --- REST -----------------------------------------------------------------------

    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + unquote(request.match_info["tail"])
        body: Any = None
        if request.content_type == "application/json":
            body = await request.json()
        elif request.content_type.startswith("multipart/"):
            form = await request.post()
            raw = form.get("payload_json")
            body = json.loads(raw) if isinstance(raw, str) else None
        with self.lock:
            self.calls.append(Call(request.method, path, body))
        parts = path.strip("/").split("/")
        method = request.method
        try:
            with self.lock:  # a test's wait reads the state a route changes, never half of it
                result = self._route(method, parts, body or {}, dict(request.query))
        except KeyError as exc:
            return self._json({"message": f"Unknown {exc}", "code": 10008}, 404)
        if parts[-1:] == ["callback"] and self.lose_next_answer:
            # The callback was taken, but its answer never reaches the bot.
            lost, self.lose_next_answer = self.lose_next_answer, ""
            if lost == "502":
                return self._json({"message": "502: Bad Gateway", "code": 0}, 502)
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=204)
        if result is None:
            return web.Response(status=204)
        status, payload = result
        return self._json(payload, status)

    # --- the CDN: attachments behind signed, expiring URLs --------------------------

    @property
    def cdn_base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @staticmethod
    def _signature(path: str, expires: int, issued: int) -> str:
        signed = f"{path}?ex={expires:x}&is={issued:x}".encode()
        return hmac.new(CDN_KEY, signed, hashlib.sha256).hexdigest()

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        """As Discord's CDN: an attachment URL carries its expiry (``ex``, hex seconds),
        when it was signed (``is``) and a signature (``hm``); an expired or altered URL
        answers 404 "This content is no longer available."."""
        gone = web.Response(status=404, text="This content is no longer available.")
        try:
            expires, issued = int(request.query["ex"], 16), int(request.query["is"], 16)
        except (KeyError, ValueError):
            return gone
        expected = self._signature(request.path, expires, issued)
        if not hmac.compare_digest(expected, request.query.get("hm", "")):
            return gone
        if time.time() > expires:
            return gone
        stored = self.files.get(int(request.match_info["id"]))
        if stored is None:
            return gone
        self.cdn_reads.append(request.path)
        body, kind = stored
        return web.Response(body=body, headers={"Content-Type": kind})

    def upload(
        self,
        path: Path,
        *,
        filename: str | None = None,
        content_type: str | None = "",
        voice: bool = False,
        duration_s: float | None = None,
        expires_s: float = 86400.0,
        guild_id: int | None = None,
    ) -> dict:
        """An attachment as Discord describes it (``filename``, ``size``,
        ``content_type``, a signed ``url`` on the CDN; a voice message's ``duration_secs``
        and ``waveform``). ``content_type=''``: guessed from the name, as Discord does;
        None: Discord gave none."""
        name = filename or path.name
        if content_type == "":
            content_type = mimetypes.guess_type(name)[0]
        attachment_id = self.next_id()
        channel = self.channel_ids[guild_id or self.guild_id]
        url_path = f"/attachments/{channel}/{attachment_id}/{name}"
        issued = int(time.time())
        expires = int(issued + expires_s)
        signature = self._signature(url_path, expires, issued)
        query = f"?ex={expires:x}&is={issued:x}&hm={signature}&"
        body = path.read_bytes()
        self.files[attachment_id] = (body, content_type or "application/octet-stream")
        attachment: dict[str, Any] = {
            "id": str(attachment_id),
            "filename": name,
            "size": len(body),
            "url": self.cdn_base + url_path + query,
            "proxy_url": self.cdn_base + url_path + query,
        }
        if content_type:
            attachment["content_type"] = content_type
        if voice:
            attachment["duration_secs"] = duration_s
            attachment["waveform"] = "AAAAAAAAAAAA"
            attachment["flags"] = 0
        return attachment

    @staticmethod
    def _json(payload: Any, status: int = 200) -> web.Response:
        return web.Response(
            status=status,
            body=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
        )

    def _route(
        self, method: str, parts: list[str], body: dict, query: dict[str, str] | None = None
    ) -> tuple[int, Any] | None:
        query = query or {}
        match method, parts:
            case "GET", ["users", "@me"]:
                return 200, self.bot_user()
            case "GET", ["gateway", "bot"]:
                return 200, {
                    "url": self.gateway_url,
                    "shards": self.shards,
                    "session_start_limit": {
                        "total": 1000,
                        "remaining": 999,
                        "reset_after": 86_400_000,
                        "max_concurrency": 16,
                    },
                }
            case "GET", ["gateway"]:
                return 200, {"url": self.gateway_url}
            case "GET", ["oauth2", "applications", "@me"]:
                return 200, self.application()
            case "PUT", ["applications", _, "commands"] | [
                "applications",
                _,
                "guilds",
                _,
                "commands",
            ]:
                guild = parts[3] if len(parts) == 5 else None
                self.command_scopes[guild] = [
                    {
                        **c,
                        "id": str(self.next_id()),
                        "application_id": str(self.app_id),
                        "version": "1",
                        "guild_id": guild,
                        "default_member_permissions": c.get("default_member_permissions"),
                        "type": c.get("type", 1),
                        "description": c.get("description", ""),
                        "options": c.get("options", []),
                    }
                    for c in body
                ]
                self.commands = [c for scope in self.command_scopes.values() for c in scope]
                return 200, self.command_scopes[guild]
            case "GET", ["applications", _, "commands"] | [
                "applications",
                _,
                "guilds",
                _,
                "commands",
            ]:
                return 200, self.command_scopes.get(parts[3] if len(parts) == 5 else None, [])
            case "POST", ["interactions", interaction_id, _, "callback"]:
                return self._callback(int(interaction_id), body)
            case (("GET" | "PATCH" | "DELETE"), ["webhooks", _, token, "messages", message]):
                return self._webhook_message(method, token, message, body)
            case "POST", ["webhooks", _, token]:
                interaction = self._by_token(token)
                loading = self.messages.get(interaction.get("original") or 0)
                if loading is not None and int(loading["flags"]) & LOADING:
                    # As Discord: a follow-up right after a deferral edits the "thinking"
                    # message instead, and keeps its ephemeral flag, whatever is asked.
                    return self._webhook_message("PATCH", token, "@original", body)
                message = self._message(body, interaction=interaction)
                interaction.setdefault("followups", []).append(int(message["id"]))
                return 200, message
            case "PUT", ["channels", _, "messages", message_id, "reactions", emoji, "@me"]:
                message = self.messages[int(message_id)]
                if int(message["flags"]) & EPHEMERAL:  # not in the channel: no reactions
                    return 404, {"message": "Unknown Message", "code": 10008}
                message.setdefault("bot_reactions", []).append(emoji)
                self._reacted(int(message_id), emoji, self.bot_id, True)
                return None
            case "DELETE", ["channels", _, "messages", message_id, "reactions", emoji, "@me"]:
                self.messages[int(message_id)].setdefault("bot_reactions", []).remove(emoji)
                self._reacted(int(message_id), emoji, self.bot_id, False)
                return None
            case "GET", ["channels", _, "messages", message_id]:
                message = self.messages.get(int(message_id))
                if message is None or message.get("deleted") or int(message["flags"]) & EPHEMERAL:
                    return 404, {"message": "Unknown Message", "code": 10008}
                self.rest_reads += 1
                return 200, {**message, "reactions": self._reaction_summary(int(message_id))}
            case "GET", ["channels", _, "messages", message_id, "reactions", emoji]:
                self.rest_reads += 1
                who = sorted(self.reactions.get(int(message_id), {}).get(emoji, set()))
                after = int(query.get("after", "0") or 0)
                limit = int(query.get("limit", "25") or 25)
                return 200, [self._user(u) for u in who if u > after][:limit]
        return 404, {"message": f"fake Discord has no route {method} /{'/'.join(parts)}", "code": 0}

    def _by_token(self, token: str) -> dict:
        for interaction in self.interactions.values():
            if interaction["token"] == token:
                return interaction
        raise KeyError("Webhook")

    def _callback(self, interaction_id: int, body: dict) -> tuple[int, dict]:
        interaction = self.interactions[interaction_id]
        if interaction["responses"]:  # as Discord: one response per interaction
            return 400, {"message": "Interaction has already been acknowledged.", "code": 40060}
        interaction["responses"].append(body)
        kind = body.get("type")
        data = body.get("data") or {}
        if kind == 7 and interaction.get("message"):  # update the clicked message
            target = self.messages[int(interaction["message"]["id"])]
            for key in ("content", "embeds", "components"):
                if key in data:
                    target[key] = data[key] or ([] if key != "content" else "")
        if kind in (4, 5):
            flags = int(data.get("flags") or 0)
            message = self._message(
                {**data, "flags": flags | (LOADING if kind == 5 else 0)}, interaction=interaction
            )
            interaction["original"] = int(message["id"])
        return 200, {
            "interaction": {
                "id": str(interaction_id),
                "type": 2,
                "activity_instance_id": None,
                "response_message_id": str(interaction.get("original") or ""),
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(int(data.get("flags") or 0) & 64),
            },
            "resource": {
                "type": kind,
                **({"message": self.messages[interaction["original"]]} if kind == 4 else {}),
            },
        }

    def _webhook_message(
        self, method: str, token: str, message: str, body: dict
    ) -> tuple[int, Any] | None:
        interaction = self._by_token(token)
        message_id = interaction.get("original") if message == "@original" else int(message)
        if message_id is None or self.messages.get(message_id, {"deleted": True}).get("deleted"):
            raise KeyError("Message")
        if method == "DELETE":
            self.messages[message_id]["deleted"] = True
            return None
        if method == "PATCH":
            current = self.messages[message_id]
            for key in ("content", "embeds", "components"):
                if key in body:
                    current[key] = body[key] or ([] if key != "content" else "")
            current["flags"] = int(current.get("flags", 0)) & ~LOADING
            current["edited_timestamp"] = _now_iso()
        return 200, self.messages[message_id]

    # --- driving it from a test (thread-safe) ---------------------------------------

    def _run(self, coroutine: Any, timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def visible_commands(self, member: Member, guild_id: int | None = None) -> set[str]:
        """The commands a member sees in a server's command list, as Discord decides it
        without per-server overrides: global and that server's own, less those whose
        default_member_permissions the member lacks."""
        guild = str(guild_id or self.guild_id)
        granted = int(member.member()["permissions"])
        seen = set()
        for command in self.command_scopes.get(None, []) + self.command_scopes.get(guild, []):
            needed = command.get("default_member_permissions")
            wanted = int(needed) if needed is not None else None  # 0: administrators only
            if wanted is None or granted & 8 or (wanted and wanted & granted == wanted):
                seen.add(command["name"])
        return seen

    def command_id(self, name: str) -> str:
        for command in self.commands:
            if command["name"] == name:
                return command["id"]
        raise KeyError(f"command /{name} was not synced")

    def interaction(
        self, member: Member, name: str, guild_id: int | None = None, **options: Any
    ) -> dict:
        """A member runs /name with options in a server (default: the first); returns
        the interaction record. Raises if no connected shard owns that server. A name of
        two words is a group's subcommand ("catalog add"), sent as Discord nests it."""
        typed: list[dict] = []
        files: dict[str, dict] = {}
        for key, value in options.items():
            if isinstance(value, dict):  # an attachment (from ``upload``)
                files[value["id"]] = value
                typed.append({"name": key, "type": 11, "value": value["id"]})
            else:
                kind = 5 if isinstance(value, bool) else 4 if isinstance(value, int) else 3
                typed.append({"name": key, "type": kind, "value": value})
        guild_id = guild_id or self.guild_id
        name, _, sub = name.partition(" ")
        if sub:
            typed = [{"name": sub, "type": 1, "options": typed}]
        data: dict[str, Any] = {
            "id": self.command_id(name),
            "name": name,
            "type": 1,
            "options": typed,
            "guild_id": str(guild_id),
        }
        if files:
            data["resolved"] = {"attachments": files}
        return self._send_interaction(self._base(member, 2, data, guild_id))

    def autocomplete(
        self, member: Member, name: str, option: str, typed: str, **others: Any
    ) -> list[dict]:
        """A member types ``typed`` into option ``option`` of /name (with ``others``
        already filled): the choices the bot offers (callback type 8), as Discord asks."""
        typed_options = [
            {"name": key, "type": 3, "value": value} for key, value in others.items()
        ] + [{"name": option, "type": 3, "value": typed, "focused": True}]
        data = {
            "id": self.command_id(name),
            "name": name,
            "type": 1,
            "options": typed_options,
            "guild_id": str(self.guild_id),
        }
        record = self._send_interaction(self._base(member, 4, data))
        answered = self.wait_for(lambda: record["responses"], 10, f"choices for {option}")
        assert answered[0]["type"] == 8, answered
        return answered[0]["data"]["choices"]

    def _base(self, member: Member, kind: int, data: dict, guild_id: int | None = None) -> dict:
        interaction_id = self.next_id()
        guild_id = guild_id or self.guild_id
        return {
            "id": str(interaction_id),
            "application_id": str(self.app_id),
            "type": kind,
            "token": f"token-{interaction_id}",
            "version": 1,
            "data": data,
            "guild_id": str(guild_id),
            "channel_id": str(self.channel_ids[guild_id]),
            "channel": self.channel(guild_id),
            "member": member.member(),
            "app_permissions": "1071698660929",
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(guild_id)},
            "context": 0,
            "attachment_size_limit": 8 * 1024 * 1024,
        }

    def _send_interaction(self, payload: dict) -> dict:
        record = {**payload, "id": int(payload["id"]), "responses": []}
        with self.lock:
            self.interactions[record["id"]] = record
        guild_id = int(payload["guild_id"])
        if not self._run(self._dispatch("INTERACTION_CREATE", payload, guild_id)):
            raise RuntimeError(f"no connected shard serves guild {guild_id}")
        return record

    def post(
        self,
        author: Member,
        content: str,
        embeds: list[dict] | None = None,
        guild_id: int | None = None,
        attachments: list[dict] | None = None,
    ) -> dict:
        """A member's message in a server's channel (default: the first server), for
        message commands, with embeds and attachments (from ``upload``) if given. A
        voice message is one voice attachment and no text: it carries IS_VOICE_MESSAGE."""
        message = self._message({"content": content, "embeds": embeds or []}, guild_id=guild_id)
        message["author"] = author.user()
        message["webhook_id"] = None
        message["attachments"] = attachments or []
        if any("duration_secs" in a for a in message["attachments"]):
            message["flags"] = IS_VOICE_MESSAGE
        return message

    def message_command(self, member: Member, name: str, message: dict) -> dict:
        """A member right-clicks ``message`` and picks Apps > ``name`` (in its server)."""
        guild_id = int(message.get("guild_id") or self.guild_id)
        data = {
            "id": self.command_id(name),
            "name": name,
            "type": 3,
            "target_id": message["id"],
            "guild_id": str(guild_id),
            "resolved": {"messages": {message["id"]: message}},
        }
        return self._send_interaction(self._base(member, 2, data, guild_id))

    def click(self, member: Member, message: dict, custom_id: str) -> dict:
        """A member presses a button on ``message`` (in its server)."""
        data = {"custom_id": custom_id, "component_type": 2}
        payload = self._base(member, 3, data, int(message.get("guild_id") or self.guild_id))
        payload["message"] = message
        return self._send_interaction(payload)

    def public_reply(self, record: dict, reactions: int = 0) -> list[dict] | None:
        """The messages an interaction's answer posted for the whole channel, once its
        private "thinking…" is gone and the first has ``reactions`` of the bot's own;
        None until then (and for an answer only the member sees)."""
        original = self.messages.get(record.get("original") or 0)
        posted = [self.messages[m] for m in record.get("followups", [])]
        public = [m for m in posted if not int(m["flags"]) & EPHEMERAL]
        if not public or original is None or not original.get("deleted"):
            return None
        if len(public[0].get("bot_reactions", [])) < reactions:
            return None
        return public

    def private_answer(self, record: dict) -> str | None:
        """What an interaction's answer told the member alone, if that is how it ended."""
        original = self.messages.get(record.get("original") or 0)
        if original is None or original.get("deleted") or int(original["flags"]) & LOADING:
            return None
        if int(original["flags"]) & EPHEMERAL and original["content"]:
            return original["content"]
        return None

    def _reacted(self, message_id: int, emoji: str, user: int, add: bool) -> None:
        users = self.reactions.setdefault(message_id, {}).setdefault(emoji, set())
        (users.add if add else users.discard)(user)

    def _reaction_summary(self, message_id: int) -> list[dict]:
        return [
            {
                "emoji": {"id": None, "name": emoji},
                "count": len(users),
                "count_details": {"burst": 0, "normal": len(users)},
                "me": self.bot_id in users,
                "me_burst": False,
                "burst_me": False,
                "burst_colors": [],
            }
            for emoji, users in self.reactions.get(message_id, {}).items()
            if users
        ]

    def _user(self, user_id: int) -> dict:
        if user_id == self.bot_id:
            return self.bot_user()
        return Member(user_id, f"member{user_id}").user()

    def react(self, member: Member, message_id: int, emoji: str, add: bool = True) -> None:
        """A member reacts; while the bot is offline, Discord keeps the reaction and no
        event reaches the bot (it must read the reaction back when it returns)."""
        self._reacted(message_id, emoji, member.id, add)
        if not self._sockets:
            return
        known = self.messages.get(message_id)
        guild_id = int(known["guild_id"]) if known and known.get("guild_id") else self.guild_id
        data = {
            "user_id": str(member.id),
            "channel_id": str(self.channel_ids[guild_id]),
            "message_id": str(message_id),
            "guild_id": str(guild_id),
            "emoji": {"id": None, "name": emoji},
            "type": 0,
            "burst": False,
            "burst_colors": [],
            "message_author_id": str(self.bot_id),
        }
        if add:
            data["member"] = member.member()
        self._run(  # while the server's shard is offline, no event reaches anyone
            self._dispatch(
                "MESSAGE_REACTION_ADD" if add else "MESSAGE_REACTION_REMOVE", data, guild_id
            )
        )

    def reconnect(self, guild_id: int | None = None) -> None:
        """Ask the bot to reconnect (op 7), as Discord does; it should RESUME. With
        ``guild_id``, the shard that owns that server; otherwise the last connection."""

        async def send() -> None:
            ws = self._socket_for(guild_id) if guild_id else self._sockets[-1]
            if ws is None:
                raise RuntimeError(f"no connected shard serves guild {guild_id}")
            await self._send(ws, {"op": 7, "d": None})

        self._run(send())

    def wait_for(
        self, predicate: Callable[[], Any], timeout: float = 60.0, what: str = "the bot"
    ) -> Any:
        """The predicate's first true value. ``timeout`` only guards against a hang: it
        returns as soon as the bot has done what is awaited, and every wait in the tests is
        many times what that takes on an idle machine."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                value = predicate()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")

    def connected(self) -> bool:
        return bool(self._sockets)
