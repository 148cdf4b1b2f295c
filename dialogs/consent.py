"""Consent to a referral: the text shown before anything is shared, its version and scope.

Nothing reaches an organisation without an explicit "yes" to this text. It says what will
be sent, to which organisation (by name), why, and how to withdraw. The version of the
text (:data:`CONSENT_VERSION`) and the scope (:func:`consent_scope`) are recorded with the
consent (``bot/cases.py``). Change the text -> change the version.

Contact is by Telegram by default; a phone number is shared only if the person chooses to,
and only through Telegram's own share-contact button (the bot never asks them to type it).
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from dialogs.engine import N_, Translator

#: Version of the consent text below (date and number); recorded with every consent.
CONSENT_VERSION = "2026-12-05.1"

#: The fields shared with the organisation (scope codes) and what each means (msgids).
SCOPE_FIELDS: tuple[tuple[str, str], ...] = (
    ("needs", N_("what kind of help you need and which of your answers show it")),
    ("urgency", N_("how urgent it is")),
    ("answers", N_("your answers to the questions")),
    ("location", N_("the country and city you gave")),
    ("language", N_("your language")),
    ("contact:telegram", N_("a way to write to you on Telegram")),
)
#: Scope code added when the person shares their phone number with Telegram's button.
PHONE_SCOPE = "contact:phone"


def consent_scope(
    organisation_id: str, fallback_id: str | None, phone: bool = False
) -> tuple[str, ...]:
    """The scope codes of a consent: the shared fields, ``contact:phone`` if the phone
    is shared, ``org:<id>`` of the organisation named, and ``fallback`` when the text named
    the fallback organisation (an urgent case nobody takes in time goes there)."""
    codes = [code for code, _ in SCOPE_FIELDS]
    if phone:
        codes.append(PHONE_SCOPE)
    codes.append(f"org:{organisation_id}")
    if fallback_id and fallback_id != organisation_id:
        codes.append("fallback")
    return tuple(codes)


def render_consent(
    organisation: str, fallback: str | None, tr: Translator, hours: str | None = None
) -> str:
    """The consent text (Telegram HTML) naming *organisation* and, if given, the
    *fallback* organisation (display names in the person's language)."""
    _ = tr.gettext
    org = f"<b>{html.escape(organisation)}</b>"
    lines = [
        html.escape(_("A caseworker can help you. We suggest:")),
        org,
    ]
    if hours:
        lines.append(html.escape(_("Working hours: {hours}").format(hours=hours)))
    lines += [
        "",
        "<b>" + html.escape(_("If you say yes, Safar sends them:")) + "</b>",
        *(f"• {html.escape(_(text))}" for _code, text in SCOPE_FIELDS),
        "",
        "<b>" + html.escape(_("Why:")) + "</b> "
        + html.escape(
            _("so that they can contact you and help, without you having to tell it all again.")
        ),
    ]  # fmt: skip
    if fallback:
        lines.append(
            html.escape(
                _(
                    "If it is urgent and nobody there takes your case in time, it goes to "
                    "{fallback}."
                )
            ).format(fallback=f"<b>{html.escape(fallback)}</b>")
        )
    lines += [
        "",
        "<b>" + html.escape(_("How to withdraw:")) + "</b> "
        + html.escape(
            _(
                "send /delete at any time. Safar then erases your data and tells the "
                "organisation that you withdrew."
            )
        ),
        "",
        html.escape(_("Your phone number is shared only if you choose so below.")),
        html.escape(_("If you say no, nothing is sent to anyone.")),
    ]  # fmt: skip
    return "\n".join(lines)


#: Button labels of the consent screen (msgids).
YES = N_("✅ Yes, they may write to me on Telegram")
YES_PHONE = N_("📱 Yes, and I will share my phone number")
NO = N_("❌ No, do not send anything")


def render_declined(organisation: str, contacts: Iterable[str], tr: Translator) -> str:
    """The reply to "no" (Telegram HTML): nothing was shared; the organisation and the
    *contacts* (already formatted lines) so that the person can reach help themselves."""
    _ = tr.gettext
    lines = [
        "<b>" + html.escape(_("Nothing was sent. Your answers stay with you.")) + "</b>",
        "",
        html.escape(_("If you want, you can contact them yourself:")),
        f"<b>{html.escape(organisation)}</b>",
        *(html.escape(line) for line in contacts),
    ]
    return "\n".join(lines)


def render_sent(organisation: str, case_id: int, tr: Translator) -> str:
    """The reply after the referral is written: to whom, its number, what happens next."""
    _ = tr.gettext
    return "\n".join(
        [
            "<b>"
            + html.escape(_("Done. Your request no. {id} is on its way to:").format(id=case_id))
            + "</b>",
            f"<b>{html.escape(organisation)}</b>",
            "",
            html.escape(
                _("I will tell you here when a caseworker takes it. To withdraw, send /delete.")
            ),
        ]
    )


def render_already_sent(organisation: str, case_id: int, tr: Translator) -> str:
    """The reply to a consent button pressed again after the request went out: nothing new
    is sent; the request's number, to whom, and how to withdraw."""
    _ = tr.gettext
    return "\n".join(
        [
            "<b>"
            + html.escape(_("Your request no. {id} was already sent to:").format(id=case_id))
            + "</b>",
            f"<b>{html.escape(organisation)}</b>",
            "",
            html.escape(_("Nothing new was sent. To withdraw, send /delete.")),
        ]
    )
