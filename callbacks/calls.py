"""What a call and an attempt can come to: Twilio's CallStatus values, the provider error codes that mean "never
works", and the outcomes of our attempts.

One vocabulary for the whole product: the attempt state machine, the retry policy, the provider adapters, the
simulator and the status webhook all read these sets (status callbacks carrying anything else are refused at the
edge).
"""

from __future__ import annotations

# Twilio's CallStatus values (the Call resource and status callbacks use the same words).
CALL_STATUSES = frozenset({"queued", "initiated", "ringing", "in-progress", "completed", "busy", "no-answer",
                           "failed", "canceled"})
# After one of these nothing more happens on a call.
TERMINAL_CALL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
ACTIVE_CALL_STATUSES = CALL_STATUSES - TERMINAL_CALL_STATUSES
# A call nobody has answered yet: what a cancel (Twilio's Status=canceled) can still stop.
CANCELABLE_CALL_STATUSES = frozenset({"queued", "initiated", "ringing"})
# Twilio error codes that mean "this number will never work" (invalid, unreachable, not permitted, blocked).
PERMANENT_ERROR_CODES = frozenset({"21211", "21214", "21215", "21216", "21217", "21401", "21407", "21610", "13224",
                                   "13223", "13225", "13227"})
# Twilio's AnsweredBy values (answering-machine detection).
ANSWERED_BY = frozenset({"human", "machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other",
                         "fax", "unknown"})


def is_machine(answered_by: str | None) -> bool:
    """True when answering-machine detection says a machine or a fax took the call."""
    return answered_by is not None and (answered_by.startswith("machine") or answered_by == "fax")


# -- outcomes of an attempt ----------------------------------------------------------------------------------------
CONNECTED = "connected"  # customer and agent talked at least min_talk_time
TOO_SHORT = "too_short"  # they were connected, but for less than min_talk_time
BUSY, NO_ANSWER, FAILED, CANCELED_CALL = "busy", "no-answer", "failed", "canceled"
VOICEMAIL = "voicemail"  # answering machine or fax on the customer's line
NO_AGENT = "no_agent"  # customer-first: the customer answered but no agent took the call
PERMANENT_ERROR = "permanent_error"  # the number cannot be called; retrying will not help
AGENT_UNAVAILABLE = "agent_unavailable"  # agent-first: the agent did not answer or did not press 1
NOT_PLACED = "not_placed"  # no call was placed (provider refused, 429, or the worker died before dialing)
CALLBACK_CLOSED = "callback_closed"  # the callback was closed (canceled, resolved) while the attempt ran

# Outcomes that used up one of the customer's attempts (we rang their phone and no conversation happened).
NOT_REACHED = frozenset({TOO_SHORT, BUSY, NO_ANSWER, FAILED, CANCELED_CALL, VOICEMAIL, NO_AGENT})
# Outcomes that did not disturb the customer: the callback goes straight back to the queue.
NOT_COUNTED = frozenset({AGENT_UNAVAILABLE, NOT_PLACED})
