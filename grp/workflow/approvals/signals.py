"""Signals of the approval engine (blinker, as Flask's own).

`approval_decided` is sent once when a request is approved, rejected or
cancelled, with the app as sender and `request` and `session` as keyword
arguments, in the transaction of the decision. Connect with the app as sender
so that only that app's decisions reach the receiver:

    approval_decided.connect(on_leave_decided, sender=app)
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

approval_decided = _signals.signal("grp-approval-decided")
