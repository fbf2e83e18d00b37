"""Where a report stands at NCMEC's CyberTipline (DOMAIN.md, "NCMEC's CyberTipline Reporting API"):
submit opens it; finish makes it final (it can no longer be changed or retracted); retract withdraws an
unfinished one; NCMEC deletes an unfinished one when its countdown runs out (policy/ncmec.py). Pure:
`now` is an argument."""

from __future__ import annotations

from datetime import datetime

from escalations.policy.base import as_utc

NOT_OPENED = ""
OPENED = "opened"
FINISHED = "finished"
RETRACTED = "retracted"
DELETED_UNFINISHED = "deleted_unfinished"

SUBMISSION_LABELS = {
    NOT_OPENED: "Not opened through NCMEC's API",
    OPENED: "Opened, not finished",
    FINISHED: "Finished",
    RETRACTED: "Retracted (unfinished)",
    DELETED_UNFINISHED: "Deleted by NCMEC unfinished",
}

# After these the deletion countdown no longer runs: the report is final, withdrawn or gone.
COUNTDOWN_STOPPED = (FINISHED, RETRACTED, DELETED_UNFINISHED)

# Which state may follow which when a person sets it. Finished is reached by recording the report
# (the report ID is NCMEC's answer to finish) and is final; a retracted or deleted report may be
# followed by a new one opened for the same escalation.
ALLOWED_NEXT = {
    NOT_OPENED: (OPENED,),
    OPENED: (NOT_OPENED, RETRACTED, DELETED_UNFINISHED),
    RETRACTED: (OPENED,),
    DELETED_UNFINISHED: (OPENED,),
    FINISHED: (),
}


def settled_state(state: str, *, opened_at: datetime | None, reported: bool) -> str:
    """The state a record implies whatever was typed: a recorded report (time and ID) was finished;
    an opening time with no state yet means a report is open at NCMEC (as before the state existed)."""
    if reported:
        return FINISHED
    if state == NOT_OPENED and opened_at is not None:
        return OPENED
    return state


def transition_error(
    old: str, new: str, *, opened_at: datetime | None, deletion_at: datetime | None, reported: bool, now: datetime
) -> str | None:
    """Why `new` may not follow `old`, in words for the field's message; None when it may."""
    if new not in SUBMISSION_LABELS:
        choices = ", ".join(value for value in SUBMISSION_LABELS if value)
        return f"Submission state {new[:40]!r} is not one of {choices} (or empty: not opened)."
    if new == old:
        return None
    if reported:
        return "Submission state is Finished: the report is recorded, and a finished report can't be changed."
    if new == FINISHED:
        return "Submission state becomes Finished when the report is recorded (its time and CyberTipline report ID)."
    if new not in ALLOWED_NEXT.get(old, ()):
        return (
            f"Submission state can't go from {SUBMISSION_LABELS[old]} to {SUBMISSION_LABELS[new]}: "
            + _what_may_follow(old)
        )
    if new == OPENED and opened_at is None:
        return "Submission state Opened needs NCMEC report opened: when was the report opened through NCMEC's API?"
    if new == DELETED_UNFINISHED and (deletion_at is None or as_utc(now) < deletion_at):
        when = f" until {as_utc(deletion_at):%Y-%m-%d %H:%M} UTC" if deletion_at else ""
        return f"Submission state can't be Deleted by NCMEC unfinished: NCMEC keeps an unfinished report{when}."
    return None


def _what_may_follow(old: str) -> str:
    following = [SUBMISSION_LABELS[state] for state in ALLOWED_NEXT.get(old, ())]
    if not following:
        return "a finished report is final (NCMEC allows no change or retraction after finish)."
    return "it may become " + " or ".join(following) + "."
