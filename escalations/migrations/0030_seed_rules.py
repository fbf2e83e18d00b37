"""The rules as dated, cited data, from ../shared/DOMAIN.md (researched December 2026), each with its
source and DOMAIN.md's mark of certainty; and the rule versions every existing escalation was judged
by (the US rules, whose numbers were the settings' defaults until now).

Dates: a law that takes effect on a day takes effect at midnight in its regime's capital (the UK's
7 April 2026 is 2026-04-07 00:00 Europe/London = 2026-04-06 23:00 UTC). An empty effective_from
means "since before any escalation this product holds". The data is written out here, not imported
from the app, so this migration means the same thing whatever the code becomes."""

from datetime import datetime, time
from zoneinfo import ZoneInfo

from django.db import migrations

NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
BRUSSELS = ZoneInfo("Europe/Brussels")


def midnight(year, month, day, zone):
    return datetime(year, month, day, tzinfo=zone)


US = "DOMAIN.md: United States, 18 U.S.C. 2258A as amended by the REPORT Act"
NCMEC_API = "DOMAIN.md: NCMEC's CyberTipline Reporting API"
OTHER = "DOMAIN.md: Other jurisdictions and pending law"

RULES = [
    dict(
        code="us-2258a-report",
        regime="US",
        authority="ncmec",
        obligation="report",
        title="Report apparent violations to the CyberTipline as soon as reasonably possible",
        clock_start="knowledge",
        limit="target",
        unit="hours",
        citation="18 U.S.C. 2258A, as amended by the REPORT Act (Pub. L. 118-59)",
        link_text="18 U.S.C. 2258A: report as soon as reasonably possible after actual knowledge",
        source=US,
        status="in_force",
        certainty="confirmed",
        time_zone="America/New_York",
        notes="The statute sets no hour count: the platform's own target applies (settings "
        "REPORT_TARGET_HOURS and URGENT_REPORT_TARGET_HOURS, 24 h and 1 h by default). Missing it is a "
        "compliance finding, not a missed legal deadline.",
    ),
    dict(
        code="us-stop-csam-60-days",
        regime="US",
        authority="ncmec",
        obligation="report",
        title="Report to the CyberTipline no later than 60 days after actual knowledge",
        clock_start="knowledge",
        limit="deadline",
        amount=60,
        unit="days",
        citation="STOP CSAM Act of 2025 (S.1829 / H.R.3921)",
        link_text="STOP CSAM Act of 2025: a CyberTipline report within 60 days (a bill, not law)",
        source=OTHER,
        status="pending",
        certainty="pending",
        time_zone="America/New_York",
        notes="Not law yet: a dormant rule. A lead can see what it would change on the rules page.",
    ),
    dict(
        code="us-2258a-h-preserve",
        version=1,
        regime="US",
        authority="ncmec",
        obligation="preserve",
        title="Preserve the reported contents 90 days after the report (before the REPORT Act)",
        clock_start="ncmec_report",
        limit="minimum",
        amount=90,
        unit="days",
        citation="18 U.S.C. 2258A(h), before the REPORT Act (Pub. L. 118-59)",
        link_text="2258A(h) before 7 May 2024: preserve 90 days after the report",
        source=US,
        effective_to=midnight(2024, 5, 7, NEW_YORK),
        status="lapsed",
        certainty="confirmed",
        time_zone="America/New_York",
        notes="DOMAIN.md: 'it was 90 days before 2024'. The platform's setting (PRESERVATION_YEARS, one "
        "year) keeps reports of that time longer, as the statute allows.",
    ),
    dict(
        code="us-2258a-h-preserve-1-year",
        regime="US",
        authority="ncmec",
        obligation="preserve",
        title="Preserve the reported contents one year after the report is completed",
        clock_start="ncmec_report",
        limit="minimum",
        amount=1,
        unit="calendar_years",
        citation="18 U.S.C. 2258A(h), as amended by the REPORT Act (Pub. L. 118-59, 7 May 2024)",
        link_text="18 U.S.C. 2258A(h): preserve 1 year after the report",
        source=US,
        effective_from=midnight(2024, 5, 7, NEW_YORK),
        status="in_force",
        certainty="confirmed",
        time_zone="America/New_York",
        notes="The clock starts when the report is completed at NCMEC, not at knowledge. One calendar year "
        "in UTC (from 29 February, 1 March). Related (commingled) content that gives context too; in a "
        "secure location, from May 2025 consistent with the NIST Cybersecurity Framework.",
    ),
    dict(
        code="us-2258a-h-voluntary",
        regime="US",
        authority="ncmec",
        obligation="preserve_voluntary",
        title="Keep the preserved contents longer, voluntarily, to reduce online child exploitation",
        clock_start="ncmec_report",
        limit="permission",
        citation="18 U.S.C. 2258A(h), as amended by the REPORT Act (Pub. L. 118-59)",
        link_text="2258A(h): a provider may keep it longer, voluntarily",
        source=US,
        effective_from=midnight(2024, 5, 7, NEW_YORK),
        status="in_force",
        certainty="confirmed",
        time_zone="America/New_York",
        notes="A lead's extension, with a reason, on the escalation's page.",
    ),
    dict(
        code="us-2703f-preserve",
        regime="US",
        authority="us_law_enforcement",
        obligation="preserve",
        title="Preserve records 90 days on a law-enforcement preservation request",
        clock_start="preservation_request",
        limit="minimum",
        amount=90,
        unit="days",
        citation="18 U.S.C. 2703(f)",
        link_text="18 U.S.C. 2703(f): keep the records 90 days from the request",
        source="DOMAIN.md: United States, law-enforcement preservation requests",
        status="in_force",
        certainty="confirmed",
        time_zone="America/New_York",
    ),
    dict(
        code="us-2703f-renewal",
        regime="US",
        authority="us_law_enforcement",
        obligation="preserve",
        title="Preserve 90 more days on a renewed preservation request",
        clock_start="renewed_period_end",
        limit="minimum",
        amount=90,
        unit="days",
        citation="18 U.S.C. 2703(f)",
        link_text="18 U.S.C. 2703(f): a renewal adds 90 days to the period it renews",
        source="DOMAIN.md: United States, law-enforcement preservation requests",
        status="in_force",
        certainty="confirmed",
        time_zone="America/New_York",
    ),
    dict(
        code="ncmec-unfinished-report-deletion",
        regime="NCMEC",
        authority="ncmec",
        obligation="unfinished_deletion",
        title="NCMEC deletes an unfinished report 24 h after it was opened or 1 h after its last change, "
        "whichever is later",
        clock_start="ncmec_opened",
        limit="deadline",
        amount=24,
        second_amount=1,
        unit="hours",
        citation="NCMEC CyberTipline Reporting API",
        link_text="NCMEC's Reporting API: an unfinished report is deleted (24 h / 1 h)",
        source=NCMEC_API,
        status="in_force",
        certainty="confirmed",
        notes="Finish the report before then; after finish it cannot be changed or retracted.",
    ),
    dict(
        code="uk-osa-s66-report",
        regime="UK",
        authority="nca",
        obligation="report",
        title="Report detected, unreported CSEA content to the National Crime Agency",
        clock_start="knowledge",
        limit="target",
        unit="hours",
        citation="Online Safety Act 2023 s.66; SI 2026/268",
        link_text="Online Safety Act 2023 s.66 (SI 2026/268): report CSEA content to the NCA",
        source=OTHER,
        effective_from=midnight(2026, 4, 7, LONDON),
        status="in_force",
        certainty="confirmed",
        time_zone="Europe/London",
        notes="In force 7 April 2026 (SI 2025/368 was revoked before it came into force). The reporting time "
        "limit of SI 2026/268 is not confirmed: a target the platform sets. [secondary] Register with the "
        "NCA before the first report; report through the NCA portal or API; priorities P1 (current or "
        "immediate risk), P2 (possible near-term risk or time sensitive), P3 (everything else, hash "
        "matches included); content already reported to NCMEC should not be referred again.",
    ),
    dict(
        code="uk-nca-out-of-hours-phone",
        regime="UK",
        authority="nca",
        obligation="phone_follow_up",
        title="Phone the NCA after a P1 or P2 report made outside 07:00-17:00 UK time",
        clock_start="authority_report",
        limit="window",
        window_start=time(7, 0),
        window_end=time(17, 0),
        time_zone="Europe/London",
        applies_to="P1, P2",
        citation="NCA reporting portal practice (SI 2026/268 regime)",
        link_text="NCA portal practice: out-of-hours P1/P2 reports need a phone call",
        source=OTHER,
        effective_from=midnight(2026, 4, 7, LONDON),
        status="in_force",
        certainty="secondary",
        notes="UK time is the clock on the wall in London (GMT in winter, BST in summer). 07:00 is inside "
        "the window, 17:00 outside.",
    ),
    dict(
        code="uk-si-2026-268-reference",
        regime="UK",
        authority="nca",
        obligation="retain_reference",
        title="Keep the NCA report reference for 5 years",
        clock_start="authority_report",
        limit="minimum",
        amount=5,
        unit="calendar_years",
        time_zone="Europe/London",
        citation="SI 2026/268 (from a compliance summary quoting it)",
        link_text="SI 2026/268: keep the report reference 5 years",
        source=OTHER,
        effective_from=midnight(2026, 4, 7, LONDON),
        status="in_force",
        certainty="secondary",
    ),
    dict(
        code="uk-si-2026-268-content",
        regime="UK",
        authority="nca",
        obligation="preserve",
        title="Keep the content, what was submitted and assessed, and related user data for 1 year",
        clock_start="authority_report",
        limit="minimum",
        amount=1,
        unit="calendar_years",
        time_zone="Europe/London",
        citation="SI 2026/268 (from a compliance summary quoting it)",
        link_text="SI 2026/268: keep content and related data 1 year after the report",
        source=OTHER,
        effective_from=midnight(2026, 4, 7, LONDON),
        status="in_force",
        certainty="secondary",
        notes="Related user data from the 2 weeks before upload.",
    ),
    dict(
        code="ca-mra-s2-report",
        regime="CA",
        authority="c3p",
        obligation="report",
        title="Report publicly available material to the Canadian Centre for Child Protection",
        clock_start="knowledge",
        limit="target",
        unit="hours",
        time_zone="America/Toronto",
        citation="Mandatory Reporting Act, S.C. 2011, c. 4, s.2",
        link_text="S.C. 2011, c. 4, s.2: report to the Canadian Centre for Child Protection",
        source=OTHER,
        status="in_force",
        certainty="confirmed",
    ),
    dict(
        code="ca-mra-s3-notify",
        regime="CA",
        authority="ca_police",
        obligation="notify",
        title="Notify police as soon as feasible where the service was used for an offence",
        clock_start="knowledge",
        limit="target",
        unit="hours",
        time_zone="America/Toronto",
        citation="Mandatory Reporting Act, S.C. 2011, c. 4, s.3",
        link_text="S.C. 2011, c. 4, s.3: notify police as soon as feasible",
        source=OTHER,
        status="in_force",
        certainty="confirmed",
        notes="s.5: do not disclose where that could prejudice an investigation.",
    ),
    dict(
        code="ca-mra-s4-preserve",
        regime="CA",
        authority="ca_police",
        obligation="preserve",
        title="Preserve the computer data for 21 days after notifying police",
        clock_start="authority_report",
        limit="minimum",
        amount=21,
        unit="days",
        time_zone="America/Toronto",
        citation="Mandatory Reporting Act, S.C. 2011, c. 4, s.4",
        link_text="S.C. 2011, c. 4, s.4: preserve 21 days after notifying police",
        source=OTHER,
        status="in_force",
        certainty="confirmed",
    ),
    dict(
        code="ca-c16-preserve-1-year",
        regime="CA",
        authority="ca_police",
        obligation="preserve",
        title="Preserve the computer data for one year after notifying police",
        clock_start="authority_report",
        limit="minimum",
        amount=1,
        unit="calendar_years",
        time_zone="America/Toronto",
        citation="Bill C-16, Protecting Victims Act (first reading 9 December 2025)",
        link_text="Bill C-16: preservation 21 days -> 1 year (a bill, not law)",
        source=OTHER,
        status="pending",
        certainty="pending",
        notes="Would also cover every internet service with a connection to Canada, and transmission data in reports.",
    ),
    dict(
        code="au-474-25-refer",
        regime="AU",
        authority="afp",
        obligation="report",
        title="Refer child abuse material to the Australian Federal Police within a reasonable time",
        clock_start="knowledge",
        limit="target",
        unit="hours",
        time_zone="Australia/Sydney",
        citation="Criminal Code (Cth) s.474.25",
        link_text="Criminal Code s.474.25: refer to the AFP within a reasonable time",
        source=OTHER,
        status="in_force",
        certainty="confirmed",
        notes="'Within a reasonable time': a target the platform sets. eSafety industry codes took effect "
        "16 December 2023.",
    ),
    dict(
        code="eu-2021-1232-retention-cap",
        regime="EU",
        authority="eu",
        obligation="retention_cap",
        title="Keep data at most 12 months from detection (interim derogation)",
        clock_start="knowledge",
        limit="cap",
        amount=12,
        unit="calendar_months",
        time_zone="Europe/Brussels",
        citation="Regulation (EU) 2021/1232, extended by Regulation (EU) 2024/1307",
        link_text="Regulation (EU) 2021/1232: at most 12 months from detection (lapsed 3 April 2026)",
        source=OTHER,
        effective_to=midnight(2026, 4, 3, BRUSSELS),
        status="lapsed",
        certainty="confirmed",
        notes="A platform bound by the US minimum (1 year from the report) and this maximum has a conflict "
        "the tracker shows, not hides.",
    ),
    dict(
        code="eu-interim-recreated-cap",
        regime="EU",
        authority="eu",
        obligation="retention_cap",
        title="Keep data at most 12 months from detection (interim derogation re-created to 3 April 2028)",
        clock_start="knowledge",
        limit="cap",
        amount=12,
        unit="calendar_months",
        time_zone="Europe/Brussels",
        citation="Council position of 2 July 2026 re-creating the interim derogation",
        link_text="EU interim derogation re-created until 3 April 2028 (final adoption unconfirmed)",
        source=OTHER,
        effective_to=midnight(2028, 4, 3, BRUSSELS),
        status="pending",
        certainty="pending",
        notes="The proposed CSA Regulation (COM(2022) 209) is in trilogue.",
    ),
]

# The rules every escalation logged before rules were data was judged by (the settings' defaults
# were these rules' numbers): the report target at knowledge, the preservation year at the report
# (90 days before 7 May 2024), NCMEC's deletion timer when a report was opened there.
BATCH = 2000


def seed(apps, schema_editor):
    Rule = apps.get_model("escalations", "Rule")
    for row in RULES:
        Rule.objects.get_or_create(
            code=row["code"], version=row.get("version", 1), defaults={**row, "reason": "Seeded from DOMAIN.md"}
        )
    link_existing(apps)


def link_existing(apps):
    Rule = apps.get_model("escalations", "Rule")
    Escalation = apps.get_model("escalations", "Escalation")
    EscalationRule = apps.get_model("escalations", "EscalationRule")
    rules = {r.code: r for r in Rule.objects.filter(version=1)}
    target = rules["us-2258a-report"]
    year, days = rules["us-2258a-h-preserve-1-year"], rules["us-2258a-h-preserve"]
    deletion = rules["ncmec-unfinished-report-deletion"]
    links = []
    rows = Escalation.objects.order_by("pk").values_list("pk", "reported_at", "ncmec_opened_at", "updated_at")
    for pk, reported_at, opened_at, updated_at in rows.iterator(chunk_size=BATCH):
        links.append(EscalationRule(escalation_id=pk, rule=target, deadline="report", judged_at=updated_at))
        if reported_at is not None:
            rule = year if reported_at >= year.effective_from else days
            links.append(EscalationRule(escalation_id=pk, rule=rule, deadline="preservation_end", judged_at=updated_at))
        if opened_at is not None:
            links.append(
                EscalationRule(escalation_id=pk, rule=deletion, deadline="ncmec_deletion", judged_at=updated_at)
            )
        if len(links) >= BATCH:
            EscalationRule.objects.bulk_create(links, ignore_conflicts=True)
            links = []
    EscalationRule.objects.bulk_create(links, ignore_conflicts=True)


def unseed(apps, schema_editor):
    apps.get_model("escalations", "EscalationRule").objects.all().delete()
    apps.get_model("escalations", "Rule").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("escalations", "0029_rules")]

    operations = [migrations.RunPython(seed, unseed)]
