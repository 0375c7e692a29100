"""The delivery stage: campaigns and the send ledger.

``send.py`` sends an issue (plans, creates or resumes its campaign); ``creation.py``
records a campaign and stores its rendered contents; ``running.py`` locks and runs one;
``ledger.py`` is the send loop (batches recorded before they leave, accepted after the
provider says so) and ``preparing.py`` the batches it takes and prepares for its lanes;
``recipients.py`` says who gets which language; ``recovery.py`` settles batches left in
flight by a crash; ``campaigns.py`` reads where a campaign stands; ``personalize.py``
makes the per-recipient values; ``preflight.py`` checks everything a send needs before a
campaign row exists; ``trial.py`` sends test messages (send-test); ``cancel.py`` cancels
a campaign nobody is sending. The providers themselves are ``mailer.backends``, which
know nothing of the database.

Names are imported on first use, so importing one module of the stage (a runner's
``mailer.delivery.send``, ``mailer campaigns``' ``campaigns``) does not load the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:
    from .campaigns import CampaignResult as CampaignResult
    from .campaigns import campaign_result as campaign_result
    from .campaigns import list_campaigns as list_campaigns
    from .preflight import Preflight as Preflight
    from .preflight import preflight as preflight
    from .send import create_campaign as create_campaign
    from .send import plan as plan
    from .send import run_campaign as run_campaign
    from .send import send_issue as send_issue
    from .trial import send_test as send_test

#: public name -> the module of this package that defines it
_HOMES = {
    "CampaignResult": ".campaigns",
    "campaign_result": ".campaigns",
    "list_campaigns": ".campaigns",
    "Preflight": ".preflight",
    "preflight": ".preflight",
    "create_campaign": ".send",
    "plan": ".send",
    "run_campaign": ".send",
    "send_issue": ".send",
    "send_test": ".trial",
}

__all__ = sorted(_HOMES)

__getattr__ = lazy_exports(__name__, _HOMES)
