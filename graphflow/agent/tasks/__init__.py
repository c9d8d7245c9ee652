"""Ready tasks: collect a piece of information by voice or text, confirm it by reading it back.

``await GetEmailTask()`` returns an :class:`~graphflow.agent.tasks.email.EmailResult`,
``await GetPhoneNumberTask()`` a :class:`~graphflow.agent.tasks.phone.PhoneNumberResult`;
both raise :class:`~graphflow.agent.task.TaskAbandoned` when the user declines.
"""

from graphflow.agent.tasks.email import EmailResult, EmailTaskOptions, GetEmailTask
from graphflow.agent.tasks.phone import GetPhoneNumberTask, PhoneNumberResult, PhoneTaskOptions

__all__ = [
    "EmailResult",
    "EmailTaskOptions",
    "GetEmailTask",
    "GetPhoneNumberTask",
    "PhoneNumberResult",
    "PhoneTaskOptions",
]
