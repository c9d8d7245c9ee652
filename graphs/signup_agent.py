"""A newsletter signup agent: a task group collects the caller's email address and phone number.

When the caller asks to sign up, the ``sign_up`` tool awaits a :class:`TaskGroup` of
:class:`GetEmailTask` and :class:`GetPhoneNumberTask`: each asks, reads back what it heard
and waits for a yes; on the phone number the caller may say "actually my email is wrong"
to go back. The tool then gets both results and the agent confirms the signup. Offline,
the local responder follows the agents' and tasks' rules::

    graphflow chat graphs/signup_agent.py                   # type to it
    graphflow run graphs/signup_agent.py --input call.wav   # or talk to it
    graphflow render graphs/signup_agent.py                 # its voice graph
"""

from __future__ import annotations

from dataclasses import dataclass

from graphflow.agent.agent import Agent
from graphflow.agent.options import SessionOptions
from graphflow.agent.session import AgentSession
from graphflow.agent.task import TaskAbandoned
from graphflow.agent.task_group import TaskGroup, TaskGroupOptions
from graphflow.agent.tasks import EmailResult, GetEmailTask, GetPhoneNumberTask, PhoneNumberResult
from graphflow.agent.tasks.spoken import digits_aloud, email_aloud
from graphflow.agent.tool_context import RunContext
from graphflow.agent.tools import function_tool
from graphflow.conversation.model import ToolRule
from graphflow.graph import Graph


@dataclass
class Signup:
    """What the signup collected (the session's user data)."""

    email: str = ""
    phone: str = ""
    summary: str = ""


class SignupAgent(Agent):
    """Signs callers up for the newsletter."""

    def __init__(self) -> None:
        super().__init__(
            "You sign callers up for the Graphflow newsletter. When they want to sign up, call sign_up. "
            "Keep answers short.",
            rules=[
                ToolRule(
                    when=r"\b(?:sign(?:ing)? (?:me )?up|signup|subscribe|register)\b",
                    call="sign_up",
                    say="Sure, let me take your details.",
                )
            ],
        )

    @function_tool
    async def sign_up(self, ctx: RunContext) -> str:
        """Sign the caller up: collects and confirms their email address and phone number."""
        group = TaskGroup(TaskGroupOptions(name="signup"))
        group.add(GetEmailTask, id="email", description="email address")
        group.add(GetPhoneNumberTask, id="phone", description="phone number")
        try:
            result = await group
        except TaskAbandoned as exc:
            return f"No problem, I have not signed you up ({exc.message})."
        email = result.get("email", EmailResult).address
        phone = result.get("phone", PhoneNumberResult).digits
        if isinstance(ctx.userdata, Signup):
            ctx.userdata.email, ctx.userdata.phone, ctx.userdata.summary = email, phone, result.summary
        return f"You are signed up with {email_aloud(email)} and {digits_aloud(phone)}. Thank you!"


def build_agent() -> Agent:
    """The agent ``graphflow chat`` talks to."""
    return SignupAgent()


def build_userdata() -> Signup:
    """The user data of a new conversation."""
    return Signup()


def build_session(options: SessionOptions | None = None) -> AgentSession:
    """The signup agent in the voice pipeline (``graphflow run graphs/signup_agent.py -i in.wav``)."""
    return AgentSession(options, agent=SignupAgent(), userdata=Signup())


def build_graph() -> Graph:
    """The voice graph the signup agent talks through (``graphflow render graphs/signup_agent.py``)."""
    return build_session().graph
