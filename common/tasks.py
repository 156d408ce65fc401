from celery import shared_task


@shared_task
def ping(token: str) -> str:
    """A task with no side effects, for checking that a worker consumes from the broker."""
    return f"pong:{token}"
