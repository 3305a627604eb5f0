#!/usr/bin/env python3
"""The Vagrant lab's external server: HTTP on :8080 answers with the source address it saw; :8081 echoes."""
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WhoAmI(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        body = f"{self.client_address[0]}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 (signature from http.server)
        print(f"{self.client_address[0]} {format % args}", flush=True)


class Echo(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(line)
            self.wfile.flush()


class ThreadingTCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


if __name__ == "__main__":
    echo = ThreadingTCPServer(("0.0.0.0", 8081), Echo)
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    ThreadingHTTPServer(("0.0.0.0", 8080), WhoAmI).serve_forever()
