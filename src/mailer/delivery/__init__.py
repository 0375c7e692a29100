"""The delivery stage: campaigns and the send ledger.

``send.py`` creates, starts, locks and resumes campaigns and sends test messages;
``ledger.py`` is the send loop (batches recorded before they leave, accepted after the
provider says so); ``recipients.py`` says who gets which language; ``recovery.py`` settles
batches left in flight by a crash; ``campaigns.py`` reads where a campaign stands;
``personalize.py`` makes the per-recipient values; ``preflight.py`` checks everything a
send needs before a campaign row exists; ``trial.py`` sends test messages (send-test);
``cancel.py`` cancels a campaign nobody is sending. The providers themselves are
``mailer.backends``, which know nothing of the database.
"""

from __future__ import annotations

from .campaigns import CampaignResult, campaign_result, list_campaigns
from .preflight import Preflight, preflight
from .send import create_campaign, plan, run_campaign, send_issue
from .trial import send_test

__all__ = [
    "CampaignResult",
    "Preflight",
    "campaign_result",
    "create_campaign",
    "list_campaigns",
    "plan",
    "preflight",
    "run_campaign",
    "send_issue",
    "send_test",
]
