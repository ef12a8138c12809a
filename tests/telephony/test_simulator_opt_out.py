"""In the simulator, the person we call back presses 9 before the agent is bridged: they hear that we will not call
again, the call ends, the agent is told and freed, and the number is on the do-not-call list."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from callbacks.guard import OPTED_OUT
from callbacks.models import Agent, Attempt, Callback, DoNotCall
from scheduler.dispatcher import Dispatcher
from telephony.simulator.engine import Simulator
from tests.support.phone import add_agent
from tests.telephony import test_simulator_with_our_app as with_our_app

# The simulator against our real app, as the main simulator tests set it up.
app_config = with_our_app.app_config
wire = with_our_app.wire
sim = with_our_app.sim
provider = with_our_app.provider
CUSTOMER, AGENT_PHONE = with_our_app.CUSTOMER, with_our_app.AGENT_PHONE


def test_the_customer_presses_9_and_is_never_called_again(app: Any, sim: Simulator, provider: Any,
                                                          clock: Any) -> None:
    rt = app.extensions["ivr"]
    add_agent(app, "Sara", AGENT_PHONE)
    rt.service.request(phone=CUSTOMER, queue="general", language="en", channel="phone", actor="test")
    dispatcher = Dispatcher(rt.db, rt.centre, provider, clock, worker_id="test", base_url=rt.settings.public_base_url,
                            caller_id="+982191000000", sleep=lambda _s: None)
    assert dispatcher.tick().dialed == 1
    sim.run_due()
    agent_call = sim.ringing(AGENT_PHONE)[0]
    sim.answer(agent_call.sid)
    with_our_app.wait_for_gather(sim, agent_call.sid)
    sim.press(agent_call.sid, "1")
    assert sim.run_until(lambda: bool(sim.ringing(CUSTOMER)), 30)
    customer_call = sim.ringing(CUSTOMER)[0]
    sim.answer(customer_call.sid)
    with_our_app.wait_for_gather(sim, customer_call.sid)
    assert "press 9" in with_our_app.said(customer_call)
    sim.press(customer_call.sid, "9")
    assert sim.run_until(lambda: customer_call.ended and agent_call.ended, 60)
    assert agent_call.bridged_to is None
    assert "will not be called by us again" in with_our_app.said(customer_call)
    with rt.db.session() as session:
        callback = session.scalar(select(Callback))
        attempt = session.scalar(select(Attempt))
        assert (callback.status, attempt.outcome) == ("canceled", OPTED_OUT)
        assert session.get(DoNotCall, CUSTOMER) is not None
        assert session.scalar(select(Agent)).busy_call_sid is None
