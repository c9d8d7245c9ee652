"""``GetPhoneNumberTask``: ask for a phone number, read its digits back, return them once confirmed."""

from __future__ import annotations

from typing import Annotated

import msgspec

from graphflow.agent.task import AgentTask
from graphflow.agent.tasks.email import CONFIRM_WORDS, DECLINE_WORDS
from graphflow.agent.tasks.spoken import digits_aloud, spoken_digits
from graphflow.agent.tools import ToolError, function_tool
from graphflow.conversation.model import ToolRule

MIN_DIGITS, MAX_DIGITS = 7, 15
"""How many digits a phone number has (E.164 allows at most 15)."""
_DIGIT = r"(?:\d|\b(?:zero|oh|one|two|three|four|five|six|seven|eight|nine|double|triple)\b)"


class PhoneNumberResult(msgspec.Struct, frozen=True):
    """A confirmed phone number: its digits, with a leading ``+`` when the user gave a country code."""

    digits: str

    def summary(self) -> str:
        """The digits, for a task group's summary."""
        return self.digits


class PhoneTaskOptions(msgspec.Struct, frozen=True):
    """What the task says first, and instructions added to its own."""

    ask: str = "What is your phone number?"
    extra_instructions: str = ""


INSTRUCTIONS = (
    "You collect the user's phone number. When they say it, call update_phone_number with the "
    "number exactly as heard (spoken digits such as 'five five five, oh one two' are fine), then "
    "read back what the tool gives and ask them to confirm. When they confirm, call "
    "confirm_phone_number. If they correct it, call update_phone_number again. If they do not "
    "want to give one, call decline_phone_number. Do not talk about anything else."
)
"""What the task tells the model."""


class GetPhoneNumberTask(AgentTask[PhoneNumberResult]):
    """Collects a phone number: digits from spoken forms, read back, returns a :class:`PhoneNumberResult`."""

    def __init__(self, options: PhoneTaskOptions | None = None) -> None:
        self.options = options or PhoneTaskOptions()
        extra = f" {self.options.extra_instructions}" if self.options.extra_instructions else ""
        super().__init__(
            INSTRUCTIONS + extra,
            rules=[
                ToolRule(
                    when=rf"^(?P<number>(?=(?:.*?{_DIGIT}){{{MIN_DIGITS - 2}}}).*)$",
                    call="update_phone_number",
                    arguments={"number": '"{number}"'},
                ),
                ToolRule(
                    when=DECLINE_WORDS,
                    call="decline_phone_number",
                    arguments={"reason": '"the user did not want to give it"'},
                ),
                ToolRule(when=CONFIRM_WORDS, call="confirm_phone_number"),
            ],
            name="GetPhoneNumberTask",
        )
        self.heard: str | None = None
        """The digits read back and not yet confirmed."""

    async def on_enter(self) -> None:
        """Ask for the number."""
        if self.session is not None:
            await self.session.generate_reply(f'Ask for the phone number: say "{self.options.ask}"')

    @function_tool
    async def update_phone_number(
        self, number: Annotated[str, "the number as the user said it, e.g. five five five, oh one two"]
    ) -> str:
        """Record the phone number the user gave (or corrected); returns what to read back."""
        digits = spoken_digits(number)
        count = len(digits.lstrip("+"))
        if not MIN_DIGITS <= count <= MAX_DIGITS:
            raise ToolError(
                f"'{number}' gives {count} digits; a phone number has {MIN_DIGITS} to {MAX_DIGITS}: "
                "ask the user to say it again"
            )
        self.heard = digits
        return f"I have {digits_aloud(digits)}. Is that correct?"

    @function_tool
    async def confirm_phone_number(self) -> str:
        """The user confirmed the number that was read back."""
        if self.heard is None:
            raise ToolError("no number has been given yet; ask the user for it")
        self.complete(PhoneNumberResult(digits=self.heard))
        return f"confirmed: {self.heard}"

    @function_tool
    async def decline_phone_number(self, reason: Annotated[str, "why the user will not give one"]) -> str:
        """The user does not want to give a phone number."""
        self.abandon(reason)
        return "the user declined"
