"""``python -m bot replay FILE.jsonl``: recorded updates in, Bot API calls out."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from telegram import Update

from bot.app import build_application, close_services, open_services
from bot.settings import Settings
from bot.transport import Call, RecordingRequest
from bot.updates import upgrade_update


def _update_json(line: str, number: int) -> dict[str, Any]:
    data: Any = json.loads(line)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    if "update_id" not in data and isinstance(data.get("update"), dict):
        data = data["update"]  # the fixture format: {"source", "kind", "update": {...}}
    data.setdefault("update_id", number)
    return dict(upgrade_update(data))


async def replay(settings: Settings, path: Path, db: str = ":memory:") -> int:
    """Feed each line of *path* through the application; print each call as a JSON line.

    A line that is not a Telegram Update is reported on stderr and skipped. Returns 0, or 1
    if any line was skipped.
    """
    settings = settings.model_copy(update={"db": Path(db)})

    def emit(call: Call) -> None:
        print(call.to_json(), flush=True)

    app = build_application(settings, request=RecordingRequest(on_call=emit))
    skipped = 0
    async with app:
        await open_services(app)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    update = Update.de_json(_update_json(line, number), app.bot)
                except Exception as exc:
                    reason = type(exc).__name__
                    print(f"{path}:{number}: skipped, not an update ({reason})", file=sys.stderr)
                    skipped += 1
                    continue
                await app.process_update(update)
        finally:
            await close_services(app)
    return 1 if skipped else 0
