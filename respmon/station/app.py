"""`respmon station`: wires a ward — a link per bed (station.beds), the ward's state
(station.ward), the journal (station.journal, on one worker thread), the web app (station.web) —
on one asyncio loop. SIGHUP reads the config again (beds added or removed without a restart);
SIGTERM stops cleanly.

The journal never holds an alarm back: a change reaches the browsers first and is journaled next;
an alert event whose write failed is kept and written again (bounded). An operator's action is
the other way round: it is journaled first and only then applied and answered 200.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import zmq
import zmq.asyncio
from aiohttp import web

from respmon.alerts.engine import iso_utc
from respmon.daemon.notify import Notifier
from respmon.errors import UsageError
from respmon.publish.security import ClientSecurity, keys_folder, load_key_pair, load_public_key
from respmon.station import auth
from respmon.station.beds import BedEndpoint, BedLink
from respmon.station.config import journal_url, load_station_config, resolve
from respmon.station.journal import event_wall, open_journal
from respmon.station.ward import Alarm, Change, Verdict, Ward

log = logging.getLogger("respmon.station")

COMPACT_EVERY_S = 3600.0
MAX_PENDING_EVENTS = 100_000  # alert events waiting for a journal that is down
MAX_PENDING_VITALS = 64 * 3600  # an hour of a 64-bed ward's seconds
JOURNAL_LOG_EVERY = 100
WATCHDOG_EVERY_S = 5.0
ENDED_UNHEARD = "ended while the station was not listening (the bed's snapshot)"


def bed_endpoints(config: SimpleNamespace, config_path: Path | None) -> list[BedEndpoint]:
    """Each configured bed with its CURVE settings: the station's key pair (keys.dir/CLIENT.key_secret)
    and the bed's public key (keys.dir/BED.key). KeyFileError (one line) when one is missing."""
    folder = keys_folder(config.keys.dir, Path(config_path) if config_path else None)
    client = None
    beds = []
    for bed in config.beds:
        security = None
        if not bed.insecure:
            client = client or load_key_pair(folder / f"{config.keys.client}.key_secret")
            security = ClientSecurity(client, load_public_key(folder / f"{bed.name}.key"))
        beds.append(BedEndpoint(bed.name, bed.endpoint, bed.snapshot_endpoint, security))
    return beds


class Sessions:
    """Operator sessions: kept in the journal (a restart keeps everyone logged in), cached here. A
    session lasts sessions.idle_min after its last request (an open ward page keeps it alive) and
    never longer than sessions.max_h after the login."""

    TOUCH_EVERY_S = 60.0

    def __init__(self, station: Station):
        self.station = station
        self.cache: dict[str, object] = {}

    def _expiry(self, created: float, now: float) -> float:
        s = self.station.config.sessions
        return min(created + s.max_h * 3600, now + s.idle_min * 60)

    async def create(self, operator: str) -> str:
        token, csrf, now = auth.new_token(), auth.new_token(), time.time()
        await self.station.db(self.station.journal.create_session, auth.token_hash(token), operator, csrf, now,
                              self._expiry(now, now))
        return token

    async def get(self, token_hash: str, keep_alive: bool = True):
        session = self.cache.get(token_hash)
        if session is None:
            session = await self.station.db(self.station.journal.session, token_hash)
            if session is None:
                return None
            self.cache[token_hash] = session
        now = time.time()
        if now >= session.expires_wall:
            await self.delete(token_hash)
            return None
        if keep_alive and now - session.last_seen_wall >= self.TOUCH_EVERY_S:
            session.last_seen_wall = now
            session.expires_wall = self._expiry(session.created_wall, now)
            try:
                known = await self.station.db(self.station.journal.touch_session, token_hash, now,
                                              session.expires_wall)
            except Exception as exc:  # the journal is down: the session held here stays good
                self.station._journal_failed("keeping a session alive", exc)
            else:
                if not known:  # ended elsewhere (`respmon station user disable`): not held here either
                    self.cache.pop(token_hash, None)
                    return None
        return session

    async def delete(self, token_hash: str) -> None:
        self.cache.pop(token_hash, None)
        await self.station.db(self.station.journal.delete_session, token_hash)


class Station:
    def __init__(self, config: SimpleNamespace, config_path: Path | None, journal):
        self.config = config
        self.config_path = config_path
        self.journal = journal
        self.tls = bool(config.station.tls_cert)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")
        self.ward = Ward([b.name for b in config.beds], config.alarms.latch, config.alarms.audio_pause_s)
        self.sessions = Sessions(self)
        from respmon.station.web import WebApp  # the web edge imports this module's type

        self.web = WebApp(self)
        self.context = zmq.asyncio.Context()
        self.links: dict[str, tuple[BedLink, asyncio.Task]] = {}
        self.pending_events: list[tuple] = []
        self.pending_vitals: list[tuple] = []
        self.journal_failures = 0
        self.stop_event: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.reload_wanted = False
        self.tasks: list[asyncio.Task] = []
        self.notifier = Notifier()

    # -- the journal's worker thread -----------------------------------------------------------------------
    async def db(self, method, *args):
        return await asyncio.get_running_loop().run_in_executor(self.executor, method, *args)

    def _journal_failed(self, what: str, exc: Exception) -> None:
        self.journal_failures += 1
        if self.journal_failures == 1 or self.journal_failures % JOURNAL_LOG_EVERY == 0:
            log.error("journal: %s failed (%d so far): %s", what, self.journal_failures, exc,
                      extra={"event": "journal.failed"})

    async def journal_action(self, action: str, operator: str, bed: str | None = None,
                             alarm_id: str | None = None, detail: dict | None = None) -> bool:
        try:
            await self.db(self.journal.record_action, time.time(), operator, action, bed, alarm_id, detail)
            return True
        except Exception as exc:  # the database is down: the caller says the action was not recorded
            self._journal_failed(f"recording {action}", exc)
            return False

    async def _write_pending(self) -> None:
        """Alert events and vitals waiting for the journal, written in order."""
        events, self.pending_events = self.pending_events, []
        vitals, self.pending_vitals = self.pending_vitals, []
        try:
            if events:
                await self.db(self._record_events, events)
            if vitals:
                await self.db(self.journal.add_vitals, vitals)
        except Exception as exc:
            self._journal_failed("writing alert events and vitals", exc)
            self.pending_events = (events + self.pending_events)[-MAX_PENDING_EVENTS:]
            self.pending_vitals = (vitals + self.pending_vitals)[-MAX_PENDING_VITALS:]

    def _record_events(self, events: list[tuple]) -> None:
        for bed, event, t_wall, received in events:
            self.journal.record_alert(bed, event, t_wall, received)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.journal.vitals_flush_s)
            await self._write_pending()

    async def _compact_loop(self) -> None:
        while True:
            j = self.config.journal
            try:
                await self.db(self.journal.compact, time.time(), j.keep_1s_h * 3600, j.keep_days * 86400)
            except Exception as exc:
                self._journal_failed("compacting", exc)
            await asyncio.sleep(COMPACT_EVERY_S)

    async def _watchdog_loop(self) -> None:
        """systemd's watchdog: WATCHDOG=1 while this loop turns (one that hangs stops every bed's alarms)."""
        while True:
            self.notifier.watchdog()
            await asyncio.sleep(WATCHDOG_EVERY_S)

    # -- from the beds -------------------------------------------------------------------------------------
    def _apply(self, changes: list[Change]) -> None:
        for change in changes:
            self.web.broadcast(change.event, change.data)

    def bed_message(self, bed: str, kind: str, msg: dict) -> None:
        now = time.time()
        if self.ward.beds[bed].link != "up":
            self.bed_link(bed, "up", None)  # journals the end of its bed_silent alarms, if any
        if kind == "alert":
            self._apply(self.ward.alert(msg, now))
            self.pending_events.append((bed, msg, event_wall(msg) or msg["time"], now))
            asyncio.get_running_loop().create_task(self._write_pending())
        elif kind == "vitals":
            self._apply(self.ward.vitals(msg, now))
            self.pending_vitals.append((bed, msg["time"], msg.get("rr_bpm"), msg.get("state"), msg.get("quality")))
        else:
            self._apply(self.ward.heartbeat(msg, now))

    def bed_snapshot(self, bed: str, snap: dict, alerts_current: bool) -> None:
        now = time.time()
        if alerts_current:
            before = [a for a in self.ward.alarms.values() if a.bed == bed and a.source == "bed" and a.active]
            self._apply(self.ward.snapshot(snap, now))
            for alarm in before:
                if not alarm.active:  # it ended while the station was not listening: the journal says so
                    self.pending_events.append((bed, station_event(alarm, "clear", ENDED_UNHEARD), now, now))
        elif isinstance(snap.get("vitals"), dict):
            self._apply(self.ward.vitals({**snap["vitals"], "bed": bed, "time": snap["time"]}, now, trend=False))
        for alert in snap["alerts"]:
            # an onset the station missed (it was down) is journaled from the snapshot, once
            self.pending_events.append((bed, {**alert, "time": snap["time"]}, event_wall(alert) or snap["time"], now))
        if snap["alerts"]:
            asyncio.get_running_loop().create_task(self._write_pending())

    def bed_link(self, bed: str, link: str, reason: str | None) -> None:
        now = time.time()
        before = {a.id for a in self.ward.alarms.values() if a.bed == bed and a.source == "station" and a.active}
        changes = self.ward.link(bed, link, reason, now)
        self._apply(changes)
        log.log(logging.WARNING if link == "silent" else logging.INFO, "bed %s: %s%s", bed, link,
                f" ({reason})" if reason else "", extra={"bed": bed, "event": f"bed.{link}"})
        for alarm in [a for a in self.ward.alarms.values() if a.bed == bed and a.source == "station"]:
            if alarm.active and alarm.id not in before:
                self.pending_events.append((bed, station_event(alarm, "onset", reason), now, now))
        for alarm_id in before:
            alarm = self.ward.alarms.get((bed, alarm_id))
            if alarm is None or not alarm.active:
                event = station_event(alarm, "clear", "the bed is heard again") if alarm else {
                    "id": alarm_id, "event": "clear", "bed": bed, "condition": "bed_silent", "kind": "technical",
                    "priority": "medium", "onset": iso_utc(now), "source": "station"}
                self.pending_events.append((bed, event, now, now))
        asyncio.get_running_loop().create_task(self._write_pending())

    # -- from the operators --------------------------------------------------------------------------------
    async def check_password(self, username: str, password: str) -> bool:
        user = await self.db(self.journal.user, username)
        stored, disabled = user if user is not None else (auth.DUMMY_HASH, True)
        ok = await asyncio.get_running_loop().run_in_executor(None, auth.verify_password, password, stored)
        return ok and not disabled

    async def acknowledge(self, bed: str, alarm_id: str, operator: str) -> dict | None:
        if not await self.journal_action("acknowledge", operator, bed, alarm_id,
                                         {"audio_pause_s": self.config.alarms.audio_pause_s}):
            return None
        alarm = self.ward.find(bed, alarm_id)
        if alarm is None:  # it cleared and went while the journal wrote
            return {"id": alarm_id, "bed": bed, "acknowledged_by": operator}
        view = self.ward.alarm_view(alarm) | {"acknowledged_by": operator}
        self._apply(self.ward.acknowledge(bed, alarm_id, operator, time.time()))
        alarm = self.ward.find(bed, alarm_id)
        return self.ward.alarm_view(alarm) if alarm is not None else {**view, "latched": False}

    async def alarm_known(self, bed: str, alarm_id: str) -> bool:
        if self.ward.find(bed, alarm_id) is not None:
            return True
        return bool(await self.db(self.journal.alarm_exists, bed, alarm_id))

    async def record_verdict(self, bed: str, alarm_id: str, verdict: Verdict) -> dict | None:
        detail = {"verdict": verdict.verdict, "pattern": verdict.pattern, "note": verdict.note}
        if not await self.journal_action("verdict", verdict.operator, bed, alarm_id, detail):
            return None
        self._apply(self.ward.record_verdict(bed, alarm_id, verdict, time.time()))
        alarm = self.ward.find(bed, alarm_id)
        if alarm is not None:
            return self.ward.alarm_view(alarm)
        return {"id": alarm_id, "bed": bed, "verdict": detail | {"operator": verdict.operator, "at": verdict.at}}

    async def bed_alarms(self, bed: str, since: float, until: float) -> list[dict]:
        records = await self.db(self.journal.alarms, bed, since, until)
        views = {r.alarm_id: record_view(r, self.config.alarms.audio_pause_s) for r in records}
        for alarm in self.ward.alarms.values():
            if alarm.bed == bed:
                views[alarm.id] = self.ward.alarm_view(alarm)
        return sorted(views.values(), key=lambda v: v["onset"], reverse=True)

    async def report_png(self, bed: str, since_h: float) -> bytes:
        from respmon.station.report import render_report

        until = time.time()
        return await self.db(render_report, self.journal, bed, until - since_h * 3600, until, "png")

    # -- lifecycle -----------------------------------------------------------------------------------------
    def _start_links(self, endpoints: list[BedEndpoint]) -> None:
        c = self.config.station
        for bed in endpoints:
            link = BedLink(bed, self.context, self, c.heartbeat_timeout_s, c.snapshot_timeout_s)
            self.links[bed.name] = (link, asyncio.get_running_loop().create_task(link.run()))

    async def _stop_link(self, name: str) -> None:
        link, task = self.links.pop(name)
        link.stop()
        try:
            await asyncio.wait_for(task, 2.0)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            task.cancel()

    async def reload(self) -> None:
        try:
            config = load_station_config(self.config_path)
            endpoints = bed_endpoints(config, self.config_path)
        except UsageError as exc:
            log.error("reload refused, the running config stays: %s", exc, extra={"event": "config.refused"})
            return
        old = {b.name: b for b in self.config.beds}
        new = {b.name: b for b in config.beds}
        # A bed taken off the ward takes its alarms off the page: never one no nurse has seen.
        unseen = self.ward.unacknowledged([n for n in old if n not in new])
        if unseen:
            listed = ", ".join(f"{a.condition} on {a.bed}" for a in unseen[:5]) + (" ..." if len(unseen) > 5 else "")
            log.error("reload refused, the running config stays: beds removed with alarms not acknowledged (%s); "
                      "acknowledge them on the ward page, then reload", listed, extra={"event": "config.refused"})
            return
        changed = [n for n in old if n not in new or vars(old[n]) != vars(new[n])]
        for name in changed:
            await self._stop_link(name)
        self.config = config
        self._apply(self.ward.set_beds([b.name for b in config.beds]))
        self.ward.latch, self.ward.audio_pause_s = config.alarms.latch, config.alarms.audio_pause_s
        self._start_links([e for e in endpoints if e.name not in self.links])
        log.info("config reloaded: %d beds (%d added or changed, %d removed)", len(new),
                 len([n for n in new if n not in old or n in changed]), len([n for n in old if n not in new]),
                 extra={"event": "config.reloaded"})

    def restore(self) -> int:
        """The alarms the journal has open (still on, or latched and not acknowledged): on display
        again at once after a restart; the beds' snapshots then say which are still on."""
        latching = {"high": ("high",), "high_medium": ("high", "medium"), "none": ()}[self.config.alarms.latch]
        records = self.journal.open_alarms(latching=latching)
        for record in records:
            self.ward.restore(record_alarm(record, self.config.alarms.audio_pause_s))
        return len(records)

    def stop(self) -> None:
        """From any thread."""
        if self.loop is not None and self.stop_event is not None:
            self.loop.call_soon_threadsafe(self.stop_event.set)

    async def serve(self, endpoints: list[BedEndpoint], ready=None, signals: bool = True) -> int:
        """Serve until SIGTERM/SIGINT (or stop()); `ready(url)` is called once the page is served."""
        self.stop_event = asyncio.Event()
        self.loop = loop = asyncio.get_running_loop()
        if signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.stop_event.set)
            loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(self.reload()))
        restored = await self.db(self.restore)
        runner = web.AppRunner(self.web.make_app(), access_log=None, handle_signals=False)
        await runner.setup()
        c = self.config.station
        ssl_context = None
        if self.tls:
            ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ssl_context.load_cert_chain(resolve(self.config_path, c.tls_cert), resolve(self.config_path, c.tls_key))
        site = web.TCPSite(runner, c.listen, c.port, ssl_context=ssl_context, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise UsageError(f"cannot listen on {c.listen}:{c.port}: {exc.strerror or exc}") from None
        self._start_links(endpoints)
        self.tasks = [loop.create_task(self._flush_loop()), loop.create_task(self._compact_loop()),
                      loop.create_task(self._watchdog_loop())]
        url = f"{'https' if self.tls else 'http'}://{c.listen}:{site._server.sockets[0].getsockname()[1]}/"
        log.info("station %s serving %s: %d beds, %d alarms restored from the journal", c.name, url,
                 len(endpoints), restored, extra={"event": "station.ready", "url": url})
        self.notifier.ready(f"{len(endpoints)} beds")
        if ready is not None:
            ready(url)
        await self.stop_event.wait()
        self.notifier.stopping()
        for name in list(self.links):
            await self._stop_link(name)
        for task in self.tasks:
            task.cancel()
        await self.web.close_browsers()
        await runner.cleanup()
        await self._write_pending()
        return 0

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.journal.close()
        self.context.term()


def station_event(alarm: Alarm, event: str, reason: str | None) -> dict:
    """An event the station journals itself (its own bed_silent alarms; the end of an alarm it
    learnt from a snapshot), shaped as a bed's alert event."""
    return {"type": "alert", "event": event, "id": alarm.id, "bed": alarm.bed, "condition": alarm.condition,
            "pattern": None, "kind": alarm.kind, "priority": alarm.priority, "t": None, "onset_t": None,
            "onset": iso_utc(alarm.onset), "confidence": None, "rr_bpm": None, "evidence": {},
            "model_version": None, "source": alarm.source, **({"reason": reason} if reason else {})}


def record_alarm(record, audio_pause_s: float) -> Alarm:
    """A journal record as the ward's Alarm."""
    verdict = record.verdict
    body = record.body if isinstance(record.body, dict) else {}
    return Alarm(id=record.alarm_id, bed=record.bed, condition=record.condition, kind=record.kind,
                 priority=record.priority, onset=record.onset_wall,
                 source="station" if body.get("source") == "station" else "bed",
                 cleared=record.cleared_wall, rr_bpm=body.get("rr_bpm"), confidence=body.get("confidence"),
                 model_version=body.get("model_version"), acknowledged_by=record.acknowledged_by,
                 acknowledged_at=record.acknowledged_at,
                 silenced_until=record.acknowledged_at + audio_pause_s if record.acknowledged_at else None,
                 verdict=Verdict(verdict["verdict"], verdict.get("pattern"), verdict.get("note", ""),
                                 verdict["operator"], verdict["at"]) if verdict else None)


def record_view(record, audio_pause_s: float) -> dict:
    alarm = record_alarm(record, audio_pause_s)
    return alarm.view(latches=False)


def run(args) -> int:
    from respmon.logs import setup_logging

    config = load_station_config(args.config)
    setup_logging(config.log.level)
    endpoints = bed_endpoints(config, args.config)
    journal = open_journal(journal_url(config, args.config))
    station = Station(config, args.config, journal)
    try:
        return asyncio.run(station.serve(endpoints))
    finally:
        station.close()
