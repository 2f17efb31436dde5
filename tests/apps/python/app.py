"""A WSGI application on the standard library only: listens on 127.0.0.1:$PORT."""
import os
from wsgiref.simple_server import make_server

VERSION = "1"


def app(environ, start_response):
    if environ.get("PATH_INFO") == "/health":
        body = b"ok\n"
    else:
        body = f"Layanan Antrian versi {VERSION} ({os.environ.get('APP_GREETING', '')})\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [body]


if __name__ == "__main__":
    make_server("127.0.0.1", int(os.environ.get("PORT", "8000")), app).serve_forever()
