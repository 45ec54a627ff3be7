"""GitHub workflow commands: escaped exactly as GitHub's toolkit escapes them (@actions/core command.ts).

The expected strings are the ones actions/toolkit's own tests (packages/core/__tests__/command.test.ts) assert
for issueCommand, so an annotation promptops prints is read by the runner as the toolkit's would be.
"""

from __future__ import annotations

from promptops.cli.output import github_annotation, workflow_command
from promptops.model import Diagnostic


def test_commands_are_escaped_as_the_toolkit_escapes_them() -> None:
    assert workflow_command("some-command", {}, "") == "::some-command::"
    assert workflow_command("some-command", {}, "percent % percent % cr \r cr \r lf \n lf \n") == (
        "::some-command::percent %25 percent %25 cr %0D cr %0D lf %0A lf %0A"
    )
    assert workflow_command("some-command", {}, "%25 %25 %0D %0D %0A %0A") == (
        "::some-command::%2525 %2525 %250D %250D %250A %250A"
    )
    value = "percent % percent % cr \r cr \r lf \n lf \n colon : colon : comma , comma ,"
    assert workflow_command("some-command", {"name": value}, "") == (
        "::some-command name=percent %25 percent %25 cr %0D cr %0D lf %0A lf %0A colon %3A colon %3A comma %2C "
        "comma %2C::"
    )
    assert workflow_command("some-command", {"prop1": "value 1", "prop2": "value 2"}, "some message") == (
        "::some-command prop1=value 1,prop2=value 2::some message"
    )
    assert workflow_command(
        "some-command", {"prop1": {"test": "object"}, "prop2": 123, "prop3": True}, {"test": "object"}
    ) == ('::some-command prop1={"test"%3A"object"},prop2=123,prop3=true::{"test":"object"}')


def test_an_annotation_cannot_end_early_or_start_another_command() -> None:
    hostile = Diagnostic("prompts/x,line=1::y.yaml", 3, None, "schema", "error", "bad\n::error file=INJECTED::x")
    assert github_annotation(hostile) == (
        "::error file=prompts/x%2Cline=1%3A%3Ay.yaml,line=3,title=promptops schema::bad%0A::error file=INJECTED::x"
    )
