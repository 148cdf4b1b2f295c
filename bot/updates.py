"""Reading recorded Update JSON, including shapes from older Bot API versions.

Recorded updates from older Bot API versions lack fields that python-telegram-bot now
requires: ``User.is_bot`` (before 3.0, 2017), ``file_unique_id`` (before 4.5, 2019),
``Sticker.is_animated/is_video/type`` (before 4.5-6.2), and administrators' story rights
(before 7.0, 2023, when ``can_manage_voice_chats`` was also renamed), and a callback
query's ``chat_instance`` (missing in Telegram's documentation example). :func:`upgrade_update`
fills these gaps with the values an older client implied, so that old recordings replay.
"""

from __future__ import annotations

from typing import Any

#: Keys whose value is a User object (or a list of them).
_USER_KEYS = frozenset(
    {
        "from",
        "forward_from",
        "user",
        "via_bot",
        "new_chat_member",
        "new_chat_participant",
        "left_chat_member",
        "new_chat_members",
        "sender_business_bot",
    }
)
#: Keys whose value is a ChatMember object.
_MEMBER_KEYS = frozenset({"old_chat_member", "new_chat_member"})
_ADMIN_DEFAULTS = {
    "can_post_stories": False,
    "can_edit_stories": False,
    "can_delete_stories": False,
    "can_manage_video_chats": False,
}


def _user(node: dict[str, Any]) -> dict[str, Any]:
    if "is_bot" not in node and "first_name" in node:
        node["is_bot"] = str(node.get("username", "")).lower().endswith("bot")
    return node


def _member(node: dict[str, Any]) -> dict[str, Any]:
    if node.get("status") == "administrator":
        if "can_manage_voice_chats" in node:
            node.setdefault("can_manage_video_chats", node.pop("can_manage_voice_chats"))
        for key, value in _ADMIN_DEFAULTS.items():
            node.setdefault(key, value)
    return node


def upgrade_update(data: Any, key: str = "") -> Any:
    """Return a copy of *data* (an Update as JSON) with legacy gaps filled; *key* is the
    field name *data* sits under (used for recursion)."""
    if isinstance(data, list):
        return [upgrade_update(item, key) for item in data]
    if not isinstance(data, dict):
        return data
    node = {k: upgrade_update(v, k) for k, v in data.items()}
    if "file_id" in node and "file_unique_id" not in node:
        node["file_unique_id"] = str(node["file_id"])
    if key == "callback_query":
        node.setdefault("chat_instance", "")  # missing in Telegram's own doc example
    if key == "sticker":
        node.setdefault("is_animated", False)
        node.setdefault("is_video", False)
        node.setdefault("type", "regular")
    if key in _MEMBER_KEYS and "status" in node:
        node = _member(node)
        if isinstance(node.get("user"), dict):
            node["user"] = _user(node["user"])
    elif key in _USER_KEYS:
        node = _user(node)
    return node
