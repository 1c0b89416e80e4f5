"""Credential redaction and size budgeting for log lines shown to on-call in Slack.

A Slack channel is a wider audience than the AWS account the job runs in, and a
batch job's log holds whatever it printed: connection strings, env dumps, HTTP
headers, STS responses. So every line is redacted before it is counted or cut,
and the rules err towards hiding: a mangled word costs on-call a moment, a
leaked key costs a rotation and an incident.

Every pattern is compiled once and runs in linear time. Names and schemes are
anchored with a lookbehind so a match is only tried at the start of a run, and
the quantifiers that could otherwise retry (possessive ``*+``/``++``) give
nothing back; a 256 KB CloudWatch event cannot stall the Lambda.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from ecswatch.run import LogTail

REDACTED = "[REDACTED]"
ELLIPSIS = "…"

_Replacement = str | Callable[[re.Match[str]], str]

# --- PEM private keys ---------------------------------------------------------------------------------
_PEM_LABEL = r"(?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
_PEM_BEGIN = re.compile("-----BEGIN " + _PEM_LABEL)
_PEM_END = re.compile("-----END " + _PEM_LABEL)
# The body runs to the END marker, or to the end of the line when the key continues on later lines.
_PEM_ONE_LINE = re.compile(
    rf"(?P<begin>{_PEM_BEGIN.pattern})(?P<body>.*?)(?P<end>{_PEM_END.pattern}|\Z)",
    re.DOTALL,
)
# What a line inside a multi-line key block looks like: base64, an armor header, or nothing.
_PEM_BODY_LINE = re.compile(
    r"[ \t]*+(?:[A-Za-z0-9+/=]++|(?:Proc-Type|DEK-Info|Comment|Version|Hash):[^\r\n]*+)?[ \t\r]*+"
)

# --- URLs ----------------------------------------------------------------------------------------------
_SLACK_WEBHOOK = re.compile(
    r"(?P<keep>hooks\.slack(?:-gov)?\.com/(?:services|workflows|triggers)/)[A-Za-z0-9_/-]++"
)
# scheme://user:password@host; like urllib, the userinfo ends at the last "@" before "/", "?" or "#".
_URL_PASSWORD = re.compile(
    r"(?<![A-Za-z0-9+.-])(?P<keep>[A-Za-z][A-Za-z0-9+.-]*+://[^\s/?#@:]*+:)[^\s/?#]+(?=@)"
)
# Azure SAS signatures; "sig" is too short a word to look for inside every name.
_QUERY_SIG = re.compile(r"(?P<keep>[?&]sig=)[^&\s#\"']++")

# --- AWS -----------------------------------------------------------------------------------------------
# An AWS secret access key: 40 base64 characters, not part of a longer run.
_FORTY_BASE64 = r"[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"
# An access key id, and the secret when it follows directly (credentials CSV, "id:secret", "id secret").
_AWS_KEY_ID = re.compile(
    r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])"
    rf"(?:(?P<sep>(?=[ \t\"',:;|])[ \t\"']*+[,:;|]?+[ \t\"']*+){_FORTY_BASE64})?"
)
# "aws configure set aws_secret_access_key <secret>": the name and the secret with only blanks between.
_AWS_SECRET_AFTER_NAME = re.compile(
    rf"(?P<keep>(?<!\w)(?:aws_?)?secret_?access_?key[\"']?[ \t]++){_FORTY_BASE64}",
    re.IGNORECASE,
)

# --- name = value, "name": "value", name: value --------------------------------------------------------
_SENSITIVE_WORDS = (
    r"pass(?:word|wd|phrase)|pwd|secret|token|auth|signature"
    r"|(?:api|app|application|access|private)[_-]?key"
)
_AUTH_SCHEMES = r"Bearer|Basic|Token|Digest|Negotiate|NTLM|Bot|OAuth|ApiKey|SSWS|AWS4-HMAC-SHA256"
_PAIR = re.compile(
    # A name that starts a run (not inside a path or an ARN) and contains a sensitive word. Names
    # ending in Error/Exception are error codes followed by prose ("CannotPullContainerAuthError: ...").
    r"(?P<keep>(?<![\w.:/-])(?=[\w.-]*?(?:" + _SENSITIVE_WORDS + r"))[\w.-]++(?<!error)(?<!exception)"
    # Its closing quote (maybe escaped, for JSON inside JSON), the separator, and a kept auth scheme.
    # "name = value" and "name: value" may have blanks after the separator; "name= other" is empty.
    r"\\?[\"']?(?:[ \t]++(?::=|=>|[:=])[ \t]*+|:=|=>|=|:[ \t]*+)(?:(?:" + _AUTH_SCHEMES + r")[ \t]++)?)"
    r"(?:(?P<done>\[REDACTED\])"
    r"|\"(?P<dq>(?:[^\"\\]|\\.)*+)\""
    r"|'(?P<sq>(?:[^'\\]|\\.)*+)'"
    r"|\\\"(?P<edq>[^\"]*?)\\\""
    # A bare value stops at blanks, quotes, closing brackets, ";" "&" and ", "; it never opens a structure.
    r"|(?P<bare>[^\s\"'`,;&)}\]{\[](?:\[REDACTED\]|[^\s\"'`,;&)}\]]|,(?=[^\s\"',]))*+))",
    re.IGNORECASE,
)
_SCHEME_PREFIX = re.compile(r"(?:" + _AUTH_SCHEMES + r")[ \t]++(?=\S)", re.IGNORECASE)

# --- tokens recognisable by their shape ----------------------------------------------------------------
_JWT = re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]*+\.eyJ[A-Za-z0-9_-]*+\.[A-Za-z0-9_-]*+")
_GITHUB_TOKEN = re.compile(r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{20,}+|github_pat_[A-Za-z0-9_]{20,}+)")
_SLACK_TOKEN = re.compile(r"(?<![A-Za-z0-9-])(?:xox[abposre]|xapp)-[A-Za-z0-9-]{10,}+")
_STRIPE_KEY = re.compile(
    r"(?<![A-Za-z0-9])(?:[sr]k_(?:live|test)_[A-Za-z0-9]{10,}+|whsec_[A-Za-z0-9+/=]{16,}+)"
)


def _mask_pem(match: re.Match[str]) -> str:
    """Keep the markers so on-call sees that a key was printed; a bare BEGIN line stays as it is."""
    if not match["body"].strip():
        return match[0]
    return match["begin"] + REDACTED + match["end"]


def _mask_key_id(match: re.Match[str]) -> str:
    sep = match["sep"]
    return REDACTED if sep is None else REDACTED + sep + REDACTED


def _mask_value(value: str) -> str:
    """Keep an auth scheme ("Bearer ") because it tells on-call which kind of credential was sent."""
    scheme = _SCHEME_PREFIX.match(value)
    return value[: scheme.end()] + REDACTED if scheme else REDACTED


def _mask_pair(match: re.Match[str]) -> str:
    group = next((name for name in ("dq", "sq", "edq", "bare") if match[name]), None)
    if group is None:  # already redacted, or an empty value: nothing to hide
        return match[0]
    start, end = match.span(group)
    offset = match.start()
    text = match[0]
    return text[: start - offset] + _mask_value(match[group]) + text[end - offset :]


_KEEP_AND_REDACT = r"\g<keep>" + REDACTED

# Order matters: whole structures (PEM blocks, URLs, key pairs) before names, names before shapes, so
# each secret is hidden by the rule that keeps the most context around it.
_RULES: tuple[tuple[re.Pattern[str], _Replacement], ...] = (
    (_PEM_ONE_LINE, _mask_pem),
    (_SLACK_WEBHOOK, _KEEP_AND_REDACT),
    (_URL_PASSWORD, _KEEP_AND_REDACT),
    (_AWS_KEY_ID, _mask_key_id),
    (_AWS_SECRET_AFTER_NAME, _KEEP_AND_REDACT),
    (_PAIR, _mask_pair),
    (_QUERY_SIG, _KEEP_AND_REDACT),
    (_JWT, REDACTED),
    (_GITHUB_TOKEN, REDACTED),
    (_SLACK_TOKEN, REDACTED),
    (_STRIPE_KEY, REDACTED),
)


def redact(line: str) -> str:
    """Hide the credentials in one log line and keep everything else as it was."""
    for pattern, replacement in _RULES:
        line = pattern.sub(replacement, line)
    return line


def _opens_pem_block(line: str) -> bool:
    """True when the line's last private-key BEGIN marker has no END after it: the key goes on."""
    begins = list(_PEM_BEGIN.finditer(line))
    return bool(begins) and _PEM_END.search(line, begins[-1].end()) is None


def _in_pem_block_after(line: str, in_block: bool) -> bool:
    """Whether a multi-line key block is open after this line.

    Inside a block, a line that does not look like key material ends it, so a key printed
    without its END marker cannot hide the rest of the log.
    """
    if not in_block:
        return _opens_pem_block(line)
    end = _PEM_END.search(line)
    if end:
        return _opens_pem_block(line[end.start() :])
    return _PEM_BODY_LINE.fullmatch(line) is not None


def _redact_in_pem_block(line: str) -> str:
    end = _PEM_END.search(line)
    if end:
        body = line[: end.start()]
        return (REDACTED if body.strip() else body) + redact(line[end.start() :])
    if _PEM_BODY_LINE.fullmatch(line):
        return REDACTED if line.strip() else line
    return redact(line)


def _redact_lines(lines: Sequence[str], skip: int) -> list[str]:
    """Redact all but the first ``skip`` lines, oldest first.

    Lines are followed in order because awslogs stores a key printed to stdout as one event
    per line: only the BEGIN line says that the base64 lines after it are a key. Skipped
    lines are not redacted (they will not be shown) but still tell whether a block is open.
    """
    redacted: list[str] = []
    in_block = False
    for index, line in enumerate(lines):
        if index >= skip:
            redacted.append(_redact_in_pem_block(line) if in_block else redact(line))
        in_block = _in_pem_block_after(line, in_block)
    return redacted


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8"))


def _encodable(line: str) -> str:
    """JSON from CloudWatch may carry lone surrogates, which cannot be encoded for Slack or counted."""
    return line.encode("utf-8", "replace").decode("utf-8")


def _cut_chars(line: str, max_chars: int) -> str:
    return line if len(line) <= max_chars else line[: max_chars - 1] + ELLIPSIS


def _cut_bytes(line: str, max_bytes: int) -> str | None:
    """The longest head of the line that fits with its ellipsis, cut between characters; None if none fits."""
    room = max_bytes - _utf8_size(ELLIPSIS)
    if room <= 0:
        return None
    head = line.encode("utf-8")[:room].decode("utf-8", "ignore")
    return head + ELLIPSIS if head else None


def _newest_that_fit(lines: Sequence[str], max_bytes: int) -> list[str]:
    """The newest lines whose "\\n"-joined UTF-8 size fits, in log order.

    Stops at the first line that does not fit rather than skipping to older, shorter
    ones, so the tail stays contiguous. When not even the newest line fits, its head
    is shown: a cut last line says more than an empty tail.
    """
    kept: list[str] = []
    used = 0
    for line in reversed(lines):
        cost = _utf8_size(line) + (1 if kept else 0)
        if used + cost > max_bytes:
            head = None if kept else _cut_bytes(line, max_bytes)
            if head is not None:
                kept.append(head)
            break
        kept.append(line)
        used += cost
    kept.reverse()
    return kept


def fit_tail(lines: Sequence[str], *, max_lines: int, max_bytes: int, max_line_chars: int = 500) -> LogTail:
    """Redact each line, keep the NEWEST lines that fit max_lines and max_bytes (UTF-8 bytes of lines
    joined by "\\n"), cut over-long lines with "…", never split a multi-byte character, and set
    truncated=True when anything was dropped or cut.

    Redaction comes first, so the budget counts what is shown and no cut can leave half a secret
    that the patterns no longer recognise.
    """
    if max_lines < 0 or max_bytes < 0 or max_line_chars < 1:
        raise ValueError(
            "limits must be max_lines >= 0, max_bytes >= 0, max_line_chars >= 1; "
            f"got {max_lines}, {max_bytes}, {max_line_chars}"
        )
    skip = max(0, len(lines) - max_lines)
    redacted = _redact_lines([_encodable(line) for line in lines], skip)
    kept = _newest_that_fit([_cut_chars(line, max_line_chars) for line in redacted], max_bytes)
    whole = redacted[len(redacted) - len(kept) :]
    truncated = skip > 0 or len(kept) < len(redacted) or kept != whole
    return LogTail(lines=tuple(kept), truncated=truncated, note=None)
