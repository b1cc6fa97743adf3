"""The Flask pieces main.create_app wires: the JSON API, the page and its MJPEG streams,
visitors' cameras, Host/Origin guards and security headers, JSON errors, the servers."""
