"""LLM Playground: run ``python app.py`` (``--profile offline|hub|tiny``, default offline)."""

from __future__ import annotations

import argparse
import logging
import os
import threading

from playground import config


def main() -> None:
    parser = argparse.ArgumentParser(description="LLM Playground")
    parser.add_argument("--profile", choices=config.PROFILES, default=None, help=f"model profile (env {config.PROFILE_ENV})")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("shap").setLevel(logging.WARNING)  # shap logs its internal arrays at INFO
    if args.profile:
        os.environ[config.PROFILE_ENV] = args.profile

    from playground import models
    from playground.api import warm_up
    from playground.ui.app import build_demo, launch
    from playground.ui.zerogpu import on_zero_gpu

    if on_zero_gpu():
        # A GPU call runs in a fork that must find the models loaded: load them now, outside any.
        models.prepare(load_defaults=True)
    demo, i18n = build_demo()

    def prepare_then_warm_up() -> None:
        # GGUF conversions (20-98 s each, once per cache) before the first visitor asks, with
        # progress in the log; then shap's JIT and the first batches. Start-up does not wait.
        models.prepare()
        warm_up()

    threading.Thread(target=prepare_then_warm_up, daemon=True).start()
    launch(demo, i18n, server_name=args.host, server_port=args.port)


if __name__ == "__main__":
    main()
