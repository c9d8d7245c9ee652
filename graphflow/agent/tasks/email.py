"""``GetEmailTask``: ask for an email address, read it back, return it once the user confirms."""

from __future__ import annotations

from typing import Annotated

import msgspec

from graphflow.agent.task import AgentTask
from graphflow.agent.tasks.spoken import email_aloud, spoken_email
from graphflow.agent.tools import ToolError, function_tool
from graphflow.conversation.model import ToolRule

CONFIRM_WORDS = r"^\W*(?:yes|yeah|yep|correct|right|that's right|that is right|exactly|perfect)\b"
"""A reply that confirms what was read back (for the offline responder)."""
DECLINE_WORDS = r"\b(?:don't|do not|rather not|won't|skip)\b"
"""A reply that refuses to give the information (for the offline responder)."""


class EmailResult(msgspec.Struct, frozen=True):
    """A confirmed email address, in lower case."""

    address: str

    def summary(self) -> str:
        """The address, for a task group's summary."""
        return self.address


class EmailTaskOptions(msgspec.Struct, frozen=True):
    """What the task says first, and instructions added to its own."""

    ask: str = "What is your email address?"
    extra_instructions: str = ""


INSTRUCTIONS = (
    "You collect the user's email address. When they say it, call update_email_address with the "
    "address exactly as heard (spoken forms such as 'john dot smith at example dot com' are fine), "
    "then read back what the tool gives and ask them to confirm. When they confirm, call "
    "confirm_email_address. If they correct it, call update_email_address again. If they do not "
    "want to give one, call decline_email_capture. Do not talk about anything else."
)
"""What the task tells the model."""


class GetEmailTask(AgentTask[EmailResult]):
    """Collects an email address: normalises spoken forms, reads it back, returns an :class:`EmailResult`."""

    def __init__(self, options: EmailTaskOptions | None = None) -> None:
        self.options = options or EmailTaskOptions()
        extra = f" {self.options.extra_instructions}" if self.options.extra_instructions else ""
        super().__init__(
            INSTRUCTIONS + extra,
            rules=[
                ToolRule(
                    when=r"^(?P<email>(?=.*(?:@|\bat\b|\wat\w)).*(?:\.|\bdot\b).*)$",
                    call="update_email_address",
                    arguments={"email": '"{email}"'},
                ),
                ToolRule(
                    when=DECLINE_WORDS,
                    call="decline_email_capture",
                    arguments={"reason": '"the user did not want to give it"'},
                ),
                ToolRule(when=CONFIRM_WORDS, call="confirm_email_address"),
            ],
            name="GetEmailTask",
        )
        self.heard: str | None = None
        """The address read back and not yet confirmed."""

    async def on_enter(self) -> None:
        """Ask for the address."""
        if self.session is not None:
            await self.session.generate_reply(f'Ask for the email address: say "{self.options.ask}"')

    @function_tool
    async def update_email_address(
        self, email: Annotated[str, "the address as the user said it, e.g. john dot smith at example dot com"]
    ) -> str:
        """Record the email address the user gave (or corrected); returns what to read back."""
        address = spoken_email(email)
        if address is None:
            raise ToolError(f"'{email}' is not an email address; ask the user to say it again")
        self.heard = address
        return f"I have {email_aloud(address)}. Is that correct?"

    @function_tool
    async def confirm_email_address(self) -> str:
        """The user confirmed the address that was read back."""
        if self.heard is None:
            raise ToolError("no address has been given yet; ask the user for it")
        self.complete(EmailResult(address=self.heard))
        return f"confirmed: {self.heard}"

    @function_tool
    async def decline_email_capture(self, reason: Annotated[str, "why the user will not give one"]) -> str:
        """The user does not want to give an email address."""
        self.abandon(reason)
        return "the user declined"
