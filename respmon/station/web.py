"""The station's web edge (aiohttp): login, the ward and bed pages, the JSON API and the
Server-Sent Events stream that pushes every change to the browsers (docs/station-api.md).

Every route but the login page and the static files needs a session; every POST needs the
session's CSRF token in `X-CSRF-Token`. A refusal changes nothing and says why in one line.
An operator action is answered 200 only once it is in the journal.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import json
import logging
import math
import time
from collections import OrderedDict
from importlib import resources
from typing import TYPE_CHECKING

from aiohttp import web

from respmon.errors import short_repr
from respmon.station import auth
from respmon.station.journal import JournalError
from respmon.station.ward import Verdict, check_verdict

if TYPE_CHECKING:
    from respmon.station.app import Station

log = logging.getLogger("respmon.station")

SESSION_COOKIE = "respmon_session"
LOGIN_CSRF_COOKIE = "respmon_login_csrf"
PING_S = 15.0
CLIENT_QUEUE = 2000  # changes queued for one browser; a browser that falls further behind is dropped
MAX_BODY = 16 * 1024
# A session's oldest streams make way for its newest: a tab closed without a goodbye, a tablet that
# left the Wi-Fi, or one client opening hundreds must not take the ward's max_browsers from the others.
MAX_STREAMS_PER_SESSION = 8
WRITE_TIMEOUT_S = 60.0  # a browser that reads nothing for this long is disconnected (it reconnects)
PASSWORD_CHECKS = 4  # scrypt checks at once (32 MiB and ~0.1 s each): a login flood cannot take the host
LOGIN_SOURCES = 10_000  # client addresses remembered for the failed-login limit
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
STATION_KEY = web.AppKey("station", object)


def _static(name: str) -> str:
    return resources.files("respmon.station").joinpath("static", name).read_text(encoding="utf-8")


def _finite(value):
    """`value` with every non-finite float (NaN, Infinity: not JSON, a browser's JSON.parse refuses
    the whole document) replaced by null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _dumps(data) -> str:
    """Strict JSON, as browsers parse it: a non-finite number (a bed's hostile or overflowing value)
    is sent as null, never as `Infinity` that would make the page unable to read the ward."""
    try:
        return json.dumps(data, separators=(",", ":"), allow_nan=False)
    except ValueError:
        return json.dumps(_finite(data), separators=(",", ":"), allow_nan=False)


def _json(data, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


def _error(status: int, text: str) -> web.Response:
    return _json({"error": text}, status=status)


def client_address(request: web.Request, trusted_proxy: str) -> str:
    """The address a request came from: the peer's, or, when the peer is the trusted reverse proxy,
    the one it saw (the last X-Forwarded-For entry, which it appends). Behind a proxy every peer is
    the proxy: without this, the failed-login limit per address would be one for the whole station
    again. Anyone else's X-Forwarded-For is not believed (it would dodge the limit)."""
    peer = request.remote or "?"
    if not trusted_proxy or not _same_address(peer, trusted_proxy):
        return peer
    forwarded = request.headers.get("X-Forwarded-For", "")[-200:].rsplit(",", 1)[-1].strip()
    try:
        return str(ipaddress.ip_address(forwarded))
    except ValueError:
        return peer


def _same_address(a: str, b: str) -> bool:
    """Equal addresses, an IPv4 one and its IPv6-mapped form (a dual-stack listener) alike."""
    def plain(text: str):
        address = ipaddress.ip_address(text)
        return getattr(address, "ipv4_mapped", None) or address

    try:
        return plain(a) == plain(b)
    except ValueError:
        return False

class _Unavailable(Exception):
    """The journal cannot tell whether a session is good (it is down)."""


def _html_escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


class Browser:
    """One open event stream: the changes not yet written to it, coalesced. A bed's view is sent
    once however often it changed meanwhile (its latest, after what came before it); an alarm's
    view is replaced where it waits (so it stays before its removal), and dropped once removed.
    A bed that floods the station with messages thus cannot push the other beds' alarms out of a
    browser's queue: what waits is bounded by the beds and the alarms on display, not by the rate."""

    def __init__(self, session, transport=None):
        self.session = session
        self.transport = transport
        self.opened = time.monotonic()
        self.pending: OrderedDict[object, str] = OrderedDict()
        self.wake = asyncio.Event()
        self.closed = False
        self._ids = itertools.count()

    def push(self, event: str, data: dict, text: str) -> bool:
        """False: more than CLIENT_QUEUE changes wait (the caller closes this stream)."""
        if self.closed:
            return True
        if event == "bed":
            key: object = ("bed", data.get("name"))
            self.pending.pop(key, None)
            self.pending[key] = text
        elif event == "alarm":
            self.pending[("alarm", data.get("bed"), data.get("id"))] = text
        else:
            if event == "alarm_removed":
                self.pending.pop(("alarm", data.get("bed"), data.get("id")), None)
            elif event == "bed_removed":
                self.pending.pop(("bed", data.get("name")), None)
            self.pending[next(self._ids)] = text
        self.wake.set()
        return len(self.pending) <= CLIENT_QUEUE

    def close(self, abort: bool = False) -> None:
        """End this stream; abort: at once, even while a write to it waits for the browser."""
        self.closed = True
        self.pending.clear()
        self.wake.set()
        if abort and self.transport is not None and not self.transport.is_closing():
            self.transport.abort()

    async def take(self, timeout_s: float) -> list[str] | None:
        """What waits (after up to timeout_s for something); None once closed."""
        if not self.pending and not self.closed:
            try:
                await asyncio.wait_for(self.wake.wait(), timeout_s)
            except asyncio.TimeoutError:
                pass
        self.wake.clear()
        if self.closed:
            return None
        texts = list(self.pending.values())
        self.pending.clear()
        return texts


def sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {_dumps(data)}\n\n"


class WebApp:
    def __init__(self, station: Station):
        self.station = station
        self.browsers: set[Browser] = set()
        self.failed_logins: dict[str, list[float]] = {}  # client address: its failed logins (last minute)
        self.password_checks = asyncio.Semaphore(PASSWORD_CHECKS)

    # -- plumbing ------------------------------------------------------------------------------------------
    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self.journal_middleware], client_max_size=MAX_BODY)
        app[STATION_KEY] = self.station
        # Every response, streamed ones (the event stream) and aiohttp's own (404, 405, 500) too.
        app.on_response_prepare.append(self._on_prepare)
        r = app.router
        r.add_get("/login", self.login_page)
        r.add_post("/login", self.login)
        r.add_post("/logout", self.logout)
        r.add_get("/", self.ward_page)
        r.add_get("/bed/{name}", self.bed_page)
        r.add_get("/static/{file}", self.static_file)
        r.add_get("/api/ward", self.api_ward)
        r.add_get("/api/events", self.api_events)
        r.add_post("/api/alarms/{bed}/{id}/ack", self.api_ack)
        r.add_post("/api/alarms/{bed}/{id}/verdict", self.api_verdict)
        r.add_get("/api/alarms/{bed}/{id}/signal", self.api_signal)
        r.add_get("/api/beds/{name}", self.api_bed)
        r.add_get("/api/beds/{name}/trend", self.api_trend)
        r.add_get("/api/beds/{name}/report.png", self.api_report)
        return app

    @web.middleware
    async def journal_middleware(self, request: web.Request, handler):
        """A journal that cannot be read or written: 503 and one line, not a 500 and a traceback."""
        try:
            return await handler(request)
        except (JournalError, _Unavailable) as exc:
            log.error("%s %s: the journal failed: %s", request.method, request.path, exc)
            if request.path.startswith("/api/"):
                return _error(503, "the journal cannot be used now: try again")
            return web.Response(status=503, content_type="text/plain",
                                text="The station's journal cannot be used now: try again in a moment.")

    @staticmethod
    async def _on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        for key, value in SECURITY_HEADERS.items():
            if key == "Cache-Control" and request.path.startswith("/static/"):
                continue
            response.headers.setdefault(key, value)

    def broadcast(self, event: str, data: dict) -> None:
        """Never raises: it is called from a bed's link, which an exception here would end."""
        if not self.browsers:
            return
        try:
            text = sse(event, data)
        except Exception:  # noqa: BLE001 - one change not sent; the bed's link goes on
            log.exception("a %s change could not be sent to the browsers", event)
            return
        for browser in list(self.browsers):
            if not browser.push(event, data, text):
                # A browser that stopped reading must not make the station hold its backlog: its
                # stream is ended, and the page re-reads the whole ward when it reconnects.
                log.warning("a browser fell %d changes behind: its stream is closed", CLIENT_QUEUE)
                browser.close(abort=True)

    async def close_browsers(self) -> None:
        for browser in list(self.browsers):
            browser.close()
        self.browsers.clear()

    # -- sessions ------------------------------------------------------------------------------------------
    async def session(self, request: web.Request):
        token = request.cookies.get(SESSION_COOKIE)
        if not token or len(token) > 200:
            return None
        return await self._lookup(auth.token_hash(token))

    async def _lookup(self, token_hash: str):
        """The session, or None; _Unavailable when the journal cannot say. A session this station
        holds stays good while the journal cannot be written (a full disk must not log the nurses
        out of the alarms): Sessions.get already moved its expiry before the write that failed."""
        try:
            return await self.station.sessions.get(token_hash)
        except Exception as exc:  # noqa: BLE001 - JournalError, or the journal's thread is gone
            cached = self.station.sessions.cache.get(token_hash)
            if cached is not None and time.time() < cached.expires_wall:
                return cached
            raise _Unavailable(str(exc)) from None

    async def require(self, request: web.Request, csrf: bool = False):
        session = await self.session(request)
        if session is None:
            raise web.HTTPUnauthorized(text=json.dumps({"error": "not logged in, or the session has expired"}),
                                       content_type="application/json")
        if csrf and not auth.same_token(request.headers.get("X-CSRF-Token"), session.csrf):
            raise web.HTTPForbidden(text=json.dumps({"error": "missing or wrong CSRF token"}),
                                    content_type="application/json")
        return session

    # -- pages ---------------------------------------------------------------------------------------------
    async def login_page(self, request: web.Request, error: str = "", status: int = 200) -> web.Response:
        token = auth.new_token()
        page = _static("login.html").replace("{{csrf}}", token).replace("{{error}}", _html_escape(error))
        page = page.replace("{{station}}", _html_escape(self.station.config.station.name))
        response = web.Response(text=page, content_type="text/html", status=status)
        response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Strict", path="/login",
                            secure=self.station.tls)
        return response

    async def login(self, request: web.Request) -> web.StreamResponse:
        try:
            form = await request.post()
        except (ValueError, web.HTTPException):
            return await self.login_page(request, "the login form could not be read", 400)
        username, password, csrf = form.get("username"), form.get("password"), form.get("csrf")
        if not isinstance(csrf, str) or not auth.same_token(request.cookies.get(LOGIN_CSRF_COOKIE), csrf):
            return await self.login_page(request, "the login form expired: please try again", 403)
        if not isinstance(username, str) or not isinstance(password, str) or len(username) > 64:
            return await self.login_page(request, "wrong user name or password", 401)
        # Failed logins are limited per client address (one that guesses cannot lock every nurse
        # out of the station), and an attempt counts from its start (guesses sent in parallel cannot
        # all slip under the limit before the first of them fails).
        now, source = time.time(), client_address(request, self.station.config.station.trusted_proxy)
        recent = self.failed_logins.setdefault(source, [])
        recent[:] = [t for t in recent if now - t < 60.0]
        if len(recent) >= self.station.config.sessions.login_failures_per_min:
            return await self.login_page(request, "too many failed logins: wait a minute", 429)
        recent.append(now)
        self._forget_login_sources(now)
        try:
            async with self.password_checks:
                ok = await self.station.check_password(username, password)
        except (JournalError, _Unavailable):
            recent.remove(now)
            return await self.login_page(request, "the station cannot check passwords now: try again", 503)
        if not ok:
            await self.station.journal_action("login_failed", operator=short_repr(username, 64).strip("'\""))
            return await self.login_page(request, "wrong user name or password", 401)
        recent.remove(now)
        try:
            token = await self.station.sessions.create(username)
        except JournalError:
            return await self.login_page(request, "the station cannot record a login now: try again", 503)
        await self.station.journal_action("login", operator=username)
        response = web.HTTPSeeOther("/")
        response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Strict", path="/",
                            secure=self.station.tls)
        response.del_cookie(LOGIN_CSRF_COOKIE, path="/login")
        raise response

    def _forget_login_sources(self, now: float) -> None:
        if len(self.failed_logins) > LOGIN_SOURCES:
            for source in [s for s, times in self.failed_logins.items() if not times or now - times[-1] >= 60.0]:
                del self.failed_logins[source]
            while len(self.failed_logins) > LOGIN_SOURCES:
                del self.failed_logins[next(iter(self.failed_logins))]

    async def logout(self, request: web.Request) -> web.StreamResponse:
        session = await self.session(request)
        if session is not None:
            given = request.headers.get("X-CSRF-Token")
            if given is None:
                try:
                    given = (await request.post()).get("csrf")
                except (ValueError, web.HTTPException):
                    given = None
            if not auth.same_token(given if isinstance(given, str) else None, session.csrf):
                return _error(403, "missing or wrong CSRF token")
            try:
                await self.station.sessions.delete(session.token_hash)
            except JournalError as exc:  # gone from this station's cache: logged out here all the same
                log.error("logout: the session could not be deleted from the journal: %s", exc)
            await self.station.journal_action("logout", operator=session.operator)
        response = web.HTTPSeeOther("/login")
        response.del_cookie(SESSION_COOKIE, path="/")
        raise response

    async def _page(self, request: web.Request, name: str) -> web.Response:
        session = await self.session(request)  # _Unavailable: the middleware's 503
        if session is None:
            raise web.HTTPSeeOther("/login")
        return web.Response(text=_static(name).replace("{{csrf}}", session.csrf), content_type="text/html")

    async def ward_page(self, request: web.Request) -> web.Response:
        return await self._page(request, "ward.html")

    async def bed_page(self, request: web.Request) -> web.Response:
        if request.match_info["name"] not in self.station.ward.beds:
            if await self.session(request) is None:
                raise web.HTTPSeeOther("/login")
            return web.Response(status=404, content_type="text/html",
                                text=f"<!doctype html><title>Unknown bed</title><p>Unknown bed "
                                     f"{_html_escape(short_repr(request.match_info['name'], 64))}. "
                                     f"<a href='/'>Back to the ward</a></p>")
        return await self._page(request, "bed.html")

    async def static_file(self, request: web.Request) -> web.Response:
        name = request.match_info["file"]
        types = {".js": "application/javascript", ".css": "text/css"}
        kind = next((t for ext, t in types.items() if name.endswith(ext)), None)
        if kind is None or "/" in name or name.startswith("."):
            raise web.HTTPNotFound()
        try:
            return web.Response(text=_static(name), content_type=kind)
        except (FileNotFoundError, OSError):
            raise web.HTTPNotFound() from None

    # -- API -----------------------------------------------------------------------------------------------
    def _bed(self, request: web.Request, key: str = "name") -> str:
        name = request.match_info[key]
        if name not in self.station.ward.beds:
            raise web.HTTPNotFound(text=json.dumps({"error": f"unknown bed {short_repr(name, 64)}"}),
                                   content_type="application/json")
        return name

    async def api_ward(self, request: web.Request) -> web.Response:
        session = await self.require(request)
        now = time.time()
        return _json({"station": self.station.config.station.name, "operator": session.operator,
                      "csrf": session.csrf, "now": now, "audio_pause_s": self.station.config.alarms.audio_pause_s,
                      **self.station.ward.ward_view(now)})

    async def api_events(self, request: web.Request) -> web.StreamResponse:
        session = await self.require(request)
        if request.method == "HEAD":  # no stream to hold open for a request that reads no body
            return web.Response(content_type="text/event-stream")
        mine = sorted((b for b in self.browsers if b.session.token_hash == session.token_hash and not b.closed),
                      key=lambda b: b.opened)
        for old in mine[:max(0, len(mine) + 1 - MAX_STREAMS_PER_SESSION)]:
            old.close(abort=True)
        if sum(not b.closed for b in self.browsers) >= self.station.config.station.max_browsers:
            return _error(503, "too many open station pages")
        browser = Browser(session, request.transport)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                               "X-Accel-Buffering": "no"})
        await response.prepare(request)
        self.browsers.add(browser)
        try:
            await response.write(b"retry: 2000\n\n" + sse("ping", {"now": time.time()}).encode())
            next_ping = time.monotonic() + PING_S
            while True:
                texts = await browser.take(max(0.0, next_ping - time.monotonic()))
                if texts is None:
                    break
                if time.monotonic() >= next_ping:
                    # every PING_S, however busy the stream: the session is checked (a logged-out or
                    # expired one ends here) and the page's clock offset kept current
                    next_ping = time.monotonic() + PING_S
                    try:
                        alive = await self._lookup(session.token_hash) is not None
                    except _Unavailable:
                        alive = True  # the journal is down: the alarms keep coming
                    if not alive:
                        await response.write(("".join(texts) + sse("session_expired", {})).encode())
                        break
                    texts.append(sse("ping", {"now": time.time()}))
                if texts:
                    await asyncio.wait_for(response.write("".join(texts).encode()), WRITE_TIMEOUT_S)
        except asyncio.TimeoutError:
            log.warning("a browser read nothing for %.0f s: its stream is closed", WRITE_TIMEOUT_S)
            browser.close(abort=True)
        except (ConnectionError, asyncio.CancelledError, RuntimeError):
            pass
        finally:
            browser.closed = True
            self.browsers.discard(browser)
        return response

    async def _alarm_action(self, request: web.Request):
        session = await self.require(request, csrf=True)
        bed = self._bed(request, "bed")
        alarm_id = request.match_info["id"]
        if len(alarm_id) > 64:
            raise web.HTTPNotFound(text=json.dumps({"error": "unknown alarm"}), content_type="application/json")
        return session, bed, alarm_id

    async def api_ack(self, request: web.Request) -> web.Response:
        session, bed, alarm_id = await self._alarm_action(request)
        if self.station.ward.find(bed, alarm_id) is None:
            return _error(404, f"no alarm {short_repr(alarm_id, 64)} on display for {bed}")
        view = await self.station.acknowledge(bed, alarm_id, session.operator)
        if view is None:
            return _error(503, "the journal could not record it: not acknowledged, try again")
        return _json(view)

    async def api_verdict(self, request: web.Request) -> web.Response:
        session, bed, alarm_id = await self._alarm_action(request)
        try:
            body = await request.json()
            verdict, pattern, note = check_verdict(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return _error(400, f"bad verdict: {exc}" if isinstance(exc, ValueError) and str(exc) else "bad verdict")
        except RecursionError:  # [[[[...]]]] nested deeper than Python's JSON reader goes
            return _error(400, "bad verdict: the body must be a JSON object")
        except web.HTTPException:
            return _error(400, "bad verdict: the body is too large")
        if not await self.station.alarm_known(bed, alarm_id):
            return _error(404, f"unknown alarm {short_repr(alarm_id, 64)} for {bed}")
        view = await self.station.record_verdict(bed, alarm_id, Verdict(verdict, pattern, note, session.operator,
                                                                        time.time()))
        if view is None:
            return _error(503, "the journal could not record it: not recorded, try again")
        return _json(view)

    async def api_signal(self, request: web.Request) -> web.Response:
        await self.require(request)
        bed = self._bed(request, "bed")
        signal = await self.station.db(self.station.journal.alarm_signal, bed, request.match_info["id"][:64])
        if signal is None:
            return _error(404, "no breathing signal recorded for this alarm")
        return _json(signal)

    async def api_bed(self, request: web.Request) -> web.Response:
        await self.require(request)
        bed = self._bed(request)
        now = time.time()
        try:
            alarms = await self.station.bed_alarms(bed, now - 24 * 3600, now)
        except JournalError as exc:  # the history cannot be read: what is on display still is
            log.error("bed %s: its alarms could not be read from the journal: %s", bed, exc)
            alarms = sorted((self.station.ward.alarm_view(a) for a in self.station.ward.alarms.values() if a.bed == bed),
                            key=lambda v: v["onset"], reverse=True)
        return _json({"bed": self.station.ward.bed_view(bed, now), "alarms": alarms, "now": now})

    def _range(self, request: web.Request, default_s: float) -> tuple[float, float]:
        now = time.time()
        try:
            until = float(request.query.get("until", now))
            since = float(request.query.get("since", until - default_s))
        except ValueError:
            raise web.HTTPBadRequest(text=json.dumps({"error": "since and until must be epoch seconds"}),
                                     content_type="application/json") from None
        if not (math.isfinite(since) and math.isfinite(until) and since < until and until - since <= 31 * 86400):
            raise web.HTTPBadRequest(text=json.dumps({"error": "since must be before until, at most 31 days apart"}),
                                     content_type="application/json")
        return since, until

    async def api_trend(self, request: web.Request) -> web.Response:
        await self.require(request)
        bed = self._bed(request)
        since, until = self._range(request, 24 * 3600)
        points = await self.station.db(self.station.journal.trend, bed, since, until)
        step = max(1, len(points) // 20000)  # a day of 1 s points is thinned for the browser
        return _json({"points": [list(p) for p in points[::step]], "since": since, "until": until})

    async def api_report(self, request: web.Request) -> web.Response:
        await self.require(request)
        bed = self._bed(request)
        try:
            since_h = float(request.query.get("since_h", "12"))
        except ValueError:
            return _error(400, "since_h must be a number of hours")
        if not (math.isfinite(since_h) and 0 < since_h <= 24 * 31):
            return _error(400, "since_h must be 0 to 744 hours")
        png = await self.station.report_png(bed, since_h)
        return web.Response(body=png, content_type="image/png")
