"""Report destinations with DOMAIN.md's defaults (admins may edit them afterwards)."""

from django.db import migrations

DESTINATIONS = [
    dict(
        code="ncmec",
        name="NCMEC CyberTipline (United States)",
        is_default=True,
        report_target_hours=None,
        urgent_report_target_hours=None,
        preservation_rule="years_after_report",
        preservation_amount=1,
        report_id_pattern=r"^\d{1,19}$",
        report_id_hint="digits only (NCMEC's report ID)",
        notes="18 U.S.C. 2258A: report as soon as reasonably possible (the platform's target applies); "
        "preserve 1 year after the report (2258A(h), 2024).",
    ),
    dict(
        code="c3p",
        name="Canadian Centre for Child Protection (Canada)",
        report_target_hours=None,
        urgent_report_target_hours=None,
        preservation_rule="none",
        preservation_amount=0,
        report_id_pattern=r"^.{1,100}$",
        report_id_hint="the reference Cybertip.ca gave",
        notes="S.C. 2011, c. 4: report publicly available material.",
    ),
    dict(
        code="ca_police",
        name="Police (Canada)",
        report_target_hours=None,
        urgent_report_target_hours=None,
        preservation_rule="days_after_report",
        preservation_amount=21,
        report_id_pattern=r"^.{1,100}$",
        report_id_hint="the police file number",
        notes="S.C. 2011, c. 4: notify police as soon as feasible; preserve the data 21 days after notifying.",
    ),
    dict(
        code="nca",
        name="National Crime Agency (United Kingdom)",
        report_target_hours=None,
        urgent_report_target_hours=None,
        preservation_rule="years_after_report",
        preservation_amount=1,
        report_id_pattern=r"^.{1,100}$",
        report_id_hint="the NCA reference",
        notes="Online Safety Act 2023 s.66-67, SI 2026/268 (timing tiers and retention unconfirmed).",
    ),
    dict(
        code="afp",
        name="Australian Federal Police",
        report_target_hours=None,
        urgent_report_target_hours=None,
        preservation_rule="none",
        preservation_amount=0,
        report_id_pattern=r"^.{1,100}$",
        report_id_hint="the AFP reference",
        notes="Criminal Code s.474.25: within a reasonable time.",
    ),
    dict(
        code="eu",
        name="EU authority (retention capped)",
        report_target_hours=None,
        urgent_report_target_hours=None,
        preservation_rule="none",
        preservation_amount=0,
        retention_cap_months=12,
        report_id_pattern=r"^.{1,100}$",
        report_id_hint="the authority's reference",
        notes="Successor to Regulation 2021/1232: data kept at most 12 months from detection (unconfirmed).",
    ),
    dict(
        code="other",
        name="Other",
        report_target_hours=None,
        urgent_report_target_hours=None,
        preservation_rule="none",
        preservation_amount=0,
        report_id_pattern=r"^.{1,100}$",
        report_id_hint="the recipient's reference",
        notes="",
    ),
]


def seed(apps, schema_editor):
    Destination = apps.get_model("escalations", "Destination")
    for row in DESTINATIONS:
        Destination.objects.get_or_create(code=row["code"], defaults=row)


def unseed(apps, schema_editor):
    apps.get_model("escalations", "Destination").objects.filter(code__in=[d["code"] for d in DESTINATIONS]).delete()


class Migration(migrations.Migration):
    dependencies = [("escalations", "0007_after_the_report")]

    operations = [migrations.RunPython(seed, unseed)]
