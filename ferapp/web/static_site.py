"""The page without a server: ``python main.py --export-static DIR`` writes the page, its
scripts and styles, ONNX Runtime Web and the models into a folder any static host serves
(a university web space, GitHub Pages, ``python -m http.server``). There the visitor's
camera and photos are analysed in the page, and recordings are saved on the visitor's
machine; nothing is sent anywhere.

The files are those the app serves (its settings and files at /api/inpage, its page and
static/), fetched through the app itself, so the export cannot drift from the server.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from flask import render_template

from ferapp.system import REPO_ROOT
from ferapp.web.inpage import ORT_FILES
from ferapp.web.pages import page_labels

# how the exported page is served (static/js/site.js): no server; settings beside it
STATIC_SITE = {"static": True, "settings": "inpage/settings.json"}


class StaticExportError(Exception):
    """The page cannot be exported (the folder is in use, or the in-page mode cannot run)."""


def export_static(app, out: str | Path) -> Path:
    """Write the static page into ``out`` (a new or empty folder); return its index.html."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise StaticExportError(f"{out} is not an empty folder: give a new one")
    client = app.test_client()
    settings = client.get("/api/inpage").get_json()
    if not settings.get("available"):
        raise StaticExportError(f"the page cannot analyse in the browser: {settings['reason']}")
    runtime = settings["runtime"]
    urls = [settings["detector"]["url"], settings["classifier"]["url"],
            *(runtime["wasm_base"] + name for name in ORT_FILES)]
    out.mkdir(parents=True, exist_ok=True)
    for url in urls:
        answer = client.get(url)
        if answer.status_code != 200:
            raise StaticExportError(f"{url}: {answer.get_json()['error']}")
        target = out / url.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(answer.data)
    relative = json.loads(json.dumps(settings).replace('"/inpage/', '"inpage/'))
    (out / STATIC_SITE["settings"]).write_text(json.dumps(relative, indent=1))
    with app.test_request_context("/"):
        page = render_template("index.html", labels=page_labels(), site=STATIC_SITE,
                               max_upload_bytes=0)
    (out / "index.html").write_text(page.replace('"/static/', '"static/'))
    shutil.copytree(REPO_ROOT / "static", out / "static")
    return out / "index.html"
