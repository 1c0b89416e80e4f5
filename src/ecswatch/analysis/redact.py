"""Credential redaction for every text that leaves the function, and size budgeting for log tails.

A Slack channel or a Datadog event stream is a wider audience than the AWS account
the job runs in, and a batch job's texts hold whatever it wrote: its log (connection
strings, env dumps, HTTP headers, STS responses), a container ``reason`` or a
``stoppedReason`` (an image reference with a registry robot's password), CloudTrail's
``errorMessage``. One redaction serves them all: log lines here (before each is counted
or cut), a task event's reasons where the run report is built (:func:`redacted_event`),
a failed launch's AWS texts where it is built (:func:`redacted_launch`), and what the
CLI prints. The rules err towards hiding: a mangled word costs on-call a moment, a
leaked key costs a rotation and an incident; ``tests/data/ordinary-log-lines.txt``
keeps the mangling of ordinary lines under 1%.

Every pattern is compiled once, on first use, and runs in linear time. Names and schemes are
anchored with a lookbehind so a match is only tried at the start of a run, and
the quantifiers that could otherwise retry (possessive ``*+``/``++``) give
nothing back; a 256 KB CloudWatch event cannot stall the Lambda. Most rules are tried
only on lines that contain a word they need (a cheap ``in`` test), so an ordinary line
costs a few scans, not one per rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence

import msgspec

from ecswatch.events.cloudtrail import LaunchAttempt, PlacementFailure
from ecswatch.events.task import TaskEvent
from ecswatch.run import LogTail

REDACTED = "[REDACTED]"
ELLIPSIS = "…"

_Replacement = str | Callable[[re.Match[str]], str]


class _Pattern:
    """A regular expression compiled on its first use, not at import.

    The rules are gated by words, so most texts need few of them, and compiling all of them costs
    ~8 ms: a cold start pays only for the rules its texts need (``re``'s own cache is not used,
    since it keeps only 512 patterns for the whole process).
    """

    __slots__ = ("_compiled", "flags", "pattern")

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern = pattern
        self.flags = flags
        self._compiled: re.Pattern[str] | None = None

    @property
    def compiled(self) -> re.Pattern[str]:
        if self._compiled is None:
            self._compiled = re.compile(self.pattern, self.flags)
        return self._compiled

    def sub(self, replacement: _Replacement, text: str, count: int = 0) -> str:
        return self.compiled.sub(replacement, text, count=count)

    def search(self, text: str, pos: int = 0) -> re.Match[str] | None:
        return self.compiled.search(text, pos)

    def match(self, text: str, pos: int = 0) -> re.Match[str] | None:
        return self.compiled.match(text, pos)

    def fullmatch(self, text: str) -> re.Match[str] | None:
        return self.compiled.fullmatch(text)

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        return self.compiled.finditer(text)


# --- PEM private keys ---------------------------------------------------------------------------------
_PEM_LABEL = r"(?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
_PEM_BEGIN = _Pattern("-----BEGIN " + _PEM_LABEL)
_PEM_END = _Pattern("-----END " + _PEM_LABEL)
# The body runs to the END marker, or to the end of the line when the key continues on later lines.
_PEM_ONE_LINE = _Pattern(
    rf"(?P<begin>{_PEM_BEGIN.pattern})(?P<body>.*?)(?P<end>{_PEM_END.pattern}|\Z)",
    re.DOTALL,
)
# What a line inside a multi-line key block looks like: base64, an armor header, or nothing.
_PEM_BODY_LINE = _Pattern(
    r"[ \t]*+(?:[A-Za-z0-9+/=]++|(?:Proc-Type|DEK-Info|Comment|Version|Hash):[^\r\n]*+)?[ \t\r]*+"
)

# A line of a key body at the width PEM writes: 64 base64 characters (OpenSSH: 70), not only hex digits.
_PEM_WIDTH_LINE = _Pattern(r"[ \t]*+(?![0-9a-f]++[ \t\r]*+$)(?:[A-Za-z0-9+/]{64}|[A-Za-z0-9+/]{70})[ \t\r]*+")

# --- URLs ----------------------------------------------------------------------------------------------
_SLACK_WEBHOOK = _Pattern(
    r"(?P<keep>hooks\.slack(?:-gov)?\.com/(?:services|workflows|triggers)/)[A-Za-z0-9_/-]++"
)
_URL_USER = r"(?<![A-Za-z0-9+.-])(?P<keep>[A-Za-z][A-Za-z0-9+.-]*+://[^\s/?#@:]*+:)"
# scheme://user:password@host; like urllib, the userinfo ends at the last "@" before "/", "?" or "#".
_URL_PASSWORD = _Pattern(_URL_USER + r"[^\s/?#]+(?=@)")
# A password with "/" in it (urllib would end the userinfo there; a registry robot's password has them).
# "host:443/@scope" is a port and a path, not a password: one that starts with digits and "/" is kept.
# Bounded (a password is short), so a line of many "a://b:" cannot make every start scan to its end.
_URL_PASSWORD_WITH_SLASH = _Pattern(
    _URL_USER + r"(?!\d*+/)[^\s/?#@]{0,200}+(?:/[^\s/?#@]{0,200}+){1,20}+(?=@[\w\[])"
)
# Azure SAS signatures; "sig" is too short a word to look for inside every name.
_QUERY_SIG = _Pattern(r"(?P<keep>[?&]sig=)[^&\s#\"']++")

# --- AWS -----------------------------------------------------------------------------------------------
# An AWS secret access key: 40 base64 characters, not part of a longer run.
_FORTY_BASE64 = r"[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"
# An access key id, and the secret when it follows directly (credentials CSV, "id:secret", "id secret").
_AWS_KEY_ID = _Pattern(
    r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])"
    rf"(?:(?P<sep>(?=[ \t\"',:;|])[ \t\"']*+[,:;|]?+[ \t\"']*+){_FORTY_BASE64})?"
)
# "aws configure set aws_secret_access_key <secret>", "secret key <secret>", "the secret is <secret>":
# a word naming a secret, then a 40-character secret with only blanks, a separator or "is" between.
_AWS_SECRET_AFTER_NAME = _Pattern(
    r"(?P<keep>(?<![\w-])(?:aws[_ ]?)?secret(?:[_ ]?access)?(?:[_ ]?key)?[\"']?"
    rf"(?:[ \t]*+[:=][ \t]*+|[ \t]++(?:is[ \t]++)?)[\"']?){_FORTY_BASE64}",
    re.IGNORECASE,
)

# --- name = value, "name": "value", name: value --------------------------------------------------------
_SENSITIVE_WORDS = (
    # "auth" but not "author" ("Author: Dev"); "authorization" and "authorize" are kept.
    r"pass(?:word|wd|phrase)|pwd|secret|token|auth(?!or(?!iz))|signature"
    r"|(?:api|app|application|access|private|account)[_-]?key"
    # "pass" alone, as a word of the name (DB_PASS, smtp.pass), never inside "passed" or "bypass".
    r"|(?<![a-z0-9])pass(?![a-z0-9_])"
)
# Environment names are upper case: any ending in _KEY or _CREDENTIALS holds one (FERNET_KEY).
_ENV_NAME_OF_A_KEY = r"(?-i:[A-Z][A-Z0-9_]*_(?:KEY|CREDENTIALS?)(?![\w.-]))"
_AUTH_SCHEMES = r"Bearer|Basic|Token|Digest|Negotiate|NTLM|Bot|OAuth|ApiKey|SSWS|AWS4-HMAC-SHA256"
_PAIR = _Pattern(
    # A name that starts a run (not inside a path or an ARN) and contains a sensitive word. Names
    # ending in Error/Exception are error codes followed by prose ("CannotPullContainerAuthError: ...").
    r"(?P<keep>(?<![\w.:/-])(?=[\w.-]*?(?:" + _SENSITIVE_WORDS + r")|" + _ENV_NAME_OF_A_KEY + r")"
    r"(?P<name>[\w.-]++)(?<!error)(?<!exception)"
    # Its closing quote (maybe escaped, for JSON inside JSON), the separator, and a kept auth scheme.
    # "name = value" and "name: value" may have blanks after the separator; "name= other" is empty.
    r"\\?[\"']?(?P<sep>[ \t]++(?::=|=>|[:=])[ \t]*+|:=|=>|=|:[ \t]*+)(?:(?:" + _AUTH_SCHEMES + r")[ \t]++)?)"
    r"(?:(?P<done>\[REDACTED\])"
    r"|\"(?P<dq>(?:[^\"\\]|\\.)*+)\""
    r"|'(?P<sq>(?:[^'\\]|\\.)*+)'"
    r"|\\\"(?P<edq>[^\"]*?)\\\""
    # A bare value stops at blanks, quotes, closing brackets, ";" "&" and ", "; it never opens a structure.
    r"|(?P<bare>[^\s\"'`,;&)}\]{\[](?:\[REDACTED\]|[^\s\"'`,;&)}\]]|,(?=[^\s\"',]))*+))",
    re.IGNORECASE,
)
_SCHEME_PREFIX = _Pattern(r"(?:" + _AUTH_SCHEMES + r")[ \t]++(?=\S)", re.IGNORECASE)

# A command-line flag and its value after a blank: "--password X", "-token X", "--db-pass X". The value
# is not another flag, and flags that name a secret rather than hold it (--secret-id) are left alone.
_FLAG_VALUE = _Pattern(
    r"(?P<keep>(?<![\w-])--?+(?=[\w-]*?(?:" + _SENSITIVE_WORDS + r"))[\w-]++"
    r"(?<!-id)(?<!-arn)(?<!-name)(?<!-file)(?<!-path)(?<!-ttl)(?<!-type)(?<!-stdin)[ \t]++)"
    r"(?:\"(?:[^\"\\]|\\.)*+\"|'[^']*+'|[^\s\"'-][^\s\"']*+)",
    re.IGNORECASE,
)
# A password word then a blank and a value that is not a plain word ("pwd S3cret!", not "password for").
_WORD_VALUE = _Pattern(
    r"(?P<keep>(?<![\w-])(?:pass(?:word|wd|phrase)|pwd)[ \t]++)"
    r"(?=[^\s\"',;]*?[0-9!#$%^&*+?~@])[^\s\"',;]++",
    re.IGNORECASE,
)
# URL-encoded pairs: "password%3Dhunter2" inside an encoded query or form body.
_ENCODED_PAIR = _Pattern(
    r"(?P<keep>(?:(?<=%26)|(?<=%3F)|(?<=%3f)|(?<=%20)|(?<![\w.%-]))"
    r"(?=[\w.-]*?(?:" + _SENSITIVE_WORDS + r"))[\w.-]++%3D)"
    r"(?:(?!%26)[^\s&\"'])++",
    re.IGNORECASE,
)
# mysql's "-pSECRET": the password glued to -p. Only on a mysql/mariadb command line, where -p means it.
_MYSQL_COMMAND = _Pattern(r"\b(?:mysql|mariadb)", re.IGNORECASE)
_GLUED_P = _Pattern(r"(?P<keep>(?<=[ \t])-p)[^\s\"'`;|&]++")

# "Cookie: a=1; b=2" and "Set-Cookie: sid=abc; Path=/": cookie values are sessions.
_COOKIE = _Pattern(
    r"(?P<keep>(?<![\w-])(?:Set-)?Cookie[\"']?[ \t]*+:[ \t]*+[\"']?)(?P<value>[^\r\n\"']++)", re.IGNORECASE
)
_COOKIE_PAIR = _Pattern(r"(?P<keep>(?:^|;)[ \t]*+[^=;\s]++=)[^;]++")
# A bearer token named without its header: "retrying with Bearer 4f9c...". A word is not a token.
_BARE_BEARER = _Pattern(r"(?P<keep>(?<![\w-])Bearer[ \t]++)(?=[\w.~+/-]*?\d)[\w.~+/-]{8,}+=*+")

# --- tokens recognisable by their shape ----------------------------------------------------------------
_JWT = _Pattern(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]*+\.eyJ[A-Za-z0-9_-]*+\.[A-Za-z0-9_-]*+")
# Vendors' prefixed tokens, one pattern so a line is scanned once: GitHub, Slack, Stripe, Google API
# keys, npm, GitLab, OpenAI/Anthropic, Hugging Face, PyPI, SendGrid, Shopify, DigitalOcean.
_PREFIXED_TOKEN = _Pattern(
    r"(?<![A-Za-z0-9_-])(?:"
    r"gh[pousr]_[A-Za-z0-9]{20,}+|github_pat_[A-Za-z0-9_]{20,}+"
    r"|(?:xox[abposre]|xapp)-[A-Za-z0-9-]{10,}+"
    r"|[sr]k_(?:live|test)_[A-Za-z0-9]{10,}+|whsec_[A-Za-z0-9+/=]{16,}+"
    r"|AIza[A-Za-z0-9_-]{35}"
    r"|npm_[A-Za-z0-9]{36}"
    r"|gl(?:pat|dt|rt|ptt|ft|soat)-[A-Za-z0-9_-]{20,}+"
    r"|sk-(?:proj-|ant-(?:api\d\d-)?|svcacct-|admin-)?(?=[A-Za-z0-9_-]*?[0-9])(?=[A-Za-z0-9_-]*?[A-Z])"
    r"[A-Za-z0-9_-]{20,}+"
    r"|hf_[A-Za-z]{30,}+"
    r"|pypi-AgE[A-Za-z0-9_-]{50,}+"
    r"|SG\.[A-Za-z0-9_-]{16,}+\.[A-Za-z0-9_-]{16,}+"
    r"|shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}"
    r"|do[opr]_v1_[a-f0-9]{64}"
    r")(?![A-Za-z0-9_-])"
)
# An upper-case 32-hex key (a Datadog API key as the UI shows it); task ids are lower case, so they stay.
_UPPER_HEX_KEY = _Pattern(
    r"(?<![A-Za-z0-9_-])(?=[0-9A-F]{0,31}[A-F])(?=[0-9A-F]{0,31}[0-9])[0-9A-F]{32}(?![A-Za-z0-9_-])"
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


# A name that says something about a secret rather than holding one: token_count, api_key_id, SECRET_ARN.
_DESCRIBES_A_SECRET = _Pattern(
    r"[_.-](?:ids?|arn|name|count|type|kind|length|len|ttl|expiry|expires(?:_in)?|required|enabled"
    r"|policy|file|path|url|version|ref|source|at)$",
    re.IGNORECASE,
)
_LOWER_WORD = _Pattern(r"[a-z]++")
_PROSE_GOES_ON = _Pattern(r"[ \t]++[\w\"']")


def _is_prose(match: re.Match[str]) -> bool:
    """ "auth: execution resource retrieval failed" (AWS's own words): after a colon, a lower-case word
    that the sentence goes on from is prose, not a credential; "name=word" is still a value."""
    return (
        "=" not in match["sep"]
        and _LOWER_WORD.fullmatch(match["bare"]) is not None
        and _PROSE_GOES_ON.match(match.string, match.end()) is not None
    )


def _mask_pair(match: re.Match[str]) -> str:
    group = next((name for name in ("dq", "sq", "edq", "bare") if match[name]), None)
    if group is None:  # already redacted, or an empty value: nothing to hide
        return match[0]
    if _DESCRIBES_A_SECRET.search(match["name"]) or (group == "bare" and _is_prose(match)):
        return match[0]
    start, end = match.span(group)
    offset = match.start()
    text = match[0]
    return text[: start - offset] + _mask_value(match[group]) + text[end - offset :]


def _mask_cookie(match: re.Match[str]) -> str:
    """Keep the cookie names (and Set-Cookie's attributes after the first pair): they say what was sent."""
    value = match["value"]
    if "=" not in value:
        return match["keep"] + REDACTED
    if match["keep"].lower().startswith("set-"):
        return match["keep"] + _COOKIE_PAIR.sub(_KEEP_AND_REDACT, value, count=1)
    return match["keep"] + _COOKIE_PAIR.sub(_KEEP_AND_REDACT, value)


_KEEP_AND_REDACT = r"\g<keep>" + REDACTED


def _mask_glued_mysql_password(line: str) -> str:
    command = _MYSQL_COMMAND.search(line)
    if command is None:
        return line
    at = command.end()
    return line[:at] + _GLUED_P.sub(_KEEP_AND_REDACT, line[at:])


class _Rule(msgspec.Struct, frozen=True):
    pattern: _Pattern
    replacement: _Replacement
    #: The rule is tried only on lines that contain one of these (lower-case) texts: a cheap ``in``
    #: test spares most lines a regex scan. None: always tried.
    needs: tuple[str, ...] | None = None


#: Every sensitive name holds one of these: a line without any has no name = value secret.
_NAMED_SECRET_NEEDS = ("pass", "pwd", "secret", "token", "auth", "signature", "key", "credential")
#: The prefixes of ``_PREFIXED_TOKEN``, lower-cased.
_TOKEN_PREFIXES = (
    *("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "xox", "xapp-", "whsec_", "aiza", "npm_"),
    *("sk_live_", "sk_test_", "rk_live_", "rk_test_", "glpat-", "gldt-", "glrt-", "glptt-", "glft-"),
    *("glsoat-", "sk-", "hf_", "pypi-age", "sg.", "shpat_", "shpca_", "shppa_", "shpss_", "_v1_"),
)

# Order matters: whole structures (PEM blocks, URLs, key pairs) before names, names before shapes, so
# each secret is hidden by the rule that keeps the most context around it.
_RULES: tuple[_Rule, ...] = (
    _Rule(_PEM_ONE_LINE, _mask_pem, ("-----begin",)),
    _Rule(_SLACK_WEBHOOK, _KEEP_AND_REDACT, ("hooks.slack",)),
    _Rule(_URL_PASSWORD, _KEEP_AND_REDACT, ("://",)),
    _Rule(_URL_PASSWORD_WITH_SLASH, _KEEP_AND_REDACT, ("://",)),
    _Rule(_AWS_KEY_ID, _mask_key_id, ("akia", "asia", "abia", "acca")),
    _Rule(_AWS_SECRET_AFTER_NAME, _KEEP_AND_REDACT, ("secret",)),
    _Rule(_COOKIE, _mask_cookie, ("cookie",)),
    _Rule(_PAIR, _mask_pair, _NAMED_SECRET_NEEDS),
    _Rule(_FLAG_VALUE, _KEEP_AND_REDACT, _NAMED_SECRET_NEEDS),
    _Rule(_WORD_VALUE, _KEEP_AND_REDACT, ("pass", "pwd")),
    _Rule(_ENCODED_PAIR, _KEEP_AND_REDACT, ("%3d",)),
    _Rule(_QUERY_SIG, _KEEP_AND_REDACT, ("sig=",)),
    _Rule(_BARE_BEARER, _KEEP_AND_REDACT, ("bearer",)),
    _Rule(_JWT, REDACTED, ("eyj",)),
    _Rule(_PREFIXED_TOKEN, REDACTED, _TOKEN_PREFIXES),
    _Rule(_UPPER_HEX_KEY, REDACTED),
)


def redact(line: str) -> str:
    """Hide the credentials in one log line, or in a reason AWS or a task gave, and keep the rest."""
    lower = line.lower()
    for rule in _RULES:
        if rule.needs is None or any(needle in lower for needle in rule.needs):
            line = rule.pattern.sub(rule.replacement, line)
    if "mysql" in lower or "mariadb" in lower:
        line = _mask_glued_mysql_password(line)
    return line


def redact_text(text: str | None) -> str | None:
    """:func:`redact` for a text that may hold several lines (a reason, an error message); None stays None.

    Lines are redacted one by one, and a private key printed across them is hidden between its markers.
    """
    if not text:
        return text
    if "\n" not in text:
        return redact(text)
    return "\n".join(_redact_lines(text.split("\n"), 0))


def redacted_event(event: TaskEvent) -> TaskEvent:
    """The event with its free texts redacted: ``stoppedReason`` and every container's ``reason``.

    These are the texts of a task event that a task can fill (an image reference with a robot's
    password, a message an entrypoint failed with), and they become the run's cause in Slack, the
    Datadog event, the log line and the history. Redacting the event once, where the report is
    built, hides them from everything downstream. Names, ARNs and overrides are left as they are.
    """
    containers = tuple(
        msgspec.structs.replace(c, reason=redact_text(c.reason)) if c.reason else c for c in event.containers
    )
    reason = redact_text(event.stopped_reason)
    if reason == event.stopped_reason and containers == event.containers:
        return event
    return msgspec.structs.replace(event, stopped_reason=reason, containers=containers)


def redacted_launch(launch: LaunchAttempt) -> LaunchAttempt:
    """The launch with CloudTrail's ``errorMessage`` and each ``failures[]`` reason and detail redacted.

    The request the caller sent is kept as it was: a retry sends it again.
    """
    failures = tuple(
        PlacementFailure(f.arn, redact_text(f.reason), redact_text(f.detail)) for f in launch.failures
    )
    message = redact_text(launch.error_message)
    if message == launch.error_message and failures == launch.failures:
        return launch
    return msgspec.structs.replace(launch, error_message=message, failures=failures)


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


def _began_before(lines: Sequence[str]) -> int:
    """How many of the first lines are the rest of a key whose BEGIN line was not fetched.

    A tail can start inside a key block: then its first lines are key material and the first
    marker in it is an END. Without an END in sight, leading lines of PEM width (64 base64
    characters; 70 for OpenSSH) are key material too: no log line looks like that by chance.
    """
    for index, line in enumerate(lines):
        end = _PEM_END.search(line)
        begin = _PEM_BEGIN.search(line)
        if begin is not None and (end is None or begin.start() < end.start()):
            break
        if end is not None:
            if all(_PEM_BODY_LINE.fullmatch(before) for before in lines[:index]):
                return index
            break
        if not _PEM_BODY_LINE.fullmatch(line):
            break
    count = 0
    for line in lines:
        if not _PEM_WIDTH_LINE.fullmatch(line):
            break
        count += 1
    return count


def _redact_lines(lines: Sequence[str], skip: int) -> list[str]:
    """Redact all but the first ``skip`` lines, oldest first.

    Lines are followed in order because awslogs stores a key printed to stdout as one event
    per line: only the BEGIN line says that the base64 lines after it are a key (and when the
    BEGIN line is older than the first line read, the END line or the lines' shape says it).
    Skipped lines are not redacted (they will not be shown) but still tell whether a block is open.
    """
    redacted: list[str] = []
    in_block = _began_before(lines) > 0
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
