"""`email.policy.default`, with the MIME headers' parses remembered for one message.

The stdlib re-parses a header from its text on every access, and the MIME headers are read
over and over: the feed parser alone parses each part's Content-Type about four times, and
get_body, get_content_type and get_filename do it again. That parsing is pure Python and was
about half the time spent on an ordinary message (and a Content-Type with thousands of
parameters took seconds per access). Parsed headers are immutable, so one object can serve
every access to the same (name, value): the memo lives and dies with the message's tree.
"""

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


class MemoPolicy(_EmailPolicy):
    memo: dict[tuple[str, str], Any] | None = None

    def __init__(self, *, memo: dict[tuple[str, str], Any] | None = None) -> None:
        super().__init__()
        # Policies refuse attribute assignment once built; the memo is set here, once.
        object.__setattr__(self, "memo", memo)

    def header_fetch_parse(self, name: str, value: str) -> Any:
        memo = self.memo
        if memo is None or type(value) is not str or name.lower() not in _MEMO_NAMES:
            return super().header_fetch_parse(name, value)
        key = (name, value)
        parsed = memo.get(key)
        if parsed is None:
            if len(value) <= _SHARED_MAX_CHARS:
                parsed = _shared(name, value)
            else:
                parsed = super().header_fetch_parse(name, value)
            memo[key] = parsed
        return parsed


def message_policy() -> MemoPolicy:
    """email.policy.default's settings (it is `EmailPolicy()` too), with a fresh memo."""
    return MemoPolicy(memo={})


# Short values recur across messages ("text/plain; charset=utf-8", "base64"): those parses are
# shared too, in a cache small enough not to matter.
_SHARED_MAX_CHARS = 200


@lru_cache(maxsize=256)
def _shared(name: str, value: str) -> Any:
    return policy.default.header_fetch_parse(name, value)
