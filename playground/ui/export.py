"""Take it home: every figure as PNG or SVG (buttons in the figure's toolbar), every explanation
as JSON and its matrix as CSV (download buttons under it).

The figures are drawn in the browser by Plotly, which can save them itself: the PNG and SVG
buttons set the format of Plotly's own "download plot" action and press it, so the file is the
figure the student sees, at its size, with nothing sent to the server."""

from __future__ import annotations

import csv
import itertools
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr

_ids = itertools.count()
_DIR = Path(tempfile.gettempdir()) / f"llm-playground-export-{os.getpid()}"

# Plotly's "download plot" reads its format when pressed; the modebar exists (hidden until
# hover) on every figure.
_SAVE_JS = """() => {{
  const gd = document.querySelector('#{id} .js-plotly-plot');
  if (!gd || !gd._context) return;
  gd._context.toImageButtonOptions = {{format: '{fmt}', filename: '{id}', scale: {scale}}};
  const b = gd.querySelector('.modebar-btn[data-title*="png"], .modebar-btn[data-title*="Download"]');
  if (b) b.click();
}}"""


def plot(**kwargs: Any) -> gr.Plot:
    """A ``gr.Plot`` with PNG and SVG buttons in its toolbar (an ``elem_id`` is made if none is given)."""
    elem_id = kwargs.pop("elem_id", None) or f"pg-plot-{next(_ids)}"
    png = gr.Button("PNG", size="sm")
    svg = gr.Button("SVG", size="sm")
    out = gr.Plot(elem_id=elem_id, buttons=[png, svg], **kwargs)
    for button, fmt, scale in ((png, "png", 2), (svg, "svg", 1)):
        button.click(None, None, None, js=_SAVE_JS.format(id=elem_id, fmt=fmt, scale=scale), queue=False,
                     api_visibility="private")
    return out


def _name(expl: dict[str, Any]) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", f"{expl.get('task', 'task')}-{expl.get('method', 'method')}".lower())


def files(expl: dict[str, Any] | None) -> tuple[str | None, str | None]:
    """The explanation as JSON (everything the API gives) and its matrix as CSV (a row per
    target, a column per word); (None, None) when there is none."""
    if not expl:
        return None, None
    _DIR.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=_DIR))
    base = folder / _name(expl)
    json_path = base.with_suffix(".json")
    json_path.write_text(json.dumps(expl, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    csv_path = base.with_suffix(".csv")
    words = [w.get("text", "") for w in expl.get("words", [])]
    with csv_path.open("w", encoding="utf-8-sig", newline="") as f:  # the BOM: Excel reads the Chinese right
        writer = csv.writer(f)
        writer.writerow(["target", "target_text", *words])
        for target, row in zip(expl.get("targets", []), expl.get("matrix", [])):
            writer.writerow([target.get("label", ""), target.get("text", ""), *row])
    return str(json_path), str(csv_path)


def downloads(i18n: gr.I18n, state: gr.State, prefix: str) -> None:
    """JSON and CSV download buttons, shown once ``state`` (``{"expl": dict, ...}``) holds an explanation."""
    with gr.Row():
        as_json = gr.DownloadButton(i18n("export_json"), size="sm", visible=False, elem_id=f"{prefix}-json")
        as_csv = gr.DownloadButton(i18n("export_csv"), size="sm", visible=False, elem_id=f"{prefix}-csv")

    def made(value: dict | None) -> tuple[Any, Any]:
        j, c = files((value or {}).get("expl"))
        return gr.update(value=j, visible=j is not None), gr.update(value=c, visible=c is not None)

    state.change(made, state, [as_json, as_csv], queue=False, api_visibility="private")


__all__ = ["downloads", "files", "plot"]
