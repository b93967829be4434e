"""Share and present: a link that reopens the page on the same tab with the same inputs (the
texts, the model, the target language), and a presenter setting that makes everything larger
for a projector. The link is plain query parameters (``?tab=qa&qa.question=...``), read when the
page loads; nothing is stored on the server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import gradio as gr

from ..messages import t
from .common import guarded, request_language

# Longer links fail somewhere between the browser and the server (uvicorn refuses request
# lines past about 16 kB; a Chinese character is 9 characters once percent-encoded).
MAX_LINK_CHARS = 8000
PRESENTER_JS = "(on) => { document.documentElement.classList.toggle('pg-presenter', !!on); }"
CSS = "html.pg-presenter body { zoom: 1.3; }"


def _base(request: gr.Request | None) -> str:
    """The page's own address, from the browser's request (no query string)."""
    headers = getattr(request, "headers", None) or {}
    for name in ("referer", "origin"):
        value = headers.get(name)
        if value:
            return value.split("?", 1)[0].split("#", 1)[0].rstrip("/") + "/"
    return "/"


def link(base: str, tab: str, values: Mapping[str, Any], presenter: bool = False) -> str:
    """``base`` with the query that :func:`restore` reads back: the tab, then ``tab.field=value``
    for each non-empty input, then ``presenter=1`` when it is on."""
    query: dict[str, str] = {"tab": tab}
    query.update({f"{tab}.{k}": str(v) for k, v in values.items() if v not in (None, "")})
    if presenter:
        query["presenter"] = "1"
    return base + "?" + urlencode(query)


def restore(query: Mapping[str, str], tabs: list[str], fields: Mapping[str, list[str]]) -> tuple[str | None, dict[tuple[str, str], str], bool]:
    """What a link asks for: the tab (None: the default), each (tab, field) value, presenter."""
    tab = query.get("tab")
    if tab not in tabs:
        tab = None
    values = {(name, field): query[f"{name}.{field}"] for name, names in fields.items() for field in names
              if f"{name}.{field}" in query}
    return tab, values, query.get("presenter") == "1"


def build(i18n: gr.I18n, tabs: gr.Tabs, tab_objects: Mapping[str, gr.Tab], inputs: Mapping[str, Mapping[str, Any]],
          demo: gr.Blocks) -> None:
    """The row of the page's header: presenter, "link to this page", the link. Wires each tab's
    select (which tab is open) and the page's load (a link's tab and inputs)."""
    with gr.Row(equal_height=True):
        presenter = gr.Checkbox(label=i18n("presenter"), value=False, scale=1, elem_id="presenter")
        share_btn = gr.Button(i18n("share_btn"), size="sm", scale=1, elem_id="share-btn")
        box = gr.Textbox(label=i18n("share_label"), interactive=False, scale=4, elem_id="share-link",
                         buttons=["copy"])
    current = gr.State(next(iter(tab_objects)))
    for name, tab in tab_objects.items():
        tab.select(lambda name=name: name, None, current, queue=False, api_visibility="private")
    presenter.change(None, presenter, None, js=PRESENTER_JS, queue=False, api_visibility="private")

    fields = {name: list(comps) for name, comps in inputs.items()}
    flat = [(name, field, comp) for name, comps in inputs.items() for field, comp in comps.items()]

    @guarded
    def share(data: dict, request: gr.Request) -> str:
        lang = request_language((request,), {})
        tab = data[current]
        mine = {field: data[comp] for name, field, comp in flat if name == tab}
        url = link(_base(request), tab, mine, bool(data[presenter]))
        return url if len(url) <= MAX_LINK_CHARS else t("share_too_long", lang, limit=MAX_LINK_CHARS)

    share_btn.click(share, {current, presenter, *(c for _, _, c in flat)}, box, queue=False, api_visibility="private")

    def opened(request: gr.Request) -> list[Any]:
        query = dict(getattr(request, "query_params", None) or {})
        tab, values, on = restore(query, list(tab_objects), fields)
        out: list[Any] = [gr.Tabs(selected=tab) if tab else gr.update(), gr.update(value=True) if on else gr.update(),
                          tab or gr.update()]
        out += [gr.update(value=values[(name, field)]) if (name, field) in values else gr.update()
                for name, field, _ in flat]
        return out

    demo.load(opened, None, [tabs, presenter, current, *(c for _, _, c in flat)], queue=False, api_visibility="private")


__all__ = ["CSS", "MAX_LINK_CHARS", "build", "link", "restore"]
