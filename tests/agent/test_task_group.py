"""A task group by text: tasks in order, going back to an earlier one, one summary in the history.

The example signup agent (graphs/signup_agent.py) with a scripted model making the calls
a real model would make; the tasks, the group's ``go_back`` tool and the summary are real.
"""

from __future__ import annotations

import pytest

from graphflow.agent.task_group import GO_BACK, TaskGroup, TaskGroupOptions
from graphflow.agent.tasks import GetEmailTask, GetPhoneNumberTask
from graphflow.agent.text import TextSession
from graphflow.errors import ConfigError
from graphs.signup_agent import Signup, SignupAgent

from .scripted import Call, Say, ScriptedModel, output_of

SIGNUP: list[Say | Call] = [
    Call("sign_up", text="Sure."),
    Say("What is your email address?"),  # the email task opens
    Call("update_email_address", {"email": "john dot smith at example dot com"}),
    Say("I have john dot smith at example dot com. Is that correct?"),
    Call("confirm_email_address"),
    Say("What is your phone number?"),  # the phone task opens in the same reply
    Call(GO_BACK, {"task_id": "email"}),  # "actually my email is wrong"
    Say("What is your email address?"),
    Call("update_email_address", {"email": "Jane dot Doe at example dot org"}),
    Say("I have jane dot doe at example dot org. Is that correct?"),
    Call("confirm_email_address"),
    Say("What is your phone number?"),  # back where the user left
    Call("update_phone_number", {"number": "five five five, one two three, four five six seven"}),
    Say("I have five five five, one two three, four five six seven. Is that correct?"),
    Call("confirm_phone_number"),
    Say("You are signed up. Thank you!"),  # the signup agent again
]


async def test_a_group_collects_in_order_goes_back_and_summarises() -> None:
    model = ScriptedModel(list(SIGNUP))
    data = Signup()
    async with TextSession(SignupAgent(), llm=model, userdata=data) as session:
        opened = await session.run("I'd like to sign up for the newsletter")
        opened.expect.contains_agent_handoff(new_agent=GetEmailTask)
        assert opened.text == "What is your email address?"
        await session.run("john dot smith at example dot com")
        moved_on = await session.run("yes")
        moved_on.expect.contains_agent_handoff(new_agent=GetPhoneNumberTask)
        assert moved_on.text == "What is your phone number?"

        phone = model.requests[5]  # the phone task shares the group's conversation
        assert phone.instructions.startswith("You collect the user's phone number")
        assert GO_BACK in phone.tools and "update_phone_number" in phone.tools
        assert "john dot smith at example dot com" in phone.said()
        assert GO_BACK not in model.requests[1].tools  # nothing to go back to from the first task

        back = await session.run("actually my email is wrong")
        back.expect.contains_agent_handoff(new_agent=GetEmailTask)
        assert back.text == "What is your email address?"
        assert isinstance(session.agent, GetEmailTask)
        await session.run("Jane dot Doe at example dot org")
        again = await session.run("yes")
        assert again.text == "What is your phone number?"
        await session.run("five five five, one two three, four five six seven")
        done = await session.run("yes, that's right")
        assert output_of(done, "sign_up").startswith("You are signed up with jane dot doe at example dot org")
        assert done.text == "You are signed up. Thank you!"

    assert data.email == "jane.doe@example.org" and data.phone == "5551234567"
    summary = "signup collected: email address: jane.doe@example.org; phone number: 5551234567."
    assert data.summary == summary
    # the caller's history: its own turn, one summary, its call and the call's output
    history = [(m.role, m.content) for m in session.chat.messages[1:] if m.role != "handoff"]
    assert history[:3] == [
        ("user", "I'd like to sign up for the newsletter"),
        ("system", summary),
        ("assistant", "Sure."),
    ]
    assert history[3][0] == "tool" and "jane dot doe" in history[3][1]
    assert not any("john" in content for _, content in history)
    answer = model.requests[-1]
    assert answer.instructions.startswith("You sign callers up")
    assert [m.role for m in answer.messages][-3:] == ["system", "assistant", "tool"]
    assert session.chat.pending_calls() == []


async def test_a_group_outside_a_session_step_or_without_tasks_is_refused() -> None:
    with pytest.raises(ConfigError, match="from a tool or a hook"):
        await TaskGroup().add(GetEmailTask, id="email", description="email")
    with pytest.raises(ConfigError, match="a new word"):
        TaskGroup(TaskGroupOptions()).add(GetEmailTask, id="e mail", description="email")
