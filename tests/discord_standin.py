"""A stand-in for Discord on 127.0.0.1: REST v10 and the gateway, for the unmodified client.

discord.py is pointed here by two class attributes (``Route.BASE`` and
``DiscordWebSocket.DEFAULT_GATEWAY``); everything else is the real client. The
stand-in keeps what Discord would: guilds with a text channel and a Moderator
role, users, messages, threads, attachments (served over HTTP here), and every
REST request the bot makes, so tests act as users (``say``, ``slash``,
``context_menu``, ``click``) and assert on what the bot sent.

Pitfalls it copies from Discord (see the discord.py source): JSON only when
Content-Type is exactly ``application/json``; ``/gateway`` and ``/gateway/``;
zlib-stream frames; heartbeat ACKs; a thread started from a message has that
message's id; interaction callbacks carry no Authorization.

Message content, as Discord gives it to a bot without the Message Content
intent (``as_bot_sees``): ``content``, ``embeds``, ``attachments`` and
``components`` are empty unless the bot is in the message's ``mentions`` (an
``<@id>`` in the text, or a reply with its ping on), the message is the bot's
own, or it is in a DM. ``referenced_message`` is blanked by the same rule
applied to that message, and so is a message read over REST. A message
command (Find sources) does carry its target's content. DMs (a channel of
type 1, no guild) reach the bot only with the Direct Messages intent.

Deferral: after a type-5 callback, the first follow-up edits the "thinking"
message, which keeps the deferral's visibility whatever flags the follow-up
carries (``visible_in`` lists what everyone in a channel saw).

Sharding, as Discord does it: every gateway websocket is one session of one
shard, ``[id, count]`` from IDENTIFY (``[0, 1]`` without one; an id outside the
count closes with 4010). A session's READY and GUILD_CREATEs hold only its
shard's guilds, and every event goes to the session of the shard that owns its
guild, ``(guild_id >> 22) % count``; events without a guild (DMs) go to shard 0.
``deliveries`` records where each event went (shard None: no connected session
owns it, so it is dropped, as Discord drops it). ``shard_count`` places guild n on
shard ``n % shard_count``; ``/gateway/bot`` recommends ``recommended_shards``. A
session whose websocket dropped keeps its events until the bot RESUMEs it (op 6):
they are replayed, then RESUMED.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

BODY = web.RequestKey("body", object)
GUILD_MESSAGES = 1 << 9
DIRECT_MESSAGES = 1 << 12
MESSAGE_CONTENT = 1 << 15
PRIVILEGED = (1 << 1) | (1 << 8) | MESSAGE_CONTENT
"""Server Members, Presence and Message Content: switched on per bot in the portal."""
EPHEMERAL = 64
_MENTION = re.compile(r"<@!?(\d+)>")
_GUILD_IS_ID = frozenset({"GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE"})
"""Events whose data is the guild itself: its ``id`` is the guild's."""
_ids = itertools.count(int(time.time() * 1000 - 1420070400000) << 22)


def snowflake() -> str:
    """A new unique Discord id."""
    return str(next(_ids))


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime())


@dataclass
class Captured:
    """One REST request the bot made."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str] = field(default_factory=dict)
    files: list[dict[str, Any]] = field(default_factory=list)
    at: float = field(default_factory=time.perf_counter)
    """When the request arrived (benchmarks measure reply latency from it)."""


@dataclass
class Guild:
    id: str
    name: str
    channel_id: str
    mod_role_id: str


def shard_of(guild_id: str | None, shard_count: int) -> int:
    """The shard that receives a guild's events (Discord's rule); shard 0 for DMs."""
    return 0 if guild_id is None else (int(guild_id) >> 22) % shard_count


def snowflake_on(shard: int, shard_count: int) -> str:
    """A new unique id whose guild would land on ``shard``: its timestamp moved on by the
    few milliseconds that takes, so it still reads as an id made just now."""
    made = next(_ids)
    stamp = made >> 22
    stamp += (shard - stamp) % shard_count
    return str(stamp << 22 | made & ((1 << 22) - 1))


@dataclass(frozen=True)
class Delivery:
    """One gateway event as the stand-in handed it out."""

    shard: int | None
    """The shard whose session got it; None when no connected session owns it (dropped)."""
    event: str
    data: dict[str, Any]


@dataclass
class _Wire:
    """One gateway websocket, with its own zlib-stream context (if it asked for one)."""

    ws: web.WebSocketResponse
    zlib: Any

    @property
    def closed(self) -> bool:
        return self.ws.closed

    async def send(self, payload: dict[str, Any]) -> None:
        raw = json.dumps(payload)
        if self.zlib is not None:
            await self.ws.send_bytes(self.zlib.compress(raw.encode())
                                     + self.zlib.flush(zlib.Z_SYNC_FLUSH))
        else:
            await self.ws.send_str(raw)


@dataclass
class Session:
    """One shard's gateway session; a RESUME moves it to a new websocket."""

    shard_id: int
    shard_count: int
    session_id: str
    wire: _Wire
    seq: int = 0
    ready: bool = False
    missed: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """Events for this shard while its websocket was down, replayed on RESUME."""

    def owns(self, guild_id: str | None) -> bool:
        """Whether this shard receives the events of that guild (None: a DM)."""
        return shard_of(guild_id, self.shard_count) == self.shard_id


class DiscordStandin:
    """Discord's REST API and gateway for one bot, several guilds and a few people."""

    def __init__(self, token: str = "standin.bot.token", guilds: int = 2,
                 shard_count: int = 1, recommended_shards: int | None = None) -> None:
        """``shard_count``: guild n gets an id on shard ``n % shard_count``;
        ``recommended_shards`` (default: ``shard_count``) is what ``/gateway/bot`` says."""
        self.token = token
        self.app_id = snowflake()
        self.bot_user = self._user("citebot", bot=True, uid=self.app_id)
        self.alice = self._user("alice")
        self.bob = self._user("bob")
        self.guilds = [Guild(snowflake_on(n % shard_count, shard_count), f"Guild {n}",
                             snowflake(), snowflake()) for n in range(guilds)]
        self.recommended_shards = recommended_shards or shard_count
        self.channel_guild = {g.channel_id: g.id for g in self.guilds}
        self.requests: list[Captured] = []
        self.messages: dict[str, dict[str, Any]] = {}
        self.attachments: dict[str, bytes] = {}
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.interactions: dict[str, dict[str, Any]] = {}
        self.dm_channels: dict[str, str] = {}
        """User id -> the id of their DM channel with the bot."""
        self.deferred: dict[str, str] = {}
        """Interaction token -> its "thinking" message, until the first follow-up edits it."""
        self.identify: dict[str, Any] | None = None
        """The last IDENTIFY's payload (any shard's)."""
        self.sessions: dict[int, Session] = {}
        """Shard id -> its latest session (identified; its websocket may have dropped)."""
        self.deliveries: list[Delivery] = []
        """Every event sent on the gateway, with the shard it went to, in order."""
        self.heartbeats = 0
        self.enabled_intents = PRIVILEGED
        """The privileged intents switched on in the "portal"; asking for another closes
        the gateway with 4014, as Discord does."""
        self.missing_permissions: set[str] = set()
        """Channels where the bot may not post or start threads: 403, code 50013."""
        self.without_commands_scope: set[str] = set()
        """Guilds the bot was invited to without the applications.commands scope: registering
        commands there is refused with 403, code 50001, as in any guild the bot is not in."""
        self.hold_posts: asyncio.Event | None = None
        """When set to an unset event, the bot's channel posts wait for it before landing."""
        self._cond = asyncio.Condition()
        self._wires: list[_Wire] = []
        self._ready = asyncio.Event()
        """Set once any session is ready (READY and its GUILD_CREATEs sent)."""
        self._runner: web.AppRunner | None = None
        self.port = 0

    @staticmethod
    def _user(name: str, bot: bool = False, uid: str | None = None) -> dict[str, Any]:
        return {"id": uid or snowflake(), "username": name, "discriminator": "0",
                "global_name": name.title(), "avatar": None, "bot": bot, "flags": 0}

    @property
    def guild(self) -> Guild:
        """The first guild (most tests need one)."""
        return self.guilds[0]

    # --- server ---------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(middlewares=[self._capture], client_max_size=64 * 1024 * 1024)
        r = app.router
        r.add_get("/gateway", self._gateway)
        r.add_get("/gateway/", self._gateway)
        r.add_get("/attachments/{aid}/{name}", self._attachment)
        api = "/api/v10"
        r.add_get(api + "/users/@me", self._static(lambda: self.bot_user))
        r.add_post(api + "/users/@me/channels", self._open_dm)
        r.add_get(api + "/oauth2/applications/@me", self._app_info)
        r.add_get(api + "/gateway", self._static(lambda: {"url": self.ws_url}))
        r.add_get(api + "/gateway/bot", self._static(lambda: {
            "url": self.ws_url, "shards": self.recommended_shards, "session_start_limit": {
                "total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}}))
        r.add_post(api + "/channels/{cid}/messages", self._create_message)
        r.add_get(api + "/channels/{cid}/messages/{mid}", self._get_message)
        r.add_patch(api + "/channels/{cid}/messages/{mid}", self._edit_message)
        r.add_post(api + "/channels/{cid}/messages/{mid}/threads", self._create_thread)
        r.add_put(api + "/channels/{cid}/messages/{mid}/reactions/{emoji}/@me", self._react)
        r.add_post(api + "/interactions/{iid}/{token}/callback", self._callback)
        r.add_post(api + "/webhooks/{app}/{token}", self._followup)
        r.add_patch(api + "/webhooks/{app}/{token}/messages/{mid}", self._edit_original)
        r.add_put(api + "/applications/{app}/commands", self._sync)
        r.add_put(api + "/applications/{app}/guilds/{gid}/commands", self._sync)
        r.add_route("*", api + "/{tail:.*}", self._unknown)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def close(self) -> None:
        for wire in self._wires:
            if not wire.closed:
                await wire.ws.close()
        if self._runner:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    def _static(self, make: Callable[[], Any]) -> Any:
        async def handler(_: web.Request) -> web.Response:
            return self._json(make())
        return handler

    @staticmethod
    def _json(data: Any, status: int = 200) -> web.Response:
        # discord.py parses JSON only when the Content-Type is exactly this.
        return web.Response(body=json.dumps(data).encode(), status=status,
                            headers={"Content-Type": "application/json"})

    @web.middleware
    async def _capture(self, request: web.Request, handler: Any) -> web.StreamResponse:
        api = request.path.startswith("/api/")
        tokened = "/interactions/" in request.path or "/webhooks/" in request.path
        needs_auth = api and not tokened
        if needs_auth and request.headers.get("Authorization") != f"Bot {self.token}":
            return self._json({"message": "401: Unauthorized", "code": 0}, status=401)
        body: Any = None
        files: list[dict[str, Any]] = []
        if request.can_read_body:
            if request.content_type == "multipart/form-data":
                form = await request.post()
                body = json.loads(str(form["payload_json"])) if "payload_json" in form else {}
                for key, value in form.items():
                    if key != "payload_json" and hasattr(value, "file"):
                        files.append({"field": key, "filename": value.filename,
                                      "size": len(value.file.read())})
            else:
                body = await request.json()
        request[BODY] = body
        if api:
            async with self._cond:
                self.requests.append(Captured(request.method, request.path[len("/api/v10"):],
                                              dict(request.query), body, dict(request.headers),
                                              files))
                self._cond.notify_all()
        return await handler(request)

    async def wait_for(self, predicate: Callable[[Captured], bool], *, start: int = 0,
                       timeout: float = 30.0) -> Captured:
        """The first request (from index ``start``) that matches, waiting for it if needed."""
        def find() -> Captured | None:
            return next((c for c in self.requests[start:] if predicate(c)), None)

        async with self._cond:
            await asyncio.wait_for(self._cond.wait_for(find), timeout)
            found = find()
            assert found is not None
            return found

    async def wait_sent(self, channel_id: str, *, start: int = 0,
                        timeout: float = 30.0) -> Captured:
        """The next message the bot posts in a channel (or thread)."""
        return await self.wait_for(
            lambda c: c.method == "POST" and c.path == f"/channels/{channel_id}/messages",
            start=start, timeout=timeout)

    async def response(self, interaction: dict[str, Any], timeout: float = 60.0
                       ) -> tuple[Captured, Captured | None]:
        """The bot's callback to an interaction and, when it deferred, its follow-up."""
        iid, token = interaction["id"], interaction["token"]
        callback = await self.wait_for(
            lambda c: c.method == "POST" and c.path.startswith(f"/interactions/{iid}/"),
            timeout=timeout)
        if callback.json["type"] != 5:
            return callback, None
        followup = await self.wait_for(
            lambda c: c.method == "POST" and c.path == f"/webhooks/{self.app_id}/{token}",
            timeout=timeout)
        return callback, followup

    def sent_by_bot(self) -> list[Captured]:
        """Every message-bearing request the bot made (for checks over all of them)."""
        return [c for c in self.requests if c.method in ("POST", "PATCH") and isinstance(
            c.json, dict) and ("/messages" in c.path or "/webhooks/" in c.path
                               or "/callback" in c.path)]

    def visible_in(self, channel_id: str) -> list[dict[str, Any]]:
        """The bot's messages everyone in a channel saw (ephemeral ones left out), in order."""
        return [m for m in self.messages.values() if m["channel_id"] == channel_id
                and m["author"]["id"] == self.app_id and not m["flags"] & EPHEMERAL]

    # --- what the bot may read ------------------------------------------------------------

    @property
    def intents(self) -> int:
        """The intents the bot identified with (none before it connects)."""
        return int(self.identify["intents"]) if self.identify else 0

    def _readable(self, msg: dict[str, Any]) -> bool:
        """Discord's rule: the bot reads a message's content only with the Message Content
        intent, or if it is mentioned, or the message is its own, or it is in a DM."""
        return bool(self.intents & MESSAGE_CONTENT
                    or msg["author"]["id"] == self.app_id
                    or any(m["id"] == self.app_id for m in msg.get("mentions") or [])
                    or msg["channel_id"] in self.dm_channels.values())

    def as_bot_sees(self, msg: dict[str, Any]) -> dict[str, Any]:
        """A message as Discord hands it to the bot (gateway and REST alike)."""
        seen = dict(msg)
        if not self._readable(msg):
            seen.update(content="", embeds=[], attachments=[], components=[])
        if isinstance(msg.get("referenced_message"), dict):
            seen["referenced_message"] = self.as_bot_sees(msg["referenced_message"])
        return seen

    def dm_channel(self, user: dict[str, Any]) -> str:
        """The id of a person's DM channel with the bot (opened on first use)."""
        if user["id"] not in self.dm_channels:
            self.dm_channels[user["id"]] = snowflake()
        return self.dm_channels[user["id"]]

    def _dm_payload(self, user: dict[str, Any]) -> dict[str, Any]:
        return {"id": self.dm_channel(user), "type": 1, "recipients": [user],
                "last_message_id": None, "flags": 0}

    # --- REST -----------------------------------------------------------------------------

    async def _app_info(self, _: web.Request) -> web.Response:
        return self._json({"id": self.app_id, "name": "citebot", "description": "", "icon": None,
                           "bot_public": False, "bot_require_code_grant": False,
                           "owner": self.alice, "verify_key": "00", "flags": 0, "team": None,
                           "summary": ""})

    def _message(self, body: dict[str, Any], author: dict[str, Any], channel_id: str,
                 **extra: Any) -> dict[str, Any]:
        msg = {"id": snowflake(), "channel_id": channel_id, "author": author,
               "content": body.get("content") or "", "timestamp": now_iso(),
               "edited_timestamp": None, "tts": False, "mention_everyone": False,
               "mentions": [], "mention_roles": [], "attachments": [],
               "embeds": body.get("embeds") or [], "pinned": False, "type": 0,
               "flags": body.get("flags") or 0, "components": body.get("components") or []}
        if channel_id in self.channel_guild:  # a DM has no guild_id key at all
            msg["guild_id"] = self.channel_guild[channel_id]
        msg.update(extra)
        self.messages[msg["id"]] = msg
        return msg

    def _forbidden(self, channel_id: str) -> web.Response | None:
        if channel_id in self.missing_permissions:
            return self._json({"message": "Missing Permissions", "code": 50013}, status=403)
        return None

    async def _create_message(self, request: web.Request) -> web.Response:
        if refused := self._forbidden(request.match_info["cid"]):
            return refused
        if self.hold_posts is not None:
            await self.hold_posts.wait()
        body = request[BODY]
        extra: dict[str, Any] = {}
        ref = body.get("message_reference")
        if ref and str(ref.get("message_id")) in self.messages:  # discord.py sends ints
            ref = {k: str(v) if k.endswith("_id") else v for k, v in ref.items()}
            extra = {"type": 19, "message_reference": ref,
                     "referenced_message": self.messages[ref["message_id"]]}
        msg = self._message(body, self.bot_user, request.match_info["cid"], **extra)
        event = self.as_bot_sees(msg)
        if "guild_id" in msg:
            event["member"] = self._member(self.bot_user)
        await self.dispatch("MESSAGE_CREATE", event)
        return self._json(self.as_bot_sees(msg))

    async def _get_message(self, request: web.Request) -> web.Response:
        msg = self.messages.get(request.match_info["mid"])
        if msg is None or msg["channel_id"] != request.match_info["cid"]:
            return self._json({"message": "Unknown Message", "code": 10008}, status=404)
        return self._json(self.as_bot_sees(msg))

    async def _edit_message(self, request: web.Request) -> web.Response:
        msg = self.messages[request.match_info["mid"]]
        msg.update({k: v for k, v in request[BODY].items()
                    if k in ("content", "embeds", "components")})
        return self._json(self.as_bot_sees(msg))

    async def _open_dm(self, request: web.Request) -> web.Response:
        rid = str(request[BODY]["recipient_id"])
        user = next((u for u in (self.alice, self.bob) if u["id"] == rid), None)
        if user is None:
            return self._json({"message": "Unknown User", "code": 10013}, status=404)
        return self._json(self._dm_payload(user))

    async def _create_thread(self, request: web.Request) -> web.Response:
        if refused := self._forbidden(request.match_info["cid"]):
            return refused
        thread = await self.start_thread(self.messages[request.match_info["mid"]],
                                         request[BODY]["name"], owner=self.bot_user)
        return self._json(thread)

    async def _react(self, request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def _attachment(self, request: web.Request) -> web.Response:
        data = self.attachments.get(request.match_info["aid"])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")

    async def _callback(self, request: web.Request) -> web.Response:
        body = request[BODY]
        data = body.get("data") or {}
        inter = self.interactions.get(request.match_info["iid"], {})
        resource: dict[str, Any] = {"type": body["type"]}
        msg_id = None
        if body["type"] in (4, 5, 7):
            msg = self._message(data, self.bot_user, inter.get("channel_id", ""),
                                interaction_metadata={"id": request.match_info["iid"], "type": 2,
                                                      "user": self.alice,
                                                      "authorizing_integration_owners": {}})
            msg_id = msg["id"]
            resource["message"] = msg
            if body["type"] == 5:
                self.deferred[request.match_info["token"]] = msg_id
        return self._json({"interaction": {
            "id": request.match_info["iid"], "type": inter.get("type", 2),
            "response_message_id": msg_id, "response_message_loading": body["type"] == 5,
            "response_message_ephemeral": bool((data.get("flags") or 0) & EPHEMERAL)},
            "resource": resource})

    def _by_token(self, token: str) -> dict[str, Any]:
        return next((i for i in self.interactions.values() if i["token"] == token), {})

    def _fill_thinking(self, token: str, body: dict[str, Any], edit: bool = False
                       ) -> dict[str, Any] | None:
        """The deferred "thinking" message, now showing ``body`` (only the parts given when
        ``edit``); its visibility stays."""
        thinking = self.messages.get(self.deferred.pop(token, ""))
        if thinking is None:
            return None
        thinking.update({k: body.get(k) or ("" if k == "content" else [])
                         for k in ("content", "embeds", "components") if k in body or not edit})
        keep = thinking["flags"] & EPHEMERAL
        thinking["flags"] = ((body.get("flags") or 0) & ~EPHEMERAL) | keep
        return thinking

    async def _followup(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        inter = self._by_token(token)
        msg = self._fill_thinking(token, request[BODY]) or self._message(
            request[BODY], self.bot_user, inter.get("channel_id", ""))
        return self._json(msg)

    async def _edit_original(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        inter = self._by_token(token)
        msg = None
        if request.match_info["mid"] == "@original":
            msg = self._fill_thinking(token, request[BODY], edit=True)
        return self._json(msg or self._message(request[BODY], self.bot_user,
                                               inter.get("channel_id", "")))

    async def _sync(self, request: web.Request) -> web.Response:
        scope = request.match_info.get("gid", "global")
        if scope != "global" and (scope not in self.channel_guild.values()
                                  or scope in self.without_commands_scope):
            return self._json({"message": "Missing Access", "code": 50001}, status=403)
        out = [dict({"description": ""}, **cmd, id=snowflake(), application_id=self.app_id,
                    version=snowflake(), **({"guild_id": scope} if scope != "global" else {}))
               for cmd in request[BODY]]
        self.commands[scope] = out
        return self._json(out)

    async def _unknown(self, request: web.Request) -> web.Response:
        return self._json({"message": f"stand-in: no route {request.method} {request.path}",
                           "code": 0}, status=404)

    # --- gateway --------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        wire = _Wire(ws, zlib.compressobj() if request.query.get("compress") == "zlib-stream"
                     else None)
        self._wires.append(wire)
        await wire.send({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            payload = json.loads(msg.data)
            if payload["op"] == 1:
                self.heartbeats += 1
                await wire.send({"op": 11, "d": None, "s": None, "t": None})
            elif payload["op"] in (2, 6):  # IDENTIFY, RESUME
                opened = self._identify if payload["op"] == 2 else self._resume
                if not await opened(wire, payload["d"]):
                    break
        return ws

    async def _identify(self, wire: _Wire, d: dict[str, Any]) -> bool:
        """IDENTIFY: a new session of the shard it names, or the close Discord sends (then
        False)."""
        self.identify = d
        if d["token"] != self.token:
            await wire.ws.close(code=4004, message=b"Authentication failed.")
            return False
        if int(d["intents"]) & PRIVILEGED & ~self.enabled_intents:
            await wire.ws.close(code=4014, message=b"Disallowed intent(s).")
            return False
        shard_id, count = d.get("shard") or (0, 1)
        if not 0 <= shard_id < count:
            await wire.ws.close(code=4010, message=b"Invalid shard.")
            return False
        session = Session(shard_id, count, f"standin-session-{shard_id}-{snowflake()}", wire)
        self.sessions[shard_id] = session
        await self._on_identify(session)
        return True

    async def _resume(self, wire: _Wire, d: dict[str, Any]) -> bool:
        """RESUME: the session moves to this websocket, gets the events it missed, then
        RESUMED. An unknown session is invalidated (op 9), so the bot identifies anew."""
        if d["token"] != self.token:
            await wire.ws.close(code=4004, message=b"Authentication failed.")
            return False
        session = next((s for s in self.sessions.values()
                        if s.session_id == d.get("session_id")), None)
        if session is None:
            await wire.send({"op": 9, "d": False, "s": None, "t": None})
            return True
        session.wire = wire
        missed, session.missed = session.missed, []
        for event, data in missed:
            await self._deliver(session, event, data)
        await self._deliver(session, "RESUMED", {})
        return True

    async def revoke_token(self) -> None:
        """The owner resets the token in the portal: REST answers 401 from now on and every
        gateway session closes with 4004, as Discord does."""
        self.token = "revoked." + snowflake()
        for wire in self._wires:
            if not wire.closed:
                await wire.ws.close(code=4004, message=b"Authentication failed.")

    async def drop(self, shard: int = 0) -> None:
        """One shard's websocket breaks (close code 4000, as when Discord restarts a
        gateway node): the bot should RESUME; that shard's events wait until it does."""
        await self.sessions[shard].wire.ws.close(code=4000, message=b"Unknown error.")

    async def wait_shards(self, count: int, timeout: float = 30.0) -> None:
        """Wait until ``count`` sessions are connected and ready (READY and their guilds
        sent); ``_ready`` is set by the first."""
        def enough() -> bool:
            return sum(s.ready and not s.wire.closed for s in self.sessions.values()) >= count

        async with self._cond:
            await asyncio.wait_for(self._cond.wait_for(enough), timeout)

    def shards_of(self, event: str, **fields: Any) -> list[int | None]:
        """The shards that got each ``event`` whose data has these values, in order
        (None: dropped, no connected session owns it)."""
        return [d.shard for d in self.deliveries if d.event == event
                and all(d.data.get(k) == v for k, v in fields.items())]

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a gateway event to the bot, on the session of the shard that owns its guild
        (shard 0 for DMs). Dropped when no connected session owns it; kept for a RESUME
        when the owner's websocket is down."""
        live = [s for s in self.sessions.values() if not s.wire.closed]
        if not live:
            raise RuntimeError("the bot is not connected")
        guild_id = data.get("guild_id") or (data.get("id") if event in _GUILD_IS_ID else None)
        down = [s for s in self.sessions.values() if s.wire.closed]
        owner = next((s for s in live + down if s.owns(guild_id)), None)
        if owner is None:
            self.deliveries.append(Delivery(None, event, data))
        elif owner.wire.closed:
            owner.missed.append((event, data))
        else:
            await self._deliver(owner, event, data)

    async def _deliver(self, session: Session, event: str, data: dict[str, Any]) -> None:
        session.seq += 1
        self.deliveries.append(Delivery(session.shard_id, event, data))
        await session.wire.send({"op": 0, "t": event, "s": session.seq, "d": data})

    @staticmethod
    def _member(user: dict[str, Any], roles: list[str] | None = None) -> dict[str, Any]:
        return {"roles": roles or [], "joined_at": now_iso(), "deaf": False, "mute": False,
                "flags": 0, "nick": None, "avatar": None, "pending": False}

    def _guild_payload(self, g: Guild) -> dict[str, Any]:
        everyone = {"id": g.id, "name": "@everyone", "permissions": str(0x400 | 0x800 | 0x10000),
                    "position": 0, "color": 0, "hoist": False, "managed": False,
                    "mentionable": False, "flags": 0}
        mod = dict(everyone, id=g.mod_role_id, name="Moderator", position=1,
                   permissions=str(0x2000))
        channel = {"id": g.channel_id, "type": 0, "guild_id": g.id, "name": "general",
                   "position": 0, "permission_overwrites": [], "nsfw": False, "parent_id": None,
                   "topic": None, "last_message_id": None, "rate_limit_per_user": 0}
        members = [dict(self._member(u), user=u) for u in (self.bot_user, self.alice, self.bob)]
        return {"id": g.id, "name": g.name, "icon": None, "owner_id": self.alice["id"],
                "roles": [everyone, mod], "channels": [channel], "threads": [],
                "members": members, "member_count": len(members), "large": False,
                "unavailable": False, "emojis": [], "stickers": [], "features": [],
                "voice_states": [], "presences": [], "stage_instances": [],
                "guild_scheduled_events": [], "soundboard_sounds": [], "joined_at": now_iso(),
                "verification_level": 0, "default_message_notifications": 0,
                "explicit_content_filter": 0, "mfa_level": 0, "premium_tier": 0,
                "preferred_locale": "en-US", "nsfw_level": 0, "system_channel_flags": 0,
                "afk_timeout": 300, "max_members": 500000}

    async def _on_identify(self, session: Session) -> None:
        """READY with this shard's guilds (unavailable), then a GUILD_CREATE for each."""
        guilds = [g for g in self.guilds if session.owns(g.id)]
        await self._deliver(session, "READY", {
            "v": 10, "user": self.bot_user,
            "guilds": [{"id": g.id, "unavailable": True} for g in guilds],
            "session_id": session.session_id, "resume_gateway_url": self.ws_url,
            "application": {"id": self.app_id, "flags": 0},
            "shard": [session.shard_id, session.shard_count],
            "private_channels": [], "relationships": [], "user_settings": {}, "presences": [],
            "geo_ordered_rtc_regions": []})
        for g in guilds:
            await self._deliver(session, "GUILD_CREATE", self._guild_payload(g))
        session.ready = True
        self._ready.set()
        async with self._cond:
            self._cond.notify_all()

    # --- people acting --------------------------------------------------------------------

    async def say(self, content: str, *, user: dict[str, Any] | None = None,
                  guild: Guild | None = None, channel_id: str | None = None,
                  mention_bot: bool = False, reply_to: dict[str, Any] | None = None,
                  ping: bool = True, dm: bool = False) -> dict[str, Any]:
        """A person posts a message; a mention of the bot is added in front when asked.

        A reply pings its author unless ``ping`` is off (Discord's client has it on by
        default; people often switch it off). ``dm`` sends it to the bot in a DM instead,
        which reaches the bot only if it asked for the Direct Messages intent. The bot
        gets the message as ``as_bot_sees`` shows it; the full message is returned.
        """
        user = user or self.alice
        guild = guild or self.guild
        channel_id = self.dm_channel(user) if dm else channel_id or guild.channel_id
        if mention_bot:
            content = f"<@{self.app_id}> {content}"
        people = {u["id"]: u for u in (self.bot_user, self.alice, self.bob)}
        mentions = [people[uid] for uid in dict.fromkeys(_MENTION.findall(content))
                    if uid in people]
        extra: dict[str, Any] = {}
        if reply_to is not None:
            extra.update(type=19, referenced_message=reply_to, message_reference=dict(
                {"message_id": reply_to["id"], "channel_id": reply_to["channel_id"]},
                **({} if dm else {"guild_id": guild.id})))
            if ping and reply_to["author"]["id"] not in {m["id"] for m in mentions}:
                mentions.append(reply_to["author"])
        msg = self._message({"content": content}, user, channel_id, mentions=mentions, **extra)
        if not self.intents & (DIRECT_MESSAGES if dm else GUILD_MESSAGES):
            return msg  # Discord sends no messages of a kind the bot did not ask for
        event = self.as_bot_sees(msg)
        if not dm:
            event["member"] = self._member(user)
        await self.dispatch("MESSAGE_CREATE", event)
        return msg

    async def start_thread(self, message: dict[str, Any], name: str,
                           owner: dict[str, Any] | None = None) -> dict[str, Any]:
        """A thread started from a message: it takes the message's id, as on Discord."""
        guild_id = self.channel_guild[message["channel_id"]]
        thread = {"id": message["id"], "type": 11, "guild_id": guild_id,
                  "parent_id": message["channel_id"], "owner_id": (owner or self.alice)["id"],
                  "name": name[:100], "last_message_id": None, "rate_limit_per_user": 0,
                  "message_count": 0, "member_count": 1, "flags": 0,
                  "thread_metadata": {"archived": False, "auto_archive_duration": 1440,
                                      "archive_timestamp": now_iso(), "locked": False}}
        self.channel_guild[thread["id"]] = guild_id
        await self.dispatch("THREAD_CREATE", dict(thread, newly_created=True))
        return thread

    async def react(self, message: dict[str, Any], emoji: str,
                    user: dict[str, Any] | None = None) -> None:
        """Someone adds a reaction to a message."""
        user = user or self.alice
        guild_id = self.channel_guild[message["channel_id"]]
        await self.dispatch("MESSAGE_REACTION_ADD", {
            "user_id": user["id"], "channel_id": message["channel_id"],
            "message_id": message["id"], "guild_id": guild_id,
            "emoji": {"id": None, "name": emoji}, "member": dict(self._member(user), user=user),
            "burst": False, "type": 0, "message_author_id": message["author"]["id"]})

    def attach(self, filename: str, data: bytes, size: int | None = None) -> dict[str, Any]:
        """An uploaded file, served from here like Discord's CDN (``size`` may claim more)."""
        aid = snowflake()
        self.attachments[aid] = data
        url = f"http://127.0.0.1:{self.port}/attachments/{aid}/{filename}"
        return {"id": aid, "filename": filename, "size": len(data) if size is None else size,
                "url": url, "proxy_url": url, "content_type": "application/octet-stream"}

    def _interaction(self, itype: int, data: dict[str, Any], *, user: dict[str, Any] | None,
                     guild: Guild | None, permissions: int = 0, roles: list[str] | None = None,
                     message: dict[str, Any] | None = None, channel_id: str | None = None
                     ) -> dict[str, Any]:
        user = user or self.alice
        guild = guild or self.guild
        channel_id = channel_id or guild.channel_id
        inter = {"id": snowflake(), "application_id": self.app_id, "type": itype, "data": data,
                 "token": "itok-" + snowflake(), "version": 1, "guild_id": guild.id,
                 "channel_id": channel_id,
                 "channel": {"id": channel_id, "type": 0, "guild_id": guild.id,
                             "name": "general", "position": 0, "permission_overwrites": []},
                 "member": dict(self._member(user, roles), user=user,
                                permissions=str(permissions)),
                 "app_permissions": str((1 << 53) - 1), "locale": "en-US",
                 "guild_locale": "en-US", "entitlements": [],
                 "authorizing_integration_owners": {"0": guild.id}, "context": 0,
                 "attachment_size_limit": 25 * 1024 * 1024}
        if message is not None:
            inter["message"] = message
        self.interactions[inter["id"]] = inter
        return inter

    async def slash(self, name: str, options: list[dict[str, Any]] | None = None, *,
                    user: dict[str, Any] | None = None, guild: Guild | None = None,
                    resolved: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        """Someone runs a slash command (a group's subcommand is an option of type 1)."""
        data: dict[str, Any] = {"id": snowflake(), "name": name, "type": 1,
                                "options": options or []}
        if resolved:
            data["resolved"] = resolved
        inter = self._interaction(2, data, user=user, guild=guild, **kw)
        await self.dispatch("INTERACTION_CREATE", inter)
        return inter

    async def context_menu(self, name: str, target: dict[str, Any], *,
                           user: dict[str, Any] | None = None, guild: Guild | None = None,
                           **kw: Any) -> dict[str, Any]:
        """Someone runs a message command (Apps → name) on a message."""
        data = {"id": snowflake(), "name": name, "type": 3, "target_id": target["id"],
                "resolved": {"messages": {target["id"]: dict(target, content=target["content"])}}}
        inter = self._interaction(2, data, user=user, guild=guild, **kw)
        await self.dispatch("INTERACTION_CREATE", inter)
        return inter

    async def click(self, message: dict[str, Any], custom_id: str, *,
                    user: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        """Someone clicks a button under a message."""
        guild = next((g for g in self.guilds if g.id == message.get("guild_id")), None)
        inter = self._interaction(3, {"custom_id": custom_id, "component_type": 2},
                                  message=message, user=user, guild=guild,
                                  channel_id=message["channel_id"], **kw)
        await self.dispatch("INTERACTION_CREATE", inter)
        return inter
