"""A local Dunya server that answers like dunya.compmusic.upf.edu, for the builder's tests and the rehearsals.

What it reproduces of the real service (MTG/dunya, read from its public code, not copied): Django REST framework's
token authentication (``Authorization: Token ...``; a bad token gets 401 ``{"detail": "Invalid token."}``), query
strings ignored on detail endpoints (the official ``compmusic`` client appends ``?extra_headers=None`` for Carnatic
and Hindustani), ``LimitOffsetPagination`` on list endpoints (``count/next/previous/results``, 100 per page),
``<uuid>`` URL converters (a malformed id is a 404), the three recording serializers (makam: flat ``artists`` and
``performers``; Carnatic, Hindustani: ``artists`` nesting ``artist``), and the docserver's ``by-id/<mbid>/mp3``
(and ``<mbid>.mp3``), which answers 401 "Not logged in" for a recording the account may not download. It can also
answer 429 a given number of times before serving a path, as a rate limiter does.
"""

import json
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, Iterable, Optional, Sequence, Tuple

PAGE_SIZE = 100  # REST_FRAMEWORK["PAGE_SIZE"] in dunya/settings.py
TRADITIONS = ("makam", "carnatic", "hindustani")


def _uuid(*parts) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(map(str, parts))))


def _named(kind, name, **extra):
    return {"uuid": _uuid(kind, name), "name": name, **extra}


def _entity(kind, name, key="name"):
    return {"mbid": _uuid(kind, name), key: name}


def makam_recording(mbid: str, title: str, makams: Sequence[str] = (), usuls: Sequence[str] = (),
                    performers: Sequence[Tuple[str, str]] = ()) -> dict:
    """makam ``RecordingDetailSerializer``: flat ``artists`` ``{mbid, name}`` and ``performers``
    ``{mbid, name, instrument: {mbid, name}}``; ``makamlist`` and ``usullist`` as ``{uuid, name}``."""
    return {"mbid": mbid, "title": title,
            "releases": [_entity("release", f"Album of {title}", "title")],
            "performers": [{**_entity("artist", name), "instrument": _entity("instrument", instrument)}
                           for name, instrument in performers],
            "works": [_entity("work", title, "title")],
            "artists": [_entity("artist", name) for name, _ in performers[:1]],
            "makamlist": [_named("makam", m) for m in makams], "usullist": [_named("usul", u) for u in usuls]}


def _performances(performers):
    return [{"artist": _entity("artist", name), "instrument": _entity("instrument", instrument) if instrument else None,
             "lead": k == 0, "attributes": ""} for k, (name, instrument) in enumerate(performers)]


def carnatic_recording(mbid: str, title: str, ragas: Sequence[str] = (), talas: Sequence[str] = (),
                       forms: Sequence[str] = (), performers: Sequence[Tuple[str, str]] = (),
                       length_ms: int = 300000) -> dict:
    """Carnatic ``RecordingDetailSerializer``: ``artists`` nest ``{artist: {mbid, name}, instrument, lead,
    attributes}``; ``raaga``/``taala`` ``{uuid, name, common_name}``; ``form`` ``{name}``."""
    return {"mbid": mbid, "title": title, "length": length_ms, "artists": _performances(performers),
            "raaga": [_named("raaga", r, common_name=r) for r in ragas],
            "taala": [_named("taala", t, common_name=t) for t in talas],
            "form": [{"name": f} for f in forms], "work": [_entity("work", title, "title")],
            "concert": [_entity("concert", f"Concert of {title}", "title")],
            "album_artists": [_entity("artist", name) for name, _ in performers[:1]]}


def hindustani_recording(mbid: str, title: str, ragas: Sequence[str] = (), talas: Sequence[str] = (),
                         forms: Sequence[str] = (), performers: Sequence[Tuple[str, str]] = (),
                         length_ms: int = 600000) -> dict:
    """Hindustani ``RecordingDetailSerializer``: nested ``artists`` as Carnatic; ``raags``/``taals``/``layas``/
    ``forms`` as ``{uuid, common_name, name}``; ``release`` ``{mbid, title}``."""
    return {"mbid": mbid, "title": title, "length": length_ms, "artists": _performances(performers),
            "raags": [_named("raag", r, common_name=r) for r in ragas],
            "taals": [_named("taal", t, common_name=t) for t in talas], "layas": [],
            "forms": [_named("form", f, common_name=f) for f in forms], "works": [_entity("work", title, "title")],
            "release": [_entity("release", f"Album of {title}", "title")],
            "album_artists": [_entity("artist", name) for name, _ in performers[:1]]}


class FakeDunya:
    """A threaded HTTP server on 127.0.0.1 serving ``recordings[tradition][mbid]`` and ``audio[mbid]``.

    ``no_access``: MBIDs whose mp3 answers 401 "Not logged in"; ``throttle``: request path -> how many 429s come
    before it is served. ``requests`` lists every path asked for (with its query string). Use as a context manager.
    """

    def __init__(self, recordings: Dict[str, Dict[str, dict]], audio: Dict[str, bytes], token: str,
                 no_access: Iterable[str] = (), throttle: Optional[Dict[str, int]] = None, page_size: int = PAGE_SIZE):
        self.recordings = {t: dict(recordings.get(t, {})) for t in TRADITIONS}
        self.audio = dict(audio)
        self.token = token
        self.no_access = set(no_access)
        self.throttle = dict(throttle or {})
        self.page_size = page_size
        self.requests = []
        self._lock = threading.Lock()
        self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # ------------------------------------------------------------------ answers: (status, body, content type)

    def answer(self, raw_path: str, authorization: Optional[str], host: str):
        with self._lock:
            self.requests.append(raw_path)
            split = urllib.parse.urlsplit(raw_path)
            path, query = split.path, urllib.parse.parse_qs(split.query)
            if self.throttle.get(path, 0) > 0:
                self.throttle[path] -= 1
                return 429, b'{"detail": "Request was throttled."}', "application/json", {"Retry-After": "0"}
        token_ok = authorization == f"Token {self.token}"
        parts = path.strip("/").split("/")
        if parts[0] == "document":
            return self._document(parts[1:], token_ok)
        if parts[0] != "api":
            return _not_found_html()
        if authorization is None:
            return _json(401, {"detail": "Authentication credentials were not provided."})
        if not token_ok:
            return _json(401, {"detail": "Invalid token."})
        if len(parts) == 3 and parts[1] in TRADITIONS and parts[2] == "recording":
            return self._recording_list(parts[1], query, host, path)
        if len(parts) == 4 and parts[1] in TRADITIONS and parts[2] == "recording" and _is_uuid(parts[3]):
            record = self.recordings[parts[1]].get(parts[3])
            return _json(200, record) if record is not None else _json(404, {"detail": "Not found."})
        return _not_found_html()

    def _recording_list(self, tradition, query, host, path):
        def number(key, default):
            try:
                return max(0, int(query.get(key, [default])[0]))
            except ValueError:
                return default

        limit, offset = number("limit", self.page_size) or self.page_size, number("offset", 0)
        records = list(self.recordings[tradition].values())
        detail = query.get("detail", [""])[0] == "1"
        results = [r if detail else {"mbid": r["mbid"], "title": r["title"]} for r in records[offset:offset + limit]]

        def page(start):
            if start is None:
                return None
            params = {k: v[0] for k, v in query.items()}
            params.update(limit=str(limit), offset=str(start))
            if start == 0:
                params.pop("offset")
            return f"http://{host}{path}?{urllib.parse.urlencode(params)}"

        return _json(200, {"count": len(records),
                           "next": page(offset + limit if offset + limit < len(records) else None),
                           "previous": page(max(0, offset - limit) if offset > 0 else None), "results": results})

    def _document(self, parts, token_ok):
        mbid = None
        if len(parts) == 3 and parts[0] == "by-id" and parts[2] == "mp3":
            mbid = parts[1]
        elif len(parts) == 2 and parts[0] == "by-id" and parts[1].endswith(".mp3"):
            mbid = parts[1][:-4]
        if mbid is None or not _is_uuid(mbid):
            return _not_found_html()
        known = mbid in self.audio or any(mbid in records for records in self.recordings.values())
        if not known:
            return 404, f"Cannot find a document with id {mbid}".encode(), "text/html; charset=utf-8", {}
        if not token_ok or mbid in self.no_access:
            return 401, b"Not logged in", "text/html; charset=utf-8", {}
        if mbid not in self.audio:
            return 404, b"No file exists of this type", "text/html; charset=utf-8", {}
        return 200, self.audio[mbid], "audio/mpeg", {}


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _json(code, payload):
    return code, json.dumps(payload).encode("utf-8"), "application/json", {}


def _not_found_html():
    return 404, b"<h1>Not Found</h1>", "text/html; charset=utf-8", {}


def _handler(server: FakeDunya):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            code, body, kind, headers = server.answer(self.path, self.headers.get("Authorization"),
                                                      self.headers.get("Host", "127.0.0.1"))
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

    return Handler
