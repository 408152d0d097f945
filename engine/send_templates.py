"""The templates a send needs: where they are looked for, and which of those
the planned notices need are missing.

Before anything goes out, every notice's template is looked for; if any is
missing, `MissingTemplatesError` lists them all and nothing is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from attrs import frozen

from dunlang import Policy

from .rendering import BUNDLED_TEMPLATES, KINDS, NoticeRenderer, NoticeTemplateError
from .send_plan import LETTER, NoticePlan
from .send_settings import SendingError, SendSettings


@frozen
class MissingTemplate:
    """A template that notices to send need and that no templates folder holds."""

    template: str
    kind: str
    """`letter` (an HTML file is needed) or `email` (a text file is needed)."""
    measure: str
    notices: int
    line: int | None = None
    """The line of the policy that defines the measure; None if it has none."""
    source: str = ""
    reason: str = ""
    """Which files were looked for, or why the name cannot be a template."""


class MissingTemplatesError(SendingError):
    """Notices to send need templates that do not exist: nothing is sent at all."""

    def __init__(
        self,
        missing: Sequence[MissingTemplate],
        policy_path: str,
        searched: str,
    ) -> None:
        self.missing = tuple(missing)
        self.policy_path = policy_path
        self.searched = searched
        count = len(self.missing)
        lines = [
            f"{count} template{' is' if count == 1 else 's are'} missing; "
            "nothing was sent:"
        ]
        for entry in self.missing:
            what = "letter" if entry.kind == LETTER else "e-mail"
            notices = f"{entry.notices} notice{'s' if entry.notices != 1 else ''}"
            place = f"{policy_path}:{entry.line}" if entry.line else policy_path
            unknown = (
                ""
                if entry.line
                else ", which this policy does not define (send with the policy "
                "the run used)"
            )
            lines.append(
                f"  {place}: the {what} template `{entry.template}` of measure "
                f"`{entry.measure}`{unknown} ({notices}): {entry.reason}"
            )
            if entry.source:
                lines.append(f"      {entry.source}")
        lines.append(f"searched: {searched}")
        super().__init__("\n".join(lines))


TEMPLATES_BESIDE_POLICY = "templates"
"""The folder beside a policy file that holds its templates, if it exists."""


def templates_folder(policy: Policy, settings: SendSettings) -> Path | None:
    """The company's templates folder: the one given, else `templates/` by the policy.

    A policy that names templates of its own can keep them in a folder
    `templates` next to the policy file; it is used when no folder is given.
    """
    if settings.templates is not None:
        return settings.templates
    policy_file = Path(policy.path)
    if not policy_file.is_file():
        return None
    beside = policy_file.parent / TEMPLATES_BESIDE_POLICY
    return beside if beside.is_dir() else None


def searched_folders(
    policy: Policy, settings: SendSettings, folder: Path | None
) -> str:
    """The folders templates were looked for in, as said to the user."""
    bundled = f"{BUNDLED_TEMPLATES} (bundled)"
    if folder is None:
        beside = Path(policy.path).parent / TEMPLATES_BESIDE_POLICY
        return (
            f"{bundled}; put the policy's templates into {beside} beside the "
            "policy, or name another folder with --templates"
        )
    given = "given" if settings.templates is not None else "beside the policy"
    return f"{folder} ({given}), {bundled}"


def missing_templates(
    plans: Sequence[NoticePlan], renderer: NoticeRenderer, policy: Policy
) -> list[MissingTemplate]:
    """The templates the notices need that exist not even in the fallback language.

    A letter needs its HTML file, an e-mail its text file. Whether a template
    that exists also renders is found out notice by notice, when it is sent.
    """
    needed: dict[tuple[str, str, str], int] = {}
    for plan in plans:
        if plan.channel is not None:
            key = (plan.template, plan.channel, plan.measure or "")
            needed[key] = needed.get(key, 0) + 1

    missing = []
    fallback = renderer.fallback_language
    for (template, kind, measure_name), notices in needed.items():
        try:
            renderer.choose(template, None, kind)
            continue
        except NoticeTemplateError as error:
            extension = KINDS[kind]
            # A name no file can have is refused; any other name is simply absent.
            reason = (
                error.reason
                if error.reason.startswith("refused")
                else f"neither {template}.{extension} nor "
                f"{template}.{fallback}.{extension} exists"
            )
        measure = policy.measures.get(measure_name)
        line = measure.span.line if measure is not None and measure.span.line else None
        missing.append(
            MissingTemplate(
                template,
                kind,
                measure_name,
                notices,
                line,
                policy.source_line(line) if line else "",
                reason,
            )
        )
    return sorted(missing, key=lambda m: (m.line or 0, m.template, m.kind))
