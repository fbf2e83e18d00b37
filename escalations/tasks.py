"""Thin Celery tasks: the work and its state live in escalations.reminders.sweep and the database."""

from celery import shared_task

from escalations.reminders import sweep as reminders


@shared_task(acks_late=True, ignore_result=True)
def sweep_reminders() -> dict[str, int]:
    """One sweep. Safe to run twice or concurrently; a missed tick only makes the next one catch up."""
    from dataclasses import asdict

    return asdict(reminders.sweep())


@shared_task(acks_late=True, ignore_result=True)
def refresh_dashboard() -> int:
    """Count the dashboard's period part again for every period a lead looked at lately."""
    from escalations.compliance import dashboard_period

    return dashboard_period.refresh_viewed()
