"""The generic dialog adapter: any :class:`dialogs.engine.Dialog` shown in Telegram.

A feature registers its dialog once (``register(DIALOG, on_done=...)``); a button with
callback data ``dlg:<name>`` starts it, or code calls :func:`begin`. Each question is one
message: the dialog's title, the question and its buttons, then "Prefer not to say" when
the question is skippable, and Back / Leave. Typed text answers a date, number or text
question; for a button question it gets a kind "please press a button" and the question
again. A message that signals danger is never taken as an answer: the search handler sends
the emergency contacts and the dialog waits where it was.

Callback data (at most 64 bytes; ``<v>`` is the state's version, the number of answers
given, so a press on an older question's button is recognised as stale):

| data                        | button                          |
|-----------------------------|---------------------------------|
| ``dlg:<name>``              | start the dialog                |
| ``dq:<name>:<v>:<index>``   | choice number *index*           |
| ``ds:<name>:<v>``           | "Prefer not to say"             |
| ``db:<name>:<v>``           | Back                            |
| ``dx:<name>``               | Leave                           |

The answers are stored per person in ``dialog_states`` (encrypted, see :mod:`bot.crypto`)
on every step, so a restart resumes the dialog; the last finished run of each dialog is
kept for follow-ups (:func:`last_answers`) until ``/delete``. Opening the menu or another
command leaves the active dialog.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.ext import (
    ApplicationHandlerStop,
    BaseHandler,
    CallbackContext,
    CallbackQueryHandler,
    MessageHandler,
    filters,
)

from bot import clock
from bot.crypto import DecryptionError
from bot.i18n import LocaleTranslator, format_date, format_number, gettext_for
from bot.render import split_message
from bot.services import services
from bot.ui import (
    answer,
    button,
    home_row,
    main_menu_keyboard,
    main_menu_text,
    section_of,
    show,
    stale_button,
)
from bot.ui import user_locale as _user_locale
from dialogs.engine import (
    SKIPPED,
    Action,
    Answer,
    Dialog,
    InvalidAnswer,
    State,
    back,
    restore,
    start,
    step,
)
from knowledge.loader import KnowledgeBase
from knowledge.risk import assess

log = logging.getLogger(__name__)

Context = CallbackContext[Any, Any, Any, Any]
#: Called after a dialog's result has been shown: (update, context, finished state).
OnDone = Callable[[Update, Context, State], Awaitable[None]]

#: ``user_data`` key caching the name of the person's active dialog ("" = none).
_ACTIVE = "dialog"


@dataclass(frozen=True)
class _Entry:
    dialog: Dialog
    on_done: OnDone | None
    menu: tuple[str, str] | None


_REGISTRY: dict[str, _Entry] = {}


def register(
    dialog: Dialog, *, on_done: OnDone | None = None, menu: tuple[str, str] | None = None
) -> None:
    """Make *dialog* available as ``dlg:<name>``; *on_done* runs after its result is shown.

    *menu* = (section key, button label msgid) puts a button that starts the dialog at the
    top of that main-menu section (e.g. ``("ban", N_("🧮 Estimate my ban"))``).
    Registering a name again replaces the earlier dialog.

    Raises:
        ValueError: the name is not 1-16 characters of a-z, 0-9 and ``_``.
    """
    name = dialog.name
    if not (0 < len(name) <= 16 and all(c.islower() or c.isdigit() or c == "_" for c in name)):
        raise ValueError(f"bad dialog name {name!r}")
    _REGISTRY[name] = _Entry(dialog, on_done, menu)


def menu_buttons(section: str, locale: str) -> list[InlineKeyboardButton]:
    """The buttons of the dialogs registered for main-menu *section*, in *locale*."""
    _ = gettext_for(locale)
    return [
        button(_(entry.menu[1]), f"dlg:{name}")
        for name, entry in _REGISTRY.items()
        if entry.menu is not None and entry.menu[0] == section
    ]


def registered(name: str) -> Dialog | None:
    """The dialog registered as *name*, or ``None``."""
    entry = _REGISTRY.get(name)
    return entry.dialog if entry else None


def translator(locale: str) -> LocaleTranslator:
    """The :class:`bot.i18n.LocaleTranslator` of *locale* (for ``Dialog.render``)."""
    return LocaleTranslator(locale)


# --- storage -------------------------------------------------------------------------


async def _save(context: Context, user_id: int, state: State, active: bool) -> None:
    svc = services(context)
    await svc.storage.save_dialog(
        user_id, state.name, svc.cipher.encrypt_json(state.to_json()), active
    )
    if context.user_data is not None:
        context.user_data[_ACTIVE] = state.name if active else ""


async def _active_state(context: Context, user_id: int) -> State | None:
    """The person's active dialog state, restored from storage (None if there is none)."""
    if context.user_data is not None and context.user_data.get(_ACTIVE) == "":
        return None
    svc = services(context)
    found = await svc.storage.active_dialog(user_id)
    state = None
    if found is not None:
        name, token = found
        entry = _REGISTRY.get(name)
        try:
            if entry is not None:
                state = restore(entry.dialog, svc.cipher.decrypt_json(token), clock.today())
        except (DecryptionError, ValueError, TypeError):
            log.warning("a stored dialog could not be restored; it was ended")
        if state is None or state.question is None:
            await svc.storage.end_dialog(user_id, name, keep=False)
            state = None
    if context.user_data is not None:
        context.user_data[_ACTIVE] = state.name if state else ""
    return state


async def last_answers(context: Context, user_id: int, name: str) -> dict[str, Answer] | None:
    """The answers of the person's last finished run of dialog *name*, or ``None`` (never
    finished, erased by ``/delete``, or unreadable)."""
    svc = services(context)
    found = await svc.storage.dialog_state(user_id, name)
    if found is None or found[1]:
        return None
    token, _active = found
    try:
        data = svc.cipher.decrypt_json(token)
        return {str(k): v for k, v in data.get("answers", [])}
    except (DecryptionError, ValueError, TypeError, AttributeError):
        return None


# --- rendering -----------------------------------------------------------------------


def _format_param(value: str | int | dt.date, locale: str) -> str:
    if isinstance(value, dt.date):
        return format_date(value, locale)
    if isinstance(value, int):
        return format_number(value, locale)
    return value


def safe_format(translated: str, msgid: str, params: Mapping[str, str]) -> str:
    """*translated* with ``{name}`` *params* filled in; a translation whose placeholders do
    not match falls back to the English *msgid*, so a catalog slip never breaks a screen."""
    try:
        return translated.format(**params)
    except (KeyError, IndexError, ValueError):
        log.warning("a translation's placeholders do not match its msgid")
        return msgid.format(**params)


def question_screen(
    dialog: Dialog, state: State, locale: str, notice: str | None = None
) -> tuple[str, InlineKeyboardMarkup]:
    """The message (HTML) and buttons that ask *state*'s current question in *locale*.

    *notice* (already translated) is shown first, e.g. why the last answer was refused.
    """
    question = state.question
    assert question is not None
    _ = gettext_for(locale)
    params = {k: _format_param(v, locale) for k, v in question.params.items()}
    parts = []
    if notice:
        parts.append("⚠️ " + html.escape(notice))
    parts.append(f"<b>{html.escape(_(dialog.title))}</b>")
    parts.append(html.escape(safe_format(_(question.text), question.text, params)))
    if question.hint:
        parts.append(f"<i>{html.escape(_(question.hint))}</i>")
    v = state.version
    name = dialog.name
    buttons = [
        InlineKeyboardButton(_(choice.label), callback_data=f"dq:{name}:{v}:{i}")
        for i, choice in enumerate(question.choices)
    ]
    per_row = max(1, question.columns)
    rows = [buttons[i : i + per_row] for i in range(0, len(buttons), per_row)]
    if question.skippable:
        rows.append(
            [InlineKeyboardButton(_("🤐 Prefer not to say"), callback_data=f"ds:{name}:{v}")]
        )
    nav = []
    if v > 0:
        nav.append(InlineKeyboardButton(_("⬅️ Back"), callback_data=f"db:{name}:{v}"))
    nav.append(InlineKeyboardButton(_("✖️ Leave"), callback_data=f"dx:{name}"))
    rows.append(nav)
    return "\n\n".join(parts), InlineKeyboardMarkup(rows)


_ACTION_DATA = {"help": "help", "menu": "h"}


def action_button(
    action: Action, locale: str, dialog_name: str, kb: KnowledgeBase
) -> InlineKeyboardButton | None:
    """The button of a result's *action* (see the module docstring for the data), or
    ``None`` for an article that is not in the knowledge base *kb*."""
    _ = gettext_for(locale)
    if action.kind == "article":
        article = kb.get(action.arg)
        if article is None:
            log.warning("dialog %s links a missing article", dialog_name)
            return None
        data = f"a:{article.id}:{section_of(article.topic)}"
    elif action.kind == "dialog":
        data = f"dlg:{action.arg}"
    elif action.kind == "reminder":
        data = f"rem:{dialog_name}"
    else:
        data = _ACTION_DATA[action.kind]
    return InlineKeyboardButton(_(action.label), callback_data=data)


async def _send(update: Update, text: str, markup: InlineKeyboardMarkup, as_new: bool) -> None:
    """Show a screen: edit the pressed message, or send a new one."""
    if not as_new and update.callback_query is not None:
        await show(update, text, markup)
        return
    message = update.effective_message
    if message is not None:
        await message.reply_text(text, reply_markup=markup)
    elif update.callback_query is not None:
        await show(update, text, markup)


async def _present(
    update: Update,
    context: Context,
    entry: _Entry,
    state: State,
    locale: str,
    notice: str | None = None,
    as_new: bool = False,
) -> None:
    """Save *state* and show its question, or its result (then run ``on_done``)."""
    user = update.effective_user
    assert user is not None
    if state.done is None:
        await _save(context, user.id, state, active=True)
        text, markup = question_screen(entry.dialog, state, locale, notice)
        await _send(update, text, markup, as_new)
        return
    await _save(context, user.id, state, active=False)
    body = entry.dialog.render(state.done.result, translator(locale))
    kb = services(context).kb
    buttons = [action_button(a, locale, entry.dialog.name, kb) for a in state.done.actions]
    rows = [[b] for b in buttons if b is not None]
    if not any(a.kind == "menu" for a in state.done.actions):
        rows.append(home_row(locale))
    chunks = split_message(body)
    for chunk in chunks[:-1]:
        await _send(update, chunk, InlineKeyboardMarkup([]), as_new)
        as_new = True
    await _send(update, chunks[-1], InlineKeyboardMarkup(rows), as_new)
    if entry.on_done is not None:
        await entry.on_done(update, context, state)


async def begin(
    update: Update,
    context: Context,
    name: str,
    answers: Mapping[str, Answer] | None = None,
    as_new: bool = False,
) -> None:
    """Start dialog *name* for the person behind *update*, with *answers* already known.

    Raises:
        KeyError: no dialog is registered as *name*.
    """
    entry = _REGISTRY[name]
    locale = await _user_locale(update, context)
    state = start(entry.dialog, clock.today(), answers)
    await _present(update, context, entry, state, locale, as_new=as_new)


# --- handlers ------------------------------------------------------------------------


def _private(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type == ChatType.PRIVATE


async def on_start(update: Update, context: Context) -> None:
    """``dlg:<name>``: start a dialog."""
    query = update.callback_query
    assert query is not None and query.data is not None
    name = query.data.removeprefix("dlg:")
    if name not in _REGISTRY or not _private(update):
        await stale_button(update, context)
        return
    await answer(update)
    await begin(update, context, name)


async def on_button(update: Update, context: Context) -> None:
    """``dq:``, ``ds:``, ``db:``: a choice, a skip or Back on the current question."""
    query = update.callback_query
    user = update.effective_user
    assert query is not None and query.data is not None
    parts = query.data.split(":")
    state = await _active_state(context, user.id) if user and _private(update) else None
    entry = _REGISTRY.get(parts[1]) if len(parts) >= 3 else None
    if (
        state is None
        or entry is None
        or state.name != parts[1]
        or parts[2] != str(state.version)
        or state.question is None
    ):
        await stale_button(update, context)
        return
    locale = await _user_locale(update, context)
    today = clock.today()
    try:
        if parts[0] == "db" and len(parts) == 3:
            new_state = back(entry.dialog, state, today)
        elif parts[0] == "ds" and len(parts) == 3:
            new_state = step(entry.dialog, state, SKIPPED, today)
        elif parts[0] == "dq" and len(parts) == 4 and parts[3].isdigit():
            index = int(parts[3])
            if index >= len(state.question.choices):
                await stale_button(update, context)
                return
            new_state = step(entry.dialog, state, state.question.choices[index].value, today)
        else:
            await stale_button(update, context)
            return
    except InvalidAnswer as exc:
        _ = gettext_for(locale)
        await answer(update, safe_format(_(exc.message), exc.message, exc.params))
        return
    await answer(update)
    await _present(update, context, entry, new_state, locale)


async def on_leave(update: Update, context: Context) -> None:
    """``dx:<name>``: leave the dialog (its answers are erased) and show the menu."""
    user = update.effective_user
    query = update.callback_query
    assert query is not None and query.data is not None
    name = query.data.removeprefix("dx:")
    if not _private(update):
        await stale_button(update, context)
        return
    if user is not None and name in _REGISTRY:
        state = await _active_state(context, user.id)
        if state is not None and state.name == name:
            await services(context).storage.end_dialog(user.id, name, keep=False)
            if context.user_data is not None:
                context.user_data[_ACTIVE] = ""
    locale = await _user_locale(update, context)
    await answer(update)
    await show(update, main_menu_text(locale), main_menu_keyboard(locale))


#: Texts that another feature's reply keyboard sends (see :func:`pass_through`).
_PASS_THROUGH: set[str] = set()


def pass_through(texts: Iterable[str]) -> None:
    """Never take these texts as a dialog's answer: they are sent by another feature's
    reply-keyboard button (e.g. the help path's "Continue without my phone number"), which
    stays on the screen while the person starts a dialog, and their own handler answers."""
    _PASS_THROUGH.update(texts)


async def _waiting_state(update: Update, context: Context) -> State | None:
    """The state of the dialog waiting for an answer to this text message, or ``None``
    when there is none, it shows a result, or the text signals danger or serious harm
    (then the search handler answers it and opens help)."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None or not message.text or message.text in _PASS_THROUGH:
        return None
    state = await _active_state(context, user.id)
    if state is None or state.question is None or assess(message.text).needs_help:
        return None
    return state


async def on_text(update: Update, context: Context) -> None:
    """Typed text while a dialog waits for an answer (runs before the search handler).

    Does nothing when there is no active dialog or the text signals danger (the search
    handler then answers); otherwise the text answers the dialog and no other handler runs.
    """
    state = await _waiting_state(update, context)
    if state is None:
        return  # no dialog, or danger: the search handler answers (and opens help)
    message = update.effective_message
    assert message is not None and message.text is not None and state.question is not None
    entry = _REGISTRY[state.name]
    locale = await _user_locale(update, context)
    _ = gettext_for(locale)
    if state.question.kind == "choice":
        notice = _("Please press one of the buttons.")
        await _present(update, context, entry, state, locale, notice=notice, as_new=True)
        raise ApplicationHandlerStop
    try:
        new_state = step(entry.dialog, state, message.text, clock.today())
    except InvalidAnswer as exc:
        notice = safe_format(_(exc.message), exc.message, exc.params)
        await _present(update, context, entry, state, locale, notice=notice, as_new=True)
        raise ApplicationHandlerStop from None
    await _present(update, context, entry, new_state, locale, as_new=True)
    raise ApplicationHandlerStop


async def on_edited(update: Update, context: Context) -> None:
    """An edited message while a dialog waits for an answer: answers cannot be changed by
    editing, so the person is told to use Back, and the current question is shown again.
    Without an active dialog (or with danger in the text) the search handler answers it."""
    state = await _waiting_state(update, context)
    if state is None:
        return
    entry = _REGISTRY[state.name]
    locale = await _user_locale(update, context)
    _ = gettext_for(locale)
    notice = _("Editing a message does not change an answer. To change one, press ⬅️ Back.")
    await _present(update, context, entry, state, locale, notice=notice, as_new=True)
    raise ApplicationHandlerStop


async def on_elsewhere(update: Update, context: Context) -> None:
    """A command or another button while a dialog is active: the dialog is left (its
    answers erased); the command or button then does what it does."""
    user = update.effective_user
    if user is None or not _private(update):
        return
    if context.user_data is not None and context.user_data.get(_ACTIVE) == "":
        return
    state = await _active_state(context, user.id)
    if state is not None:
        await services(context).storage.end_dialog(user.id, state.name, keep=False)
        if context.user_data is not None:
            context.user_data[_ACTIVE] = ""


#: Handlers of group 0 (with the other features).
HANDLERS: list[BaseHandler[Any, Any, Any]] = [
    CallbackQueryHandler(on_start, pattern=r"^dlg:"),
    CallbackQueryHandler(on_button, pattern=r"^d[qsb]:"),
    CallbackQueryHandler(on_leave, pattern=r"^dx:"),
]

#: Handlers of an earlier group, so that they see text and commands before search does.
EARLY_HANDLERS: list[BaseHandler[Any, Any, Any]] = [
    MessageHandler(
        filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND & filters.UpdateType.MESSAGE,
        on_text,
    ),
    MessageHandler(
        filters.ChatType.PRIVATE
        & filters.TEXT
        & ~filters.COMMAND
        & filters.UpdateType.EDITED_MESSAGE,
        on_edited,
    ),
    MessageHandler(filters.ChatType.PRIVATE & filters.COMMAND, on_elsewhere),
    CallbackQueryHandler(on_elsewhere, pattern=r"^(h|s:.*|t:.*|lang|l:.*|ask)$"),
]
