"""The prebuilt tasks' reading of spoken forms, their read-back, and their answers to bad input."""

from __future__ import annotations

import pytest

from graphflow.agent.tasks import GetEmailTask, GetPhoneNumberTask
from graphflow.agent.tasks.spoken import digits_aloud, email_aloud, spoken_digits, spoken_email
from graphflow.agent.tools import ToolError


@pytest.mark.parametrize(
    ("said", "address"),
    [
        ("john dot smith at example dot com", "john.smith@example.com"),
        ("My email is John.Smith at example.com.", "john.smith@example.com"),  # as Whisper writes it
        ("it's j o h n at gmail dot com", "john@gmail.com"),  # spelled letters
        ("no, it is jane underscore doe at example dot co dot uk", "jane_doe@example.co.uk"),
        ("mary dash ann at sign mail dot org", "mary-ann@mail.org"),
        ("Ada@Lovelace.org", "ada@lovelace.org"),
    ],
)
def test_an_email_address_is_read_from_what_was_said(said: str, address: str) -> None:
    assert spoken_email(said) == address


@pytest.mark.parametrize("said", ["yes", "my email is at home", "john at example"])
def test_words_without_an_address_give_none(said: str) -> None:
    assert spoken_email(said) is None


@pytest.mark.parametrize(
    ("said", "digits"),
    [
        ("five five five, one two three, four five six seven", "5551234567"),
        ("555-123-4567", "5551234567"),
        ("oh, it's double five five oh one two three four five six", "5550123456"),
        ("plus four four twenty seven one two three four five six", "+4427123456"),
        ("nine one one, fifteen hundred", "9111500"),
        ("triple eight, two thousand", "8882000"),
    ],
)
def test_digits_are_read_from_what_was_said(said: str, digits: str) -> None:
    assert spoken_digits(said) == digits


def test_read_back_forms() -> None:
    assert email_aloud("jane_doe@example.co.uk") == "jane underscore doe at example dot co dot uk"
    assert digits_aloud("5551234567") == "five five five, one two three, four five six seven"
    assert digits_aloud("+4420123") == "plus four four two, zero one two three"


async def test_the_email_task_refuses_what_is_not_an_address_and_an_early_confirmation() -> None:
    task = GetEmailTask()
    with pytest.raises(ToolError, match="not an email address"):
        await task.update_email_address("my email is secret")
    with pytest.raises(ToolError, match="no address has been given"):
        await task.confirm_email_address()
    assert await task.update_email_address("bo at x dot io") == "I have bo at x dot io. Is that correct?"
    assert task.heard == "bo@x.io"


async def test_the_phone_task_wants_seven_to_fifteen_digits() -> None:
    task = GetPhoneNumberTask()
    with pytest.raises(ToolError, match="gives 3 digits"):
        await task.update_phone_number("one two three")
    with pytest.raises(ToolError, match="no number has been given"):
        await task.confirm_phone_number()
    assert await task.update_phone_number("five five five one two one two") == (
        "I have five five five, one two one two. Is that correct?"
    )
