"""gradio's own texts in pop-up messages, in the page's language: "queue is full" and the titles.

When gradio's queue is full (``LIMITS.queue_size`` events), the server answers 503 and gradio's
JavaScript client shows its own English text, which no gradio setting translates. The explanation
admission (:mod:`playground.serving`) keeps the queue well below that size, but if it ever
fills, a Chinese page must not read English: :func:`head` is a script for ``launch(head=...)``
that replaces that one text, wherever it appears, with the message ``queue_full`` in the
browser's language (the same rule gr.I18n uses: Chinese for a ``zh`` locale, else English).
The same script translates the titles gradio gives every pop-up message ("Error", "Warning",
"Info"), which gradio leaves in English on a Chinese page, our own errors' included.
"""

from __future__ import annotations

import json

from ..messages import t

# The text gradio's client shows for a full queue (gradio 6, js/client: QUEUE_FULL_MSG).
GRADIO_QUEUE_FULL = "This application is currently busy. Please try again."
TITLES = ("error", "warning", "info")  # gradio's toast titles: "Error", "Warning", "Info"
LANGS = {"en": "en", "zh": "zh-CN"}  # the script's language -> the message catalogue's


def head() -> str:
    """A <script> for the page's head (texts as JSON, "</" escaped so a message cannot close it)."""
    titles = {lang: {t(f"toast_{k}", "en"): t(f"toast_{k}", code) for k in TITLES} for lang, code in LANGS.items()}
    texts = json.dumps({"full": {lang: t("queue_full", code) for lang, code in LANGS.items()}, "titles": titles,
                        "gradio": GRADIO_QUEUE_FULL}, ensure_ascii=False).replace("</", "<\\/")
    return _SCRIPT.replace("__TEXTS__", texts)


_SCRIPT = """<script>
(() => {
  const T = __TEXTS__;
  const lang = (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
  const full = T.full[lang], titles = T.titles[lang];
  const swap = (root) => {
    if (!root) return;
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      if (n.nodeValue.includes(T.gradio)) n.nodeValue = n.nodeValue.replace(T.gradio, full);
      const title = n.parentElement && n.parentElement.closest(".toast-title");
      const key = n.nodeValue.trim();
      if (title && Object.hasOwn(titles, key) && titles[key] !== key) n.nodeValue = n.nodeValue.replace(key, titles[key]);
    }
  };
  const start = () => new MutationObserver((changes) => {
    for (const c of changes) {
      if (c.type === "characterData") swap(c.target.parentNode || c.target);
      for (const node of c.addedNodes) swap(node.nodeType === 3 ? node.parentNode : node);
    }
  }).observe(document.body, {childList: true, subtree: true, characterData: true});
  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);
})();
</script>"""
