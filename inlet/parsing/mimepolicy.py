"""`email.policy.default`, with the MIME headers' parses remembered for one message.

The stdlib re-parses a header from its text on every access, and the MIME headers are read
over and over: the feed parser alone parses each part's Content-Type about four times, and
get_body, get_content_type and get_filename do it again. That parsing is pure Python and was
about half the time spent on an ordinary message (and a Content-Type with thousands of
parameters took seconds per access). Parsed headers are immutable, so one object can serve
every access to the same (name, value): the memo lives and dies with the message's tree.

The stdlib's structured parse is also costly in memory: its tree takes about 1 KB per character
of the value, and every encoded word in it keeps the rest of the value (quadratic). A memoised
header keeps only what it was parsed into, not its tree; a value longer than _PARSE_MAX_CHARS,
or one past the message's _PARSE_BUDGET of characters parsed, is not given to the structured
parser at all but kept as text (_Unparsed). Nothing reads more than that text from these three
headers (get_param, get_content_type, get_filename and the feed parser read the string), except
is_attachment, which reads content_disposition: _Unparsed answers that too.
"""

import re
from email import policy
from email.message import EmailMessage
from email.policy import EmailPolicy
from functools import lru_cache
from typing import TYPE_CHECKING, Any

_MEMO_NAMES = frozenset({"content-type", "content-disposition", "content-transfer-encoding"})

if TYPE_CHECKING:
    _EmailPolicy = EmailPolicy[EmailMessage]
else:  # generic only in the stubs
    _EmailPolicy = EmailPolicy


# A value no legitimate MIME header comes near (RFC 2231 continuations of a long filename take
# a few hundred characters), and the characters one message may have parsed in all: about 7 s
# of the stdlib's parameter parsing at its slowest (~55 us a character).
_PARSE_MAX_CHARS = 4096
_PARSE_BUDGET = 128 * 1024
_LINE_BREAK = re.compile(r"[\r\n]")


class _Unparsed(str):
    """A MIME header value kept as its unfolded text (surrogate escapes replaced, as the
    stdlib's header objects have them), with the attribute is_attachment reads."""

    @property
    def content_disposition(self) -> str | None:
        return self.split(";", 1)[0].strip().lower() or None


def _unparsed(value: str) -> _Unparsed:
    text = _LINE_BREAK.sub("", value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return _Unparsed(text)


class _Memo:
    def __init__(self) -> None:
        self.parsed: dict[tuple[str, str], Any] = {}
        self.budget = _PARSE_BUDGET


class MemoPolicy(_EmailPolicy):
    memo: _Memo | None = None

    def __init__(self, *, memo: _Memo | None = None) -> None:
        super().__init__()
        # Policies refuse attribute assignment once built; the memo is set here, once.
        object.__setattr__(self, "memo", memo)

    def header_fetch_parse(self, name: str, value: str) -> Any:
        memo = self.memo
        if memo is None or type(value) is not str or name.lower() not in _MEMO_NAMES:
            return super().header_fetch_parse(name, value)
        key = (name, value)
        parsed = memo.parsed.get(key)
        if parsed is None:
            if len(value) <= _SHARED_MAX_CHARS:
                parsed = _shared(name, value)
            elif len(value) <= min(_PARSE_MAX_CHARS, memo.budget):
                memo.budget -= len(value)
                parsed = super().header_fetch_parse(name, value)
                _drop_tree(parsed)
            else:
                parsed = _unparsed(value)
            memo.parsed[key] = parsed
        return parsed


def _drop_tree(header: Any) -> None:
    """Free a parsed header's tree, which only refolding the header would read (the memo's
    headers are never written out: the message keeps its source values)."""
    if "_parse_tree" in getattr(header, "__dict__", {}):
        header._parse_tree = None


def message_policy() -> MemoPolicy:
    """email.policy.default's settings (it is `EmailPolicy()` too), with a fresh memo."""
    return MemoPolicy(memo=_Memo())


# Short values recur across messages ("text/plain; charset=utf-8", "base64"): those parses are
# shared too, in a cache small enough not to matter.
_SHARED_MAX_CHARS = 200


@lru_cache(maxsize=256)
def _shared(name: str, value: str) -> Any:
    parsed = policy.default.header_fetch_parse(name, value)
    _drop_tree(parsed)
    return parsed
