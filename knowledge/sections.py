"""The main menu's sections and the topics each one opens (plain data)."""

from __future__ import annotations

#: Section key -> topics, in menu order. A topic may appear in more than one section.
SECTIONS: dict[str, tuple[str, ...]] = {
    "ban": ("ban_check", "ban_reasons_duration", "ban_appeal_removal", "deportation_expulsion"),
    "rights": (
        "entry_stay_rules",
        "patent_work_permit",
        "eaeu_rights",
        "labour_rights_wages",
        "passport_confiscated",
        "police_detention",
        "medical_help",
    ),
    "before": ("safe_departure", "trafficking_exploitation", "entry_stay_rules"),
    "return": ("return_reintegration", "family_children"),
    "urgent": ("emergency_crisis", "trafficking_exploitation", "passport_confiscated"),
    "contacts": ("contacts_ngo",),
}
