# Safar: the Telegram bot, polling Telegram with BOT_TOKEN.
#   docker build -t safar .
#   docker run -e BOT_TOKEN=... -v safar-data:/data safar
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    SAFAR_DB=/data/safar.db

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY dialogs ./dialogs
COPY knowledge ./knowledge
COPY locales ./locales
RUN pip install -e . \
    && useradd --system --uid 10001 --home-dir /app safar \
    && mkdir -p /data && chown safar /data

USER safar
VOLUME ["/data"]
CMD ["python", "-m", "bot", "run"]
