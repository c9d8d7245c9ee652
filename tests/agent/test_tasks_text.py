"""Tasks by text: a tool awaits a task, later turns reach it, the caller continues with the result.

The model is scripted (the calls a real model would make); the tasks' tools, their
parsing of spoken forms, the read-back, the runner and the history are the real ones.
"""

from __future__ import annotations

import asyncio

from graphflow.agent.agent import Agent
from graphflow.agent.replies import ToolLoopOptions
from graphflow.agent.task import AgentTask, TaskAbandoned
from graphflow.agent.tasks import EmailResult, GetEmailTask
from graphflow.agent.text import TextSession
from graphflow.agent.tool_context import RunContext
from graphflow.agent.tools import StopResponse, function_tool

from .scripted import Call, Say, ScriptedModel, output_of

CALLER = "You help the user; call collect_email when they want to leave their email."


class Caller(Agent):
    """Awaits a GetEmailTask from a tool, and keeps what came of it."""

    def __init__(self) -> None:
        super().__init__(CALLER)
        self.task: GetEmailTask | None = None
        self.outcome: EmailResult | TaskAbandoned | None = None

    @function_tool
    async def collect_email(self, ctx: RunContext) -> str:
        """Collect the user's email address."""
        self.task = GetEmailTask()
        try:
            self.outcome = await self.task
        except TaskAbandoned as exc:
            self.outcome = exc
            return f"no email: {exc.message}"
        return f"the user's email is {self.outcome.address}"

    @function_tool
    async def other_agent(self) -> Agent:
        """Hand over to another agent."""
        return Agent("another agent", name="Other")


def in_charge(session: TextSession) -> Agent:
    """The agent answering now (a call, so that each check reads it afresh)."""
    return session.agent


def email_script(address: str, *, confirm: bool = True) -> list[Say | Call]:
    """The model's side of collecting ``address`` (spoken) from a tool."""
    ending: list[Say | Call] = [Call("confirm_email_address"), Say("Thanks, I noted it.")] if confirm else []
    return [
        Call("collect_email", text="Sure."),
        Say("What is your email address?"),
        Call("update_email_address", {"email": address}),
        Say("I have it. Is that correct?"),
        *ending,
    ]


async def test_a_tool_awaits_a_task_and_the_caller_answers_with_its_result() -> None:
    model = ScriptedModel(email_script("John dot Smith at Example dot com."))
    agent = Caller()
    async with TextSession(agent, llm=model) as session:
        first = await session.run("I'd like to leave my email")
        first.expect.next_event().is_function_call(name="collect_email")
        first.expect.next_event().is_agent_handoff(new_agent=GetEmailTask)
        first.expect.next_event().is_message(contains="What is your email address?")
        first.expect.no_more_events()
        assert in_charge(session) is agent.task  # the task answers the next turns
        opening = model.requests[1]  # the task speaks from its own instructions and tools
        assert opening.instructions.startswith("You collect the user's email address")
        assert opening.tools == ("update_email_address", "confirm_email_address", "decline_email_capture")
        assert "collect_email" not in str(opening.messages)  # not the caller's conversation

        second = await session.run("John dot Smith at Example dot com.")
        second.expect.contains_function_call(name="update_email_address")
        assert output_of(second, "update_email_address") == (
            "I have john dot smith at example dot com. Is that correct?"
        )

        third = await session.run("yes")
        third.expect.next_event().is_function_call(name="confirm_email_address")
        third.expect.next_event().is_function_call_output(contains="john.smith@example.com")
        third.expect.next_event().is_agent_handoff(new_agent=Caller)
        third.expect.next_event().is_function_call_output(
            contains="the user's email is john.smith@example.com"
        )
        third.expect.next_event().is_message(contains="Thanks, I noted it.")
        assert agent.outcome == EmailResult(address="john.smith@example.com")
        assert in_charge(session) is agent
        answer = model.requests[-1]  # the caller reads the result as its tool's output
        assert answer.instructions == CALLER
        assert answer.messages[-1].role == "tool"
        assert answer.messages[-1].content == "the user's email is john.smith@example.com"
        # the sub-conversation left the history for the task's own record
        roles = [(m.role, m.content) for m in session.chat.messages]
        assert roles[1] == ("user", "I'd like to leave my email")
        assert not any("update_email_address" in str(m.tool_calls) for m in session.chat.messages)
        assert agent.task is not None
        assert any(m.role == "user" and "Smith" in m.content for m in agent.task.chat.messages)
        assert session.chat.pending_calls() == []
        assert session.replies.tasks.active == []


async def test_a_user_who_declines_makes_the_awaiting_tool_raise() -> None:
    decline = Call("decline_email_capture", {"reason": "the user would rather not"})
    script = [*email_script("", confirm=False)[:2], decline, Say("No problem.")]
    agent = Caller()
    async with TextSession(agent, llm=ScriptedModel(script)) as session:
        await session.run("take my email")
        result = await session.run("no, I don't want to give it")
        assert output_of(result, "collect_email").startswith("no email")
        assert isinstance(agent.outcome, TaskAbandoned)
        assert agent.outcome.message == "the user would rather not"
        assert in_charge(session) is agent


async def test_the_session_ending_abandons_the_task_and_the_awaiting_tool_hears_it() -> None:
    agent = Caller()
    session = TextSession(agent, llm=ScriptedModel(email_script("x", confirm=False)[:2]))
    await session.start()
    await session.run("take my email")
    assert in_charge(session) is agent.task
    await session.aclose()
    assert isinstance(agent.outcome, TaskAbandoned)
    assert agent.outcome.message == "the session ended"
    assert session.replies.tasks.active == [] and session.replies.tasks.closed
    assert in_charge(session) is agent


async def test_the_tools_timeout_does_not_run_while_the_user_talks_to_the_task() -> None:
    agent = Caller()
    loop = ToolLoopOptions(timeout_s=0.2)
    async with TextSession(
        agent, llm=ScriptedModel(email_script("a at b dot io")), tool_loop=loop
    ) as session:
        await session.run("take my email")
        await asyncio.sleep(0.4)  # longer than the tool may take
        await session.run("a at b dot io")
        await asyncio.sleep(0.4)
        result = await session.run("yes")
        assert output_of(result, "collect_email") == "the user's email is a@b.io"
        assert agent.outcome == EmailResult(address="a@b.io")


async def test_a_handoff_from_inside_a_task_abandons_it() -> None:
    class Handing(GetEmailTask):
        @function_tool
        async def transfer(self) -> Agent:
            """Hand the call to a person."""
            return Agent("a person takes over", name="Person")

    class Starter(Caller):
        @function_tool
        async def collect_email(self, ctx: RunContext) -> str:
            """Collect the user's email address."""
            try:
                await Handing()
            except TaskAbandoned as exc:
                return f"no email: {exc.message}"
            return "got it"

    script: list[Say | Call] = [
        Call("collect_email"),
        Say("What is your email address?"),
        Call("transfer"),
        Say("A person will help you."),
    ]
    async with TextSession(Starter(), llm=ScriptedModel(script)) as session:
        await session.run("take my email")
        result = await session.run("let me talk to a person")
        assert output_of(result, "collect_email") == "no email: the conversation was handed over to Person"
        assert session.agent.name == "Person"
        assert session.replies.tasks.active == []


async def test_a_hook_may_await_a_task() -> None:
    class Greeter(Agent):
        def __init__(self) -> None:
            super().__init__("You greet the user.")
            self.email = ""

        async def on_enter(self) -> None:
            self.email = (await GetEmailTask()).address
            await self.session.generate_reply("Thank the user for their email.")

    script: list[Say | Call] = [
        Say("What is your email address?"),
        Call("update_email_address", {"email": "ada at lovelace dot org"}),
        Say("I have it. Correct?"),
        Call("confirm_email_address"),
        Say("Thank you!"),
    ]
    model = ScriptedModel(script)
    agent = Greeter()
    session = TextSession(agent, llm=model)
    opened = await session.start()
    try:
        opened.expect.contains_message(contains="What is your email address?")
        await session.run("ada at lovelace dot org")
        result = await session.run("yes")
        result.expect.contains_message(contains="Thank you!")
        assert agent.email == "ada@lovelace.org"
        assert model.requests[-1].instructions == "You greet the user."
        assert model.requests[-1].messages[-1].content == "Thank the user for their email."
    finally:
        await session.aclose()


async def test_a_caller_that_stops_the_reply_after_its_task_is_not_asked_again() -> None:
    class Stopping(Caller):
        @function_tool
        async def collect_email(self, ctx: RunContext) -> str:
            """Collect the user's email address, then end the reply."""
            address = (await GetEmailTask()).address
            raise StopResponse(f"saved {address}")

    model = ScriptedModel(email_script("bo at x dot io", confirm=True)[:-1])  # no answer after the stop
    async with TextSession(Stopping(), llm=model) as session:
        for line in ("take my email", "bo at x dot io"):
            await session.run(line)
        result = await session.run("yes")
        assert output_of(result, "collect_email") == "saved bo@x.io"
        assert model.script == []  # the model was not asked again
        assert [e.type for e in result.events][-2:] == ["handoff", "function_output"]


async def test_tasks_nest_a_tasks_tool_may_await_another_task() -> None:
    class Profile(AgentTask[str]):
        def __init__(self) -> None:
            super().__init__("You build the user's profile; call get_email first.")

        @function_tool
        async def get_email(self) -> str:
            """Ask for the email address."""
            address = (await GetEmailTask()).address
            self.complete(f"profile of {address}")
            return address

    class Outer(Caller):
        @function_tool
        async def collect_email(self, ctx: RunContext) -> str:
            """Build the profile."""
            return await Profile()

    script: list[Say | Call] = [
        Call("collect_email"),
        Say("Let us build your profile."),  # Profile opens
        Call("get_email"),
        Say("What is your email address?"),  # GetEmailTask opens, inside Profile
        Call("update_email_address", {"email": "bo at x dot io"}),
        Say("Correct?"),
        Call("confirm_email_address"),
        Say("Your profile is ready."),  # both tasks ended: the caller answers
    ]
    model = ScriptedModel(script)
    agent = Outer()
    async with TextSession(agent, llm=model) as session:
        await session.run("build my profile")
        await session.run("sure")
        assert [type(f.task).__name__ for f in session.replies.tasks.active] == ["Profile", "GetEmailTask"]
        await session.run("bo at x dot io")
        result = await session.run("yes")
        assert output_of(result, "collect_email") == "profile of bo@x.io"
        assert result.text == "Your profile is ready."
        assert in_charge(session) is agent and session.replies.tasks.active == []
        assert model.requests[-1].instructions == CALLER
        assert session.chat.pending_calls() == []


async def test_the_on_enter_of_an_agent_handed_to_may_await_a_task() -> None:
    class Checkout(Agent):
        def __init__(self) -> None:
            super().__init__("You take the order.", name="Checkout")
            self.email = ""

        async def on_enter(self) -> None:
            self.email = (await GetEmailTask()).address
            await self.session.generate_reply("Say the order is on its way.")

    class Front(Agent):
        def __init__(self) -> None:
            super().__init__("You greet.")
            self.checkout = Checkout()

        @function_tool
        async def to_checkout(self) -> Agent:
            """Go to the checkout."""
            return self.checkout

    script: list[Say | Call] = [
        Call("to_checkout"),
        Say("What is your email address?"),
        Call("update_email_address", {"email": "bo at x dot io"}),
        Say("Correct?"),
        Call("confirm_email_address"),
        Say("Your order is on its way."),
    ]
    model = ScriptedModel(script)
    front = Front()
    async with TextSession(front, llm=model) as session:
        await session.run("I want to pay")
        assert isinstance(in_charge(session), GetEmailTask)
        await session.run("bo at x dot io")
        result = await session.run("yes")
        result.expect.contains_agent_handoff(new_agent="Checkout")
        assert result.text == "Your order is on its way."
        assert in_charge(session) is front.checkout and front.checkout.email == "bo@x.io"
        assert model.requests[-1].instructions == "You take the order."
        said = [m for m in model.requests[-1].messages if m.role != "handoff"]
        assert said[-1].content == "Say the order is on its way."


async def test_a_task_that_cannot_open_leaves_the_caller_in_charge() -> None:
    class Broken(GetEmailTask):
        async def on_enter(self) -> None:
            raise RuntimeError("no question to ask")

    class Trying(Caller):
        @function_tool
        async def collect_email(self, ctx: RunContext) -> str:
            """Collect the user's email address."""
            return (await Broken()).address

    model = ScriptedModel([Call("collect_email"), Say("Sorry, I cannot take it now.")])
    agent = Trying()
    async with TextSession(agent, llm=model) as session:
        result = await session.run("take my email")
        assert output_of(result, "collect_email") == "the tool raised RuntimeError: no question to ask"
        assert result.text == "Sorry, I cannot take it now."
        assert in_charge(session) is agent and session.replies.tasks.active == []
        assert [m.role for m in session.chat.messages] == ["system", "user", "assistant", "tool", "assistant"]
