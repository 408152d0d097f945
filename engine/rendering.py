"""Notices written out from templates: letters as HTML and PDF, e-mails as text.

Templates run in Jinja's immutable sandbox: they see the notice's fields and
two filters (`money`, `date`) and nothing of Python beyond that. They are
loaded by name only, from a configured folder first and then from the bundled
one. A template that breaks a rule fails with a `NoticeTemplateError` naming
it, and nothing is returned. docs/letters.md describes it all for authors.
"""

from __future__ import annotations

import datetime as dt
import difflib
import logging
import re
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
from attrs import frozen
from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency
from fpdf import FPDF
from fpdf.enums import TextEmphasis
from fpdf.fonts import FontFace, TextStyle
from fpdf.html import HTML2FPDF
from jinja2 import (
    BaseLoader,
    Environment,
    StrictUndefined,
    TemplateNotFound,
    TemplateSyntaxError,
    Undefined,
    UndefinedError,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from .notices import (
    CurrencyTotal,
    Money,
    Notice,
    NoticeClaim,
    NoticeCustomer,
    NoticeError,
    Sender,
)

__all__ = ["NoticeRenderer", "NoticeTemplateError", "RenderedEmail", "TemplateChoice"]

log = logging.getLogger(__name__)

BUNDLED_TEMPLATES = Path(__file__).resolve().parent / "templates"
_FONTS = BUNDLED_TEMPLATES / "fonts"

# What a kind of notice is written as: letters in HTML, e-mails in plain text.
KINDS = {"letter": "html", "email": "txt"}

# The name a policy gives a template: no dots, which separate language and type.
_TEMPLATE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\Z")
# A template file: name, optional language, type. A leading `_` marks a part
# (a layout) that other templates include or extend but no policy names.
_FILE_NAME = re.compile(
    r"(?P<name>[A-Za-z0-9_][A-Za-z0-9_-]*)(?:\.(?P<language>[A-Za-z0-9-]+))?"
    r"\.(?P<type>html|txt)\Z"
)
_FILE_RULE = (
    "a template is loaded by its name only: letters, digits, '-' and '_', an "
    "optional language, and .html or .txt at the end (no '/', '\\' or '..')"
)


class NoticeTemplateError(NoticeError):
    """A template is missing, broken, or tried what the sandbox forbids."""

    def __init__(
        self, message: str, template: str | None = None, line: int | None = None
    ) -> None:
        self.template = template
        self.line = line
        self.reason = message
        where = f"template `{template}`" if template else "template"
        if line:
            where += f", line {line}"
        super().__init__(f"{where}: {message}" if template else message)


@frozen
class TemplateChoice:
    """The template file a notice is written from, and the locale it is formatted in."""

    name: str
    file: str
    language: str
    locale: str


@frozen
class RenderedEmail:
    """An e-mail written for a notice: one subject line and a plain-text body."""

    subject: str
    body: str
    template: str


def _check_kind(kind: str) -> None:
    """A notice is a letter or an e-mail."""
    if kind not in KINDS:
        raise NoticeTemplateError(
            f"`{kind}` is no kind of notice; known kinds: {', '.join(KINDS)}"
        )


def _split_language(language: str | None) -> tuple[str, str | None] | None:
    """`de-AT`, `de_at` or `DE` as (`de`, `AT`); None when it is no language tag."""
    if not language:
        return None
    parts = re.split(r"[-_]", language.strip())
    if not re.fullmatch(r"[A-Za-z]{2,3}", parts[0]):
        return None
    region = next(
        (p.upper() for p in parts[1:] if re.fullmatch(r"[A-Za-z]{2}|\d{3}", p)), None
    )
    return parts[0].lower(), region


def _babel_locale(language: str, region: str | None, otherwise: str = "en") -> str:
    """The most specific locale babel knows for a language and region."""
    for tag in ([f"{language}_{region}"] if region else []) + [language]:
        try:
            return str(Locale.parse(tag))
        except (UnknownLocaleError, ValueError):
            continue
    return otherwise


def _unchanged(path: Path) -> Callable[[], bool]:
    """Whether a template file is as it was when it was read."""
    mtime = path.stat().st_mtime
    return lambda: path.is_file() and path.stat().st_mtime == mtime


class _FolderLoader(BaseLoader):
    """Loads templates by file name only, from each folder in turn."""

    def __init__(self, folders: Iterable[Path]) -> None:
        self.folders = tuple(folder.resolve() for folder in folders)

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        if not _FILE_NAME.fullmatch(template):
            raise NoticeTemplateError(f"refused to load `{template}`: {_FILE_RULE}")
        for folder in self.folders:
            path = (folder / template).resolve()
            # A link that points out of the folder is as bad as a '..' in the name.
            if path.parent != folder or not path.is_file():
                continue
            text = path.read_text(encoding="utf-8")
            return text, str(path), _unchanged(path)
        raise TemplateNotFound(template)

    def list_templates(self) -> list[str]:
        names = {
            path.name
            for folder in self.folders
            if folder.is_dir()
            for path in folder.iterdir()
            if _FILE_NAME.fullmatch(path.name)
            and path.resolve().parent == folder
            and path.is_file()
        }
        return sorted(names)


def _check_printable(value: Any) -> Any:
    """Refuse to print amounts, dates and missing values unformatted."""
    if isinstance(value, Money | Decimal | float):
        raise NoticeTemplateError(
            "an amount is printed without the money filter; write it as "
            "{{ ... | money }}"
        )
    if isinstance(value, dt.date):
        raise NoticeTemplateError(
            "a date is printed without the date filter; write it as {{ ... | date }}"
        )
    if value is None:
        raise NoticeTemplateError(
            "a value that is not there (None) is printed; wrap it in "
            "{% if ... %} ... {% endif %}"
        )
    return value


def _fail_if_undefined(value: Any) -> None:
    """Report a missing variable or field as such, not as a wrong kind of value."""
    if isinstance(value, Undefined):
        str(value)  # a strict undefined raises the error that names what is missing


@pass_context
def _money(context: Context, value: Any, locale: str | None = None) -> str:
    """An amount in the notice's locale: 1234.5 EUR is "1.234,50 €" in de."""
    _fail_if_undefined(value)
    if not isinstance(value, Money):
        raise NoticeTemplateError(
            f"the money filter needs an amount with a currency, not {value!r}"
        )
    return format_currency(
        value.amount, value.currency, locale=locale or context["locale"]
    )


@pass_context
def _date(
    context: Context, value: Any, format: str = "medium", locale: str | None = None
) -> str:
    """A date in the notice's locale: "15.03.2024" in de, "Mar 15, 2024" in en."""
    _fail_if_undefined(value)
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise NoticeTemplateError(f"the date filter needs a date, not {value!r}")
    return format_date(value, format, locale=locale or context["locale"])


def _error_place(error: BaseException, folders: tuple[Path, ...]) -> tuple[str, int]:
    """The innermost template file and line an error was raised in."""
    place = ("", 0)
    trace = error.__traceback__
    while trace is not None:
        path = Path(trace.tb_frame.f_code.co_filename)
        if path.parent in folders:
            place = (path.name, trace.tb_lineno)
        trace = trace.tb_next
    return place


class NoticeRenderer:
    """Writes notices from the bundled templates and a company's own templates.

    `templates_folder`, if given, is searched before the bundled templates, so
    a file of the same name there replaces the bundled one. `fallback_language`
    is the language of the templates without a language in their name; it ends
    the search for a template and formats the amounts and dates they show.
    """

    def __init__(
        self,
        templates_folder: str | Path | None = None,
        *,
        fallback_language: str = "en",
    ) -> None:
        folders = [Path(templates_folder)] if templates_folder else []
        for folder in folders:
            if not folder.is_dir():
                raise NoticeTemplateError(
                    f"the templates folder {folder} does not exist"
                )
        self.loader = _FolderLoader([*folders, BUNDLED_TEMPLATES])
        self.fallback_language = fallback_language
        self.environment = ImmutableSandboxedEnvironment(
            loader=self.loader,
            autoescape=select_autoescape(["html"], default_for_string=False),
            undefined=StrictUndefined,
            finalize=_check_printable,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.environment.filters["money"] = _money
        self.environment.filters["date"] = _date

    def templates(self, kind: str = "letter") -> dict[str, tuple[str, ...]]:
        """Templates a policy can name for a kind of notice, and their languages."""
        _check_kind(kind)
        found: dict[str, set[str]] = {}
        for file in self.loader.list_templates():
            match = _FILE_NAME.fullmatch(file)
            assert match is not None
            if match["type"] != KINDS[kind] or file.startswith("_"):
                continue
            languages = found.setdefault(match["name"], set())
            languages.add(match["language"] or "fallback")
        return {name: tuple(sorted(found[name])) for name in sorted(found)}

    def choose(
        self, template: str, language: str | None, kind: str = "letter"
    ) -> TemplateChoice:
        """The file a notice in this language is written from, following the fallbacks.

        For `de-AT`: `NAME.de-AT`, `NAME.de`, then `NAME` (the fallback), then
        `NAME.<fallback language>`.
        """
        _check_kind(kind)
        if not _TEMPLATE_NAME.fullmatch(template):
            raise NoticeTemplateError(f"refused to load `{template}`: {_FILE_RULE}")

        extension = KINDS[kind]
        tag = _split_language(language)
        fallback = _babel_locale(self.fallback_language, None)
        candidates: list[tuple[str, str, str]] = []
        if tag is not None:
            customer_locale = _babel_locale(*tag, otherwise=fallback)
            if tag[1]:
                candidates.append((f"{tag[0]}-{tag[1]}", tag[0], customer_locale))
            candidates.append((tag[0], tag[0], customer_locale))
        candidates.append(("", self.fallback_language, fallback))
        candidates.append((self.fallback_language, self.fallback_language, fallback))

        existing = set(self.loader.list_templates())
        for suffix, template_language, locale in candidates:
            file = (
                f"{template}.{suffix}.{extension}"
                if suffix
                else f"{template}.{extension}"
            )
            if file in existing:
                log.debug("language %s: %s written from %s", language, template, file)
                return TemplateChoice(template, file, template_language, locale)
        raise self._not_found(template, language, kind)

    def _not_found(
        self, template: str, language: str | None, kind: str
    ) -> NoticeTemplateError:
        known = self.templates(kind)
        what = "e-mail" if kind == "email" else "letter"
        listing = ", ".join(
            f"{name} ({', '.join(langs)})" for name, langs in known.items()
        )
        if template in known:
            return NoticeTemplateError(
                f"the {what} template `{template}` has no version for language "
                f"{language or '(none)'} and no fallback; add {template}."
                f"{KINDS[kind]} or {template}.{self.fallback_language}.{KINDS[kind]} "
                f"(it exists for: {', '.join(known[template])})"
            )
        close = difflib.get_close_matches(template, list(known), n=1, cutoff=0.6)
        hint = f"did you mean `{close[0]}`? " if close else ""
        return NoticeTemplateError(
            f"there is no {what} template `{template}`; {hint}"
            f"known {what} templates: {listing or 'none'}"
        )

    def render_html(self, notice: Notice, template: str) -> str:
        """The letter for a notice as an HTML document."""
        return self._render(self.choose(template, notice.customer.language), notice)

    def render_pdf(self, notice: Notice, template: str) -> bytes:
        """The letter for a notice as a PDF, written from the same HTML."""
        return self.render_letter(notice, template)[1]

    def render_letter(self, notice: Notice, template: str) -> tuple[str, bytes]:
        """The letter for a notice as HTML and as the PDF made from it, with the
        template chosen and rendered once."""
        choice = self.choose(template, notice.customer.language)
        html = self._render(choice, notice)
        return html, self._pdf_of(html, notice, choice)

    def _pdf_of(self, html: str, notice: Notice, choice: TemplateChoice) -> bytes:
        try:
            return _pdf(html, notice, choice)
        except NoticeTemplateError as error:
            raise NoticeTemplateError(error.reason, choice.file) from error
        except Exception as error:
            # The PDF library's own words; where they say little, what it was.
            said = str(error)
            if len(said) < 8:
                said = f"{type(error).__name__} {said}".strip()
            raise NoticeTemplateError(
                f"the PDF cannot be made from it: {said}; the letter's HTML uses "
                "something the PDF writer cannot lay out (docs/letters.md lists "
                "what it can)",
                choice.file,
            ) from error

    def render_email(self, notice: Notice, template: str) -> RenderedEmail:
        """The e-mail for a notice: the `Subject:` line and the text after it."""
        choice = self.choose(template, notice.customer.language, "email")
        text = self._render(choice, notice)

        source = self.loader.get_source(self.environment, choice.file)[0]
        first_line = source.partition("\n")[0]
        if not first_line.lower().startswith("subject:"):
            raise NoticeTemplateError(
                "an e-mail template starts with a line `Subject: ...`, then an "
                "empty line, then the text",
                choice.file,
                1,
            )
        # The subject is what the first line of the template makes, even if a
        # value in it holds a line break; it is cut from the text by length.
        try:
            heading = self.environment.from_string(first_line)
            subject_line = heading.render(self._variables(notice, choice))
        except TemplateSyntaxError as error:
            raise NoticeTemplateError(
                f"the subject must be complete on the first line ({error.message})",
                choice.file,
                1,
            ) from error
        if not text.startswith(subject_line):
            raise NoticeTemplateError(
                "the first line cannot be told from the text; keep the subject "
                "line free of blocks and loops",
                choice.file,
                1,
            )

        # One line, always: a line break in a subject would start a new header.
        subject = " ".join(subject_line[len("subject:") :].split())
        if not subject:
            raise NoticeTemplateError("the subject line is empty", choice.file, 1)
        body = text[len(subject_line) :].lstrip("\r\n")
        return RenderedEmail(subject, body, choice.file)

    def _variables(self, notice: Notice, choice: TemplateChoice) -> dict[str, Any]:
        """What a template sees: the notice, its parts, and its language."""
        return {
            "notice": notice,
            "customer": notice.customer,
            "sender": notice.sender,
            "claims": notice.claims,
            "totals": notice.totals,
            "as_of": notice.as_of,
            "pay_by": notice.pay_by,
            "language": choice.language,
            "locale": choice.locale,
        }

    def _render(self, choice: TemplateChoice, notice: Notice) -> str:
        """The whole text of a template for a notice, or an error and no text at all."""
        variables = self._variables(notice, choice)
        try:
            return self.environment.get_template(choice.file).render(variables)
        except TemplateSyntaxError as error:
            name = Path(error.filename).name if error.filename else choice.file
            raise NoticeTemplateError(
                f"syntax error: {error.message}", name, error.lineno
            ) from error
        except Exception as error:
            file, line = _error_place(error, self.loader.folders)
            raise NoticeTemplateError(
                _explain(error), file or choice.file, line or None
            ) from error


_VARIABLES = "notice, customer, sender, claims, totals, as_of, pay_by, language, locale"
# What the objects a template sees are called in its author's words.
_THINGS: dict[str, tuple[str, type]] = {
    "Notice": ("a notice", Notice),
    "NoticeClaim": ("a claim", NoticeClaim),
    "NoticeCustomer": ("a customer", NoticeCustomer),
    "Sender": ("the sender", Sender),
    "CurrencyTotal": ("a total", CurrencyTotal),
    "Money": ("an amount", Money),
}


def _fields(cls: type) -> list[str]:
    """The fields and computed values of a notice record, as templates see them."""
    computed = [
        name for name, value in vars(cls).items() if isinstance(value, property)
    ]
    return [field.name for field in attrs.fields(cls)] + computed


def _explain(error: Exception) -> str:
    """What went wrong inside a template, in words for its author."""
    text = str(error)
    if isinstance(error, NoticeTemplateError):
        return error.reason
    if isinstance(error, SecurityError):
        match = re.search(r"attribute '([^']*)'", text)
        what = f"`{match[1]}`" if match else "this"
        return (
            f"not allowed: {what} is out of a template's reach; a template may "
            "read the notice's fields, but nothing whose name starts with '_' "
            "and nothing of Python itself"
        )
    if isinstance(error, TemplateNotFound):
        return f"it includes or extends `{error.name}`, which does not exist"
    if isinstance(error, UndefinedError):
        missing = re.fullmatch(r"'(\w+)' is undefined", text)
        if missing:
            return f"`{missing[1]}` is not defined; templates have {_VARIABLES}"
        field = re.fullmatch(
            r"'(?:[\w.]+\.)?(\w+) object' has no attribute '(\w+)'", text
        )
        if field and field[1] in _THINGS:
            thing, cls = _THINGS[field[1]]
            known = _fields(cls)
            close = difflib.get_close_matches(field[2], known, n=1, cutoff=0.6)
            hint = f"did you mean `{close[0]}`? " if close else ""
            return (
                f"{thing} has no field `{field[2]}`; {hint}"
                f"its fields: {', '.join(known)}"
            )
    return text or type(error).__name__


# ---- PDF ---------------------------------------------------------------------

# Letters are black on white; fpdf2 draws headings dark red and code in Courier.
_PDF_STYLES: dict[str, FontFace] = {
    "h1": TextStyle(color="#000000", font_size_pt=16, t_margin=4, b_margin=2),
    "h2": TextStyle(color="#000000", font_size_pt=13, t_margin=4, b_margin=2),
    "h3": TextStyle(color="#000000", font_size_pt=11, t_margin=3, b_margin=1),
    **{
        tag: TextStyle(color="#000000", font_size_pt=10, t_margin=2, b_margin=1)
        for tag in ("h4", "h5", "h6")
    },
    "code": FontFace(family="sans"),
    "pre": TextStyle(font_family="sans", t_margin=2),
}
_HIDDEN_TAGS = ("head", "title", "style", "script")
_TABLE_SIZE = 9


class _LetterHTML(HTML2FPDF):
    """fpdf2's HTML reader, less what a letter must not do.

    Nothing in <head> is drawn (its <title> becomes the PDF's title), <small>
    is drawn in 8 points and tables in 9, and an <img> is refused: fpdf2 would
    read it from a file or fetch it from a URL.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hidden: list[str] = []
        self.outer_size = self.font_size_pt

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            raise NoticeTemplateError(
                "a letter cannot show an image: the PDF would read it from a file "
                "or the network; leave out <img>"
            )
        if tag in _HIDDEN_TAGS:
            self.hidden.append(tag)
        elif self.hidden:
            return
        elif tag == "small":
            # fpdf2 knows no <small>; browsers know no <font size="8">.
            super().handle_starttag("font", [("size", "8")])
        elif tag == "table":
            # Eight columns of amounts fit an A4 page in 9 points, not in 10.
            self.outer_size = self.font_size_pt
            self.font_size_pt = _TABLE_SIZE
            super().handle_starttag(tag, attrs)
        else:
            super().handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if self.hidden:
            if tag == self.hidden[-1]:
                self.hidden.pop()
        else:
            super().handle_endtag("font" if tag == "small" else tag)
            if tag == "table":
                self.font_size_pt = self.outer_size

    def handle_data(self, data: str) -> None:
        if self.hidden == ["head", "title"] or self.hidden == ["title"]:
            self.pdf.set_title(" ".join(data.split()))
        elif not self.hidden:
            super().handle_data(data)


_FACES = {
    "": _FONTS / "LiberationSans-Regular.ttf",
    "B": _FONTS / "LiberationSans-Bold.ttf",
    # Limitation: no italic face is bundled; italics are drawn upright.
    "I": _FONTS / "LiberationSans-Regular.ttf",
    "BI": _FONTS / "LiberationSans-Bold.ttf",
}


class _LetterPDF(FPDF):
    """A letter's PDF. The italic faces of the letter font are read, and
    embedded, only once the letter uses them: reading and embedding a face
    is most of the time a letter takes, and most letters have no italics.
    (Regular and bold are always there: tables check for bold headings
    without asking for the font.)"""

    HTML2FPDF_CLASS = _LetterHTML

    def set_font(
        self, family: str | None = None, style: Any = "", size: float = 0
    ) -> None:
        letters = style.style if isinstance(style, TextEmphasis) else str(style)
        face = "".join(sorted(c for c in letters.upper() if c in "BI"))
        family_name = (family or self.font_family or "").lower()
        if family_name == "sans" and f"sans{face}" not in self.fonts:
            self.add_font("sans", face, str(_FACES[face]))
        super().set_font(family, style, size)


def _pdf(html: str, notice: Notice, choice: TemplateChoice) -> bytes:
    """An A4 PDF of a letter's HTML, the same bytes for the same notice."""
    pdf = _LetterPDF(format="A4")
    pdf.set_margins(left=20, top=15, right=20)
    pdf.set_auto_page_break(True, margin=15)
    for face in ("", "B"):
        pdf.add_font("sans", face, str(_FACES[face]))
    pdf.set_creation_date(dt.datetime.combine(notice.as_of, dt.time(), tzinfo=dt.UTC))
    pdf.set_author(notice.sender.name)
    pdf.set_lang(choice.language)
    pdf.add_page()
    pdf.set_font("sans", size=10)
    pdf.write_html(html, font_family="sans", tag_styles=_PDF_STYLES)

    missing = sorted(
        {
            chr(code)
            for font in pdf.fonts.values()
            for code in getattr(font, "missing_glyphs", [])
        }
    )
    if missing:
        raise NoticeTemplateError(
            "the PDF font cannot show these characters: "
            + ", ".join(f"{c!r} (U+{ord(c):04X})" for c in missing)
        )
    return bytes(pdf.output())
