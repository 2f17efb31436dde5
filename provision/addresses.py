"""Server addresses as the configuration writes them (`host:port`, `[v6]:port`): the DNS
primary for the DNS provider, the checks and DNS-01 certificates alike."""

from __future__ import annotations

from provision.errors import ConfigError


def parse_server(text: str, default_port: int = 53) -> tuple[str, int]:
    """'127.0.0.1:5300', '[::1]:5300', 'ns1.example:53' or '10.0.0.1' -> (host, port)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.lstrip(":") or str(default_port)
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, str(default_port)
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{text!r} is not a DNS server address (host:port).",
                          "Write it as 192.0.2.1:53, [2001:db8::1]:53 or ns1.example.org:53.")
    return host, int(port)


def server_text(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
