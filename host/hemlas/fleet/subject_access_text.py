"""An access request's export (subject_access.py) as a person reads it: one section per kind,
each record on a line, in the reader's language. The JSON stays the complete form."""

from __future__ import annotations

from ..i18n import N_, Texts, _

SECTIONS = Texts({
    "placements": N_("Locks at the customer's home"),
    "lifecycle": N_("Mounting, moves and dismantling"),
    "nfc_tags": N_("NFC tags"),
    "visits": N_("Visits"),
    "planned_visits": N_("Planned visits and alarm accesses"),
    "door_events": N_("Door events"),
    "battery_swaps": N_("Battery swaps"),
    "compensation_hours": N_("Registered \"Uppstart smarta lås\" hours"),
    "keys": N_("Keys that could open the door"),
    "disclosures": N_("Who read or changed the customer's data"),
    "retention": N_("How long each kind is kept"),
})
# The fields each section's line shows, in order (the JSON has them all).
_LINE = {
    "placements": ("lock_id", "from", "until"),
    "lifecycle": ("at", "action", "lock_id", "address", "person", "note"),
    "nfc_tags": ("tag", "registered_at", "deactivated_at"),
    "visits": ("at", "out_at", "person", "source", "lock_id", "note", "status"),
    "planned_visits": ("planned_start", "planned_end", "kind", "status", "reason", "created_by"),
    "door_events": ("at", "event", "lock_id"),
    "battery_swaps": ("started_at", "lock_id", "person", "status"),
    "compensation_hours": ("day", "provider", "lock_id", "registered_by"),
    "keys": ("key_id", "lock_id", "person", "valid_from", "valid_until", "revoked_at"),
    "disclosures": ("at", "actor", "action"),
}


def _personnummer(customer: dict) -> str:
    digits = customer.get("personal_number")
    return f"{digits[:8]}-{digits[8:]}" if digits else "-"


def as_text(document: dict) -> str:
    customer = document["customer"]
    lines = [_("Access request (GDPR art. 15): customer {number}").format(
                 number=customer["customer_number"]),
             _("Name: {name}").format(name=customer["name"]),
             _("Address: {address}").format(address=customer["address"] or "-"),
             _("Personnummer: {number}").format(number=_personnummer(customer)),
             _("Provider: {provider}").format(provider=customer["provider"] or "-"),
             _("Made {at} by {by}").format(at=document["export"]["made_at"],
                                           by=document["export"]["made_by"])]
    for section, fields in _LINE.items():
        rows = document.get(section, [])
        lines += ["", f"{SECTIONS[section]} ({len(rows)})"]
        for row in rows:
            lines.append("  " + "  ".join("-" if row.get(f) is None else str(row.get(f))
                                          for f in fields))
    lines += ["", SECTIONS["retention"]]
    for kind, rule in document["retention"].items():
        unit = _("years") if rule["unit"] == "years" else _("days")
        lines.append(f"  {kind}: {rule['period']} {unit}")
    return "\n".join(lines) + "\n"
