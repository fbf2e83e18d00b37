"""Where each of the escalation's own deadlines comes from, in words an auditor can check
(../shared/DOMAIN.md is the summary these cite). A target the platform sets says so: missing it is a
compliance finding, not a breach of a statute."""

from __future__ import annotations

from dataclasses import dataclass

from escalations.policy.base import DeadlineKind


@dataclass(frozen=True)
class Basis:
    rule: str
    citation: str
    # True when the law sets no number and the platform chose this one.
    platform_target: bool


BASES = {
    DeadlineKind.REPORT: Basis(
        rule='Report "as soon as reasonably possible after obtaining actual knowledge"; the hours are the '
        "platform's internal target (shorter for urgent escalations)",
        citation="18 U.S.C. 2258A(a)(1), as amended by the REPORT Act (Pub. L. 118-59)",
        platform_target=True,
    ),
    DeadlineKind.PRESERVATION_CONFIRM: Basis(
        rule="Confirm the reported content is preserved in the platform's evidence store; the hours are the "
        "platform's internal target",
        citation="18 U.S.C. 2258A(h)(1): a completed report is a request to preserve its contents",
        platform_target=True,
    ),
    DeadlineKind.PRESERVATION_END: Basis(
        rule="Preserve the reported contents for one calendar year after the report (longer while a legal "
        "hold or a destination's rule runs)",
        citation="18 U.S.C. 2258A(h)(1); 18 U.S.C. 2703(f) for law-enforcement holds",
        platform_target=False,
    ),
}


def basis_of(kind: DeadlineKind) -> Basis:
    return BASES[kind]
