"""The delivery stage: campaigns and the send ledger.

``send.py`` creates, starts, locks and resumes campaigns and sends test messages;
``ledger.py`` is the send loop (batches recorded before they leave, accepted after the
provider says so); ``recipients.py`` says who gets which language; ``recovery.py`` settles
batches left in flight by a crash; ``campaigns.py`` reads where a campaign stands;
``personalize.py`` makes the per-recipient values. The providers themselves are
``mailer.backends``, which know nothing of the database.
"""

from __future__ import annotations

from .campaigns import CampaignResult, campaign_result, list_campaigns
from .send import create_campaign, plan, run_campaign, send_issue, send_test

__all__ = [
    "CampaignResult",
    "campaign_result",
    "create_campaign",
    "list_campaigns",
    "plan",
    "run_campaign",
    "send_issue",
    "send_test",
]
