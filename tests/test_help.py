"""The help path through the real Application: "I need help" -> screening -> consent.

Yes writes consent, case and outbox (the delivery worker's job); no writes nothing for any
organisation and gives contacts instead; a crisis message gets the emergency contacts
first, then the offer of a caseworker; a message about serious harm opens the screening.
"""

from __future__ import annotations

import html
from pathlib import Path

import pytest

from bot.i18n import gettext_for
from bot.services import Services
from bot.transport import Call
from dialogs.consent import NO, YES, YES_PHONE
from dialogs.screening import CITIES, COUNTRY_QUESTION, QUESTIONS, city_question
from knowledge.crisis import crisis_phrases
from knowledge.loader import KnowledgeBase
from knowledge.search import Searcher
from knowledge.services import directory
from tests.conftest import Harness, buttons, make_harness, texts

HELP = "🆘 I need help"


def _svc(h: Harness) -> Services:
    found = h.app.bot_data["safar"]
    assert isinstance(found, Services)
    return found


def _data(calls: list[Call], label_msgid: str, locale: str) -> str:
    label = gettext_for(locale)(label_msgid)
    found = [d for text, d in buttons(calls) if text == label]
    assert found, f"no button {label!r} in {buttons(calls)}"
    return found[0]


async def screen_with(h: Harness, calls: list[Call], answers: dict[str, str]) -> list[Call]:
    """Answer the screening shown in *calls*: the given answers by button, the rest
    skipped; returns the calls of the last step (the result and the consent screen)."""
    order = ["country", "city", *(q.key for q in QUESTIONS)]
    if answers.get("country") not in CITIES:
        order.remove("city")
    by_key = {q.key: q for q in (COUNTRY_QUESTION, *QUESTIONS)}
    while True:
        skip = next((d for _, d in buttons(calls) if d.startswith("ds:screening:")), None)
        if skip is None:
            return calls
        version = int(skip.split(":")[2])
        key = order[version]
        question = city_question(answers["country"]) if key == "city" else by_key[key]
        if key in answers:
            index = [c.value for c in question.choices].index(answers[key])
            calls = await h.press(f"dq:screening:{version}:{index}")
        else:
            calls = await h.press(skip)


async def _count(h: Harness, table: str) -> int:
    async with _svc(h).storage.conn.execute(f"SELECT COUNT(*) FROM {table}") as cur:
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def test_the_main_menu_offers_help_first(harness: Harness) -> None:
    calls = await harness.press("l:ky")
    calls = await harness.press("h")
    assert buttons(calls)[0] == (gettext_for("ky")(HELP), "help")


async def test_help_then_screening_then_yes_opens_a_case_for_the_organisation(
    harness: Harness,
) -> None:
    await harness.press("l:ru")
    calls = await harness.press("help")
    calls = await screen_with(
        harness, calls, {"country": "RU", "city": "moscow", "money": "no_shelter"}
    )
    consent = texts(calls)[-1]
    assert "/delete" in consent
    yes = _data(calls, YES, "ru")
    assert yes.startswith("hc:y:")
    assert await _count(harness, "cases") == 0  # nothing before the explicit yes
    calls = await harness.press(yes)
    assert await _count(harness, "consents") == 1
    assert await _count(harness, "cases") == 1
    assert await _count(harness, "referral_outbox") >= 1
    async with _svc(harness).storage.conn.execute(
        "SELECT organisation_id, urgency, country FROM cases"
    ) as cur:
        org, urgency, country = await cur.fetchone()  # type: ignore[misc]
    assert org == yes.split(":")[2] and urgency == "urgent" and country == "RU"
    assert any("1" in t for t in texts(calls))  # the request number


async def test_no_writes_nothing_and_gives_contacts(harness: Harness) -> None:
    await harness.press("l:tg")
    calls = await harness.press("help")
    calls = await screen_with(harness, calls, {"country": "KG", "coercion": "passport"})
    calls = await harness.press(_data(calls, NO, "tg"))
    for table in ("consents", "cases", "referral_outbox"):
        assert await _count(harness, table) == 0
    sent = "\n".join(texts(calls))
    assert "112" in sent  # emergency numbers of Kyrgyzstan, to use themselves


async def test_a_consent_button_for_another_organisation_is_refused(harness: Harness) -> None:
    await harness.press("l:ru")
    calls = await harness.press("help")
    await screen_with(harness, calls, {"country": "RU"})
    await harness.press("hc:y:kg-hotline-189")
    assert await _count(harness, "cases") == 0


async def test_a_stranger_cannot_consent_for_someone_else(harness: Harness) -> None:
    await harness.press("l:ru")
    calls = await harness.press("help")
    calls = await screen_with(harness, calls, {"country": "RU"})
    await harness.press(_data(calls, YES, "ru"), user_id=6002)  # never screened
    assert await _count(harness, "cases") == 0


async def test_the_phone_is_shared_only_with_telegrams_contact_button(harness: Harness) -> None:
    await harness.press("l:uz")
    calls = await harness.press("help")
    calls = await screen_with(harness, calls, {"country": "UZ"})
    calls = await harness.press(_data(calls, YES_PHONE, "uz"))
    keyboard = calls[-1].params["reply_markup"]["keyboard"]
    assert keyboard[0][0].get("request_contact") is True
    assert await _count(harness, "cases") == 0
    # Someone else's contact is not taken as the person's phone.
    other = {"contact": {"phone_number": "+998900000000", "first_name": "X", "user_id": 1}}
    await harness.send_private(other)
    assert await _count(harness, "cases") == 0
    mine = {"contact": {"phone_number": "+998901112233", "first_name": "T", "user_id": 5001}}
    await harness.send_private(mine)
    assert await _count(harness, "cases") == 1
    async with _svc(harness).storage.conn.execute("SELECT scope FROM consents") as cur:
        (scope,) = await cur.fetchone()  # type: ignore[misc]
    assert "contact:phone" in scope


async def test_continue_without_phone_opens_the_case_with_telegram_only(harness: Harness) -> None:
    await harness.press("l:ky")
    calls = await harness.press("help")
    calls = await screen_with(harness, calls, {"country": "KZ", "city": "almaty"})
    await harness.press(_data(calls, YES_PHONE, "ky"))
    await harness.say(gettext_for("ky")("➡️ Continue without my phone number"))
    assert await _count(harness, "cases") == 1
    async with _svc(harness).storage.conn.execute("SELECT scope FROM consents") as cur:
        (scope,) = await cur.fetchone()  # type: ignore[misc]
    assert "contact:phone" not in scope


async def test_a_crisis_message_gets_emergency_contacts_first_then_the_offer(
    harness: Harness, kb: KnowledgeBase
) -> None:
    await harness.press("l:ky")
    calls = await harness.say("жашагым келбей калды")
    sent = texts(calls)
    lead = gettext_for("ky")(
        "You are not alone. If you are in danger now, call the emergency number. "
        "Here are the numbers:"
    )
    assert html.escape(lead) in sent[0]
    emergency = kb.get(crisis_phrases().emergency_article)
    assert emergency is not None
    assert html.escape(emergency.locales["ky"].title, quote=False) in sent[1]
    assert ("🆘" in buttons(calls)[0][0]) and buttons(calls)[0][1] == "help:c"
    calls = await harness.press("help:c")
    calls = await screen_with(harness, calls, {"country": "KZ"})
    await harness.press(_data(calls, YES, "ky"))
    async with _svc(harness).storage.conn.execute("SELECT urgency FROM cases") as cur:
        (urgency,) = await cur.fetchone()  # type: ignore[misc]
    assert urgency == "crisis"


@pytest.mark.parametrize(
    ("locale", "text"),
    [
        ("ky", "паспортумду кожоюн алып койду, акчам жок"),
        ("uz", "pasportimni olib qo'yishdi, pulim yo'q"),
        ("ru", "работодатель забрал паспорт, денег нет"),
    ],
)
async def test_serious_harm_opens_the_screening_at_once(
    harness: Harness, locale: str, text: str
) -> None:
    await harness.press(f"l:{locale}")
    calls = await harness.say(text)
    assert any(d.startswith("dq:screening:0:") for _, d in buttons(calls))


async def test_a_crisis_article_ends_with_the_help_button(
    harness: Harness, kb: KnowledgeBase
) -> None:
    await harness.press("l:ru")
    article = kb.get(crisis_phrases().emergency_article)
    assert article is not None
    calls = await harness.press(f"a:{article.id}:urgent")
    assert (gettext_for("ru")(HELP), "help") in buttons(calls)


async def test_yes_twice_opens_one_case_and_no_after_yes_does_not_say_nothing_was_sent(
    harness: Harness,
) -> None:
    await harness.press("l:ru")
    calls = await harness.press("help")
    calls = await screen_with(harness, calls, {"country": "RU", "money": "no_shelter"})
    yes, phone, no = (_data(calls, m, "ru") for m in (YES, YES_PHONE, NO))
    first = texts(await harness.press(yes))[-1]
    again = texts(await harness.press(yes))[-1]
    await harness.press(phone)
    assert await _count(harness, "cases") == 1 and await _count(harness, "consents") == 1
    async with _svc(harness).storage.conn.execute("SELECT id FROM cases") as cur:
        (case_id,) = await cur.fetchone()  # type: ignore[misc]
    assert str(case_id) in first and str(case_id) in again
    declined = texts(await harness.press(no))[-1]
    nothing = gettext_for("ru")("Nothing was sent. Your answers stay with you.")
    assert html.escape(nothing) not in declined and "/delete" in declined


async def test_yes_after_a_restart_does_not_open_a_second_case(
    db_path: Path, kb: KnowledgeBase, searcher: Searcher
) -> None:
    async with make_harness(db_path, kb, searcher) as h:
        await h.press("l:ru")
        calls = await screen_with(h, await h.press("help"), {"country": "RU"})
        yes = _data(calls, YES, "ru")
        await h.press(yes)
    async with make_harness(db_path, kb, searcher) as h:
        await h.press(yes)
        assert await _count(h, "cases") == 1


async def test_crisis_urgency_survives_a_restart_before_consent(
    db_path: Path, kb: KnowledgeBase, searcher: Searcher
) -> None:
    async with make_harness(db_path, kb, searcher) as h:
        await h.press("l:ky")
        calls = await screen_with(h, await h.press("help:c"), {"country": "KZ"})
        yes = _data(calls, YES, "ky")
    async with make_harness(db_path, kb, searcher) as h:
        await h.press(yes)
        async with _svc(h).storage.conn.execute("SELECT urgency FROM cases") as cur:
            (urgency,) = await cur.fetchone()  # type: ignore[misc]
        assert urgency == "crisis"


async def test_phone_consent_survives_a_restart(
    db_path: Path, kb: KnowledgeBase, searcher: Searcher
) -> None:
    async with make_harness(db_path, kb, searcher) as h:
        await h.press("l:uz")
        calls = await screen_with(h, await h.press("help"), {"country": "UZ"})
        await h.press(_data(calls, YES_PHONE, "uz"))
    async with make_harness(db_path, kb, searcher) as h:
        mine = {"contact": {"phone_number": "+998901112244", "first_name": "T", "user_id": 5001}}
        await h.send_private(mine)
        assert await _count(h, "cases") == 1
        async with _svc(h).storage.conn.execute("SELECT scope FROM consents") as cur:
            (scope,) = await cur.fetchone()  # type: ignore[misc]
        assert "contact:phone" in scope


async def test_continue_without_phone_after_a_restart_opens_the_case(
    db_path: Path, kb: KnowledgeBase, searcher: Searcher
) -> None:
    async with make_harness(db_path, kb, searcher) as h:
        await h.press("l:ky")
        calls = await screen_with(h, await h.press("help"), {"country": "KZ"})
        await h.press(_data(calls, YES_PHONE, "ky"))
    async with make_harness(db_path, kb, searcher) as h:
        await h.say(gettext_for("ky")("➡️ Continue without my phone number"))
        assert await _count(h, "cases") == 1


@pytest.mark.parametrize("locale", ["ky", "tg", "ru", "uz", "uz_Cyrl"])
async def test_working_hours_are_shown_in_the_persons_language(
    harness: Harness, locale: str
) -> None:
    await harness.press(f"l:{locale}")
    calls = await screen_with(
        harness, await harness.press("help"), {"country": "RU", "city": "moscow"}
    )
    consent = texts(calls)[-1]
    org = directory().get(_data(calls, NO, locale).split(":")[2])
    assert org is not None
    declined = texts(await harness.press(_data(calls, NO, locale)))[-1]
    for screen in (consent, declined):
        if org.hours:  # the hours are there, in the person's words
            assert html.escape(org.hours_in(locale) or "-") in screen
        assert not any(w in screen for w in ("Mon", "Wed", "Fri", "appointment", "reception"))


@pytest.mark.parametrize("locale", ["ru", "ky"])
async def test_shelter_in_moscow_does_not_go_to_a_centre_for_women_and_children_only(
    harness: Harness, locale: str
) -> None:
    await harness.press(f"l:{locale}")
    answers = {"country": "RU", "city": "moscow", "money": "no_shelter"}
    calls = await screen_with(harness, await harness.press("help"), answers)
    no = _data(calls, NO, locale)
    org = directory().get(no.split(":")[2])
    assert org is not None and not org.only_for
    declined = texts(await harness.press(no))[-1]
    assert "rg.ru" not in declined
    assert any(c.value in declined for c in org.contacts)


async def test_continue_without_phone_still_works_after_starting_another_dialog(
    harness: Harness,
) -> None:
    """The reply keyboard stays on screen: its button must reach the help path even when
    the person has meanwhile opened the ban estimator."""
    await harness.press("l:ky")
    calls = await harness.press("help")
    calls = await screen_with(harness, calls, {"country": "KZ", "city": "almaty"})
    await harness.press(_data(calls, YES_PHONE, "ky"))
    await harness.press("dlg:ban")
    await harness.say(gettext_for("ky")("➡️ Continue without my phone number"))
    assert await _count(harness, "cases") == 1
