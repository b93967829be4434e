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

    from playground.api import warm_up
    from playground.ui.app import build_demo, launch

    demo, i18n = build_demo()
    # JIT-compiled parts of shap and the first batches cost seconds once; pay them before the
    # first visitor does, without delaying start-up.
    threading.Thread(target=warm_up, daemon=True).start()
    launch(demo, i18n, server_name=args.host, server_port=args.port)


if __name__ == "__main__":
    main()
