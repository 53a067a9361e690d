"""A local web server for ingestion tests (127.0.0.1 only) and PDFs made in the test."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

PAGES = Path(__file__).resolve().parent / "data" / "pages"

EMPTY_PAGE = b"<html><head><title>Nothing here</title></head><body><nav>Home</nav></body></html>"


def make_pdf(lines: list[str], title: str = "") -> bytes:
    """A small valid PDF whose one page shows ``lines`` in Helvetica (or a blank page)."""
    ops = ["BT", "/F1 11 Tf", "14 TL", "72 760 Td"]
    for line in lines:
        safe = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        ops.append(f"({safe}) Tj T*")
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1") if lines else b""
    info = f"<< /Title ({title}) >>".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        info,
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


REPORT_LINES = [
    "Water report for the Puno region.",
    "",
    "The water utility of Puno said that the reservoir above the city holds",
    "enough water for ninety days of normal use after a dry summer.",
    "",
    "Engineers will line the main canal with concrete before the next rains.",
]


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        path = url.path
        if path.startswith("/pages/"):
            file = PAGES / Path(path).name
            if file.is_file():
                return self._send(200, file.read_bytes(), "text/html; charset=utf-8")
        if path.startswith("/status/"):
            return self._send(int(path.rsplit("/", 1)[1]), b"error page", "text/html")
        if path == "/png":
            return self._send(200, b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "image/png")
        if path == "/empty":
            return self._send(200, EMPTY_PAGE, "text/html")
        if path == "/report.pdf":
            return self._send(200, make_pdf(REPORT_LINES, "Puno water report"),
                              "application/pdf")
        if path == "/redirect":
            self.send_response(302)
            self.send_header("Location", query["to"][0])
            self.end_headers()
            return None
        if path == "/slow":
            time.sleep(3)
            return self._send(200, EMPTY_PAGE, "text/html")
        if path == "/huge":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(50 * 1024 * 1024))
            self.end_headers()
            try:
                for _ in range(50):
                    self.wfile.write(b"x" * 1024 * 1024)
            except OSError:
                pass
            return None
        return self._send(404, b"not found", "text/html")


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # A client that gives up on a page (citebot refusing it mid-transfer) is expected;
        # the default prints a traceback to sys.stderr, which an in-process CLI test reads.
        pass


@contextmanager
def page_server() -> Iterator[str]:
    """Serve on 127.0.0.1 (an ephemeral port) and yield the base URL."""
    server = _QuietServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
