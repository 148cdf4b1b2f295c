"""The guided checks through the real Application (recording transport): the menu entries,
a run in a locale other than Russian, refused old or forged buttons, Back and Leave."""

from __future__ import annotations

from typing import Any

from bot.i18n import gettext_for
from dialogs.job_offer import JobOffer, OfferResult
from dialogs.official_check import CheckResult, OfficialCheck
from knowledge.loader import KnowledgeBase
from tests.conftest import Harness, buttons, texts


def _callback_answers(calls: list[Any]) -> list[str]:
    return [str(c.params.get("text", "")) for c in calls if c.method == "answerCallbackQuery"]


async def test_the_ban_section_offers_the_official_check_and_it_runs_in_kyrgyz(
    harness: Harness,
) -> None:
    _ = gettext_for("ky")
    await harness.press("l:ky")
    calls = await harness.press("s:ban")
    assert (_("🔎 Check officially"), "dlg:check") in buttons(calls)
    calls = await harness.press("dlg:check")
    assert _("What do you want to check?") in texts(calls)[-1]
    assert (_("🇷🇺 Russia: entry ban"), "dq:check:0:0") in buttons(calls)
    await harness.press("dq:check:0:0")  # Russia: entry ban
    calls = await harness.press("dq:check:1:0")  # a citizen of Kyrgyzstan
    screen = texts(calls)[-1]
    assert "http://сервисы.гувм.мвд.рф/info-service.htm?sid=3000" in screen
    assert "латын" in screen  # the name in Latin letters, said in Kyrgyz
    calls = await harness.press("dq:check:2:1")  # "something was found"
    result = texts(calls)[-1]
    assert "+7 925 115 50 47" in result  # the Kyrgyz embassy's hotline in Moscow
    assert "Safar эч кимди базадан издебейт" in result
    data = [d for _label, d in buttons(calls)]
    assert data[0] == "help"  # the way to an NGO comes first
    assert "a:ru-ban-appeal-court:ban" in data


async def test_the_job_offer_check_flags_a_kept_passport_and_leads_to_help_in_uzbek(
    harness: Harness,
) -> None:
    _ = gettext_for("uz")
    await harness.press("l:uz")
    calls = await harness.press("s:before")
    assert (_("💼 Check a job offer"), "dlg:offer") in buttons(calls)
    await harness.press("dlg:offer")
    # employer directly; no fee; the employer keeps the passport; skip the rest
    await harness.press("dq:offer:0:1")
    await harness.press("dq:offer:1:0")
    await harness.press("dq:offer:2:2")
    for version in range(3, 8):
        calls = await harness.press(f"ds:offer:{version}")
    result = texts(calls)[-1]
    assert _("Someone else will keep your passport") in result
    assert _("ILO indicators of forced labour") in result
    assert _("Ask before you go:") in result
    assert buttons(calls)[0] == (_("🆘 Talk to an NGO now"), "help")


async def test_old_and_forged_buttons_are_refused_kindly(harness: Harness) -> None:
    _ = gettext_for("tg")
    await harness.press("l:tg")
    await harness.press("dlg:offer")
    await harness.press("dq:offer:0:0")  # an agency: the licence question comes next
    for forged in ("dq:offer:0:0", "dq:offer:1:42", "dq:check:1:0", "ds:offer:9", "dq:offer"):
        calls = await harness.press(forged)
        assert _("This button is out of date. Here is the menu.") in _callback_answers(calls)
    calls = await harness.press("dq:offer:1:2")  # the real button still works: "no licence"
    assert _("Do they ask you to pay before you start work?") in texts(calls)[-1]


async def test_back_and_leave_work(harness: Harness) -> None:
    _ = gettext_for("tg")
    await harness.press("l:tg")
    await harness.press("dlg:offer")
    await harness.press("dq:offer:0:0")
    calls = await harness.press("db:offer:1")
    assert _("Who offered you the job?") in texts(calls)[-1]
    calls = await harness.press("dx:offer")
    assert _("Main menu") in texts(calls)[-1]
    # The dialog has ended: its old buttons are stale and typed text is a question again.
    calls = await harness.press("dq:offer:0:1")
    assert _("This button is out of date. Here is the menu.") in _callback_answers(calls)


def test_every_article_a_result_links_exists(kb: KnowledgeBase) -> None:
    # The adapter silently drops a button to a missing article: catch a renamed one here.
    actions = [
        *JobOffer.actions(OfferResult((), (), trafficking=True)),
        *JobOffer.actions(OfferResult((), (), trafficking=False)),
    ]
    for which in ("ru_ban", "ru_registry", "kz"):
        for outcome in ("none", "found", None):
            actions += OfficialCheck().actions(CheckResult(which, None, outcome))
    linked = {a.arg for a in actions if a.kind == "article"}
    assert len(linked) == 6
    assert all(kb.get(article_id) is not None for article_id in linked)
