"""The Flask pieces main.create_app wires: the JSON API, the page and its MJPEG streams,
visitors' cameras, the decode memory budget, Host/Origin guards and security headers, the
token, JSON errors, the servers (waitress hardened in channels, the TLS front)."""
