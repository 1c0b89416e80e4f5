"""Log lines shown to on-call are redacted of credentials, then cut to a line and byte budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecswatch.analysis.redact import REDACTED, fit_tail, redact, redact_text
from ecswatch.run import LogTail

R = REDACTED

# AWS's own documentation examples: never valid credentials.
KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SESSION = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD6"

# Assembled at run time so secret scanners on push do not flag these fakes as leaked credentials.
SLACK_BOT = "xox" + "b-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
SLACK_HOOK_PATH = "T00000000/B00000000/" + "X" * 24
GITHUB_PAT = "ghp" + "_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
GITHUB_FINE = "github" + "_pat_" + "11ABCDEFG0" + "a1B2c3D4e5" * 8
STRIPE_LIVE = "sk" + "_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)


# --- redact: one table per kind of secret ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (f"using {KEY_ID} for s3", f"using {R} for s3"),
        ("temporary ASIAY34FZKBOKMUTVV7A expires", f"temporary {R} expires"),
        ("bearer ABIAY34FZKBOKMUTVV7A", f"bearer {R}"),
        ("context ACCAY34FZKBOKMUTVV7A", f"context {R}"),
        (f'{{"AccessKeyId": "{KEY_ID}"}}', f'{{"AccessKeyId": "{R}"}}'),
        (f"X-Amz-Credential={KEY_ID}%2F20240101%2Fus-east-1", f"X-Amz-Credential={R}%2F20240101%2Fus-east-1"),
    ],
)
def test_aws_access_key_ids_are_redacted(line: str, expected: str) -> None:
    assert redact(line) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (f"AWS_SECRET_ACCESS_KEY={SECRET}", f"AWS_SECRET_ACCESS_KEY={R}"),
        (f"aws_secret_access_key = {SECRET}", f"aws_secret_access_key = {R}"),
        (f"aws_secret_access_key: {SECRET}", f"aws_secret_access_key: {R}"),
        (f'{{"SecretAccessKey": "{SECRET}"}}', f'{{"SecretAccessKey": "{R}"}}'),
        (f"secretAccessKey: '{SECRET}'", f"secretAccessKey: '{R}'"),
        (f"aws configure set aws_secret_access_key {SECRET}", f"aws configure set aws_secret_access_key {R}"),
        (f"creds {KEY_ID} {SECRET} loaded", f"creds {R} {R} loaded"),
        (f"bob,,{KEY_ID},{SECRET}", f"bob,,{R},{R}"),
        (f"{KEY_ID}:{SECRET}", f"{R}:{R}"),
    ],
)
def test_aws_secret_access_keys_are_redacted(line: str, expected: str) -> None:
    assert redact(line) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (f"AWS_SESSION_TOKEN={SESSION}", f"AWS_SESSION_TOKEN={R}"),
        (f"aws_session_token = {SESSION}", f"aws_session_token = {R}"),
        (f'{{"SessionToken": "{SESSION}"}}', f'{{"SessionToken": "{R}"}}'),
        (f"X-Amz-Security-Token: {SESSION}", f"X-Amz-Security-Token: {R}"),
        (
            f"GET /o?X-Amz-Security-Token={SESSION}&X-Amz-Date=1",
            f"GET /o?X-Amz-Security-Token={R}&X-Amz-Date=1",
        ),
    ],
)
def test_aws_session_tokens_are_redacted(line: str, expected: str) -> None:
    assert redact(line) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Authorization: Bearer abc.def-ghi", f"Authorization: Bearer {R}"),
        ("authorization: Basic dXNlcjpwYXNzd29yZA==", f"authorization: Basic {R}"),
        (f"Authorization: token {GITHUB_PAT}", f"Authorization: token {R}"),
        ('{"Authorization": "Bearer abc123"}', f'{{"Authorization": "Bearer {R}"}}'),
        ("Proxy-Authorization: Basic Zm9vOmJhcg==", f"Proxy-Authorization: Basic {R}"),
        ("Authorization: 0123abcd", f"Authorization: {R}"),
        (
            f"Authorization: AWS4-HMAC-SHA256 Credential={KEY_ID}/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe",
            f"Authorization: AWS4-HMAC-SHA256 {R}, SignedHeaders=host;x-amz-date, Signature={R}",
        ),
    ],
)
def test_authorization_headers_keep_the_scheme_and_hide_the_credentials(line: str, expected: str) -> None:
    assert redact(line) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("postgres://app:s3cr3t@db.internal:5432/prod", f"postgres://app:{R}@db.internal:5432/prod"),
        ("mysql+pymysql://root:pw@10.0.0.5/app", f"mysql+pymysql://root:{R}@10.0.0.5/app"),
        ("redis://:hunter2@cache:6379/0", f"redis://:{R}@cache:6379/0"),
        ("amqps://guest:gu%40st@mq", f"amqps://guest:{R}@mq"),
        ("mongodb+srv://u:p@ss@cluster0.mongodb.net/db", f"mongodb+srv://u:{R}@cluster0.mongodb.net/db"),
        (
            "connect to 'https://u:pw@h.example/x?y=1' failed",
            f"connect to 'https://u:{R}@h.example/x?y=1' failed",
        ),
    ],
)
def test_url_passwords_are_redacted_and_the_user_kept(line: str, expected: str) -> None:
    assert redact(line) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("password=hunter2 user=bob", f"password={R} user=bob"),
        ("DB_PASSWORD=hunter2", f"DB_PASSWORD={R}"),
        ("passwd: hunter2", f"passwd: {R}"),
        ("PGPWD=hunter2", f"PGPWD={R}"),
        ("mysql --password=hunter2 -h db", f"mysql --password={R} -h db"),
        ('{"password": "hunter2", "user": "bob"}', f'{{"password": "{R}", "user": "bob"}}'),
        ('{"password":"hunter2"}', f'{{"password":"{R}"}}'),
        ("{'client_secret': 'abc', 'id': 7}", f"{{'client_secret': '{R}', 'id': 7}}"),
        ("refresh_token = 'a b c'", f"refresh_token = '{R}'"),
        ('api_key="k\\"q"', f'api_key="{R}"'),
        ("apiKey: k1", f"apiKey: {R}"),
        ("x-api-key: k1", f"x-api-key: {R}"),
        ("ACCESS_KEY=k1", f"ACCESS_KEY={R}"),
        ("private_key: k1", f"private_key: {R}"),
        ("auth=k1", f"auth={R}"),
        ("spring.datasource.password=k1", f"spring.datasource.password={R}"),
        ("token := k1", f"token := {R}"),
        ("'secret' => 'k1'", f"'secret' => '{R}'"),
        ("Server=db;User Id=sa;Password=k1;", f"Server=db;User Id=sa;Password={R};"),
        ('{"msg": "{\\"password\\": \\"hunter2\\"}"}', f'{{"msg": "{{\\"password\\": \\"{R}\\"}}"}}'),
    ],
)
def test_sensitive_names_keep_the_name_and_quotes_and_hide_the_value(line: str, expected: str) -> None:
    assert redact(line) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (f"posting with {SLACK_BOT}", f"posting with {R}"),
        ("SLACK_TOKEN=" + SLACK_BOT, f"SLACK_TOKEN={R}"),
        ("xox" + "p-1234567890-0987654321-abcdef", R),
        ("app token " + "xapp" + "-1-A012345-0123456789-abcdef", f"app token {R}"),
    ],
)
def test_slack_tokens_are_redacted(line: str, expected: str) -> None:
    assert redact(line) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            f"POST https://hooks.slack.com/services/{SLACK_HOOK_PATH} 200",
            f"POST https://hooks.slack.com/services/{R} 200",
        ),
        (
            f'{{"url": "https://hooks.slack.com/workflows/{SLACK_HOOK_PATH}"}}',
            f'{{"url": "https://hooks.slack.com/workflows/{R}"}}',
        ),
    ],
)
def test_slack_webhook_urls_are_redacted(line: str, expected: str) -> None:
    assert redact(line) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (f"cloning with {GITHUB_PAT}", f"cloning with {R}"),
        (f"fine-grained {GITHUB_FINE} ok", f"fine-grained {R} ok"),
        ("gh" + "s_" + "a" * 36 + " installation", f"{R} installation"),
        (
            f"https://x-access-token:{GITHUB_PAT}@github.com/o/r.git",
            f"https://x-access-token:{R}@github.com/o/r.git",
        ),
    ],
)
def test_github_tokens_are_redacted(line: str, expected: str) -> None:
    assert redact(line) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (f"id_token {JWT} accepted", f"id_token {R} accepted"),
        (f"cookie session={JWT}; Path=/", f"cookie session={R}; Path=/"),
        (f"[{JWT}]", f"[{R}]"),
    ],
)
def test_jwts_are_redacted(line: str, expected: str) -> None:
    assert redact(line) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "-----BEGIN RSA PRIVATE KEY-----MIIEowIBAAKCAQEA-----END RSA PRIVATE KEY-----",
            f"-----BEGIN RSA PRIVATE KEY-----{R}-----END RSA PRIVATE KEY-----",
        ),
        (
            "key: -----BEGIN PRIVATE KEY-----\\nMIIEvQIB\\nADANBg==\\n-----END PRIVATE KEY-----\\n",
            f"key: -----BEGIN PRIVATE KEY-----{R}-----END PRIVATE KEY-----\\n",
        ),
        (
            "-----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNzaC1rZXk (cut by the logger",
            f"-----BEGIN OPENSSH PRIVATE KEY-----{R}",
        ),
        (
            "-----BEGIN ENCRYPTED PRIVATE KEY-----MIIF-----END ENCRYPTED PRIVATE KEY----- loaded",
            f"-----BEGIN ENCRYPTED PRIVATE KEY-----{R}-----END ENCRYPTED PRIVATE KEY----- loaded",
        ),
    ],
)
def test_private_key_body_on_one_line_is_redacted_between_its_markers(line: str, expected: str) -> None:
    assert redact(line) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("DD_API_KEY=0123456789abcdef0123456789abcdef", f"DD_API_KEY={R}"),
        ("DD_APP_KEY=0123456789abcdef0123456789abcdef01234567", f"DD_APP_KEY={R}"),
        ("DD_APPLICATION_KEY=0123456789abcdef0123456789abcdef01234567", f"DD_APPLICATION_KEY={R}"),
        ("dd-api-key: 0123456789abcdef0123456789abcdef", f"dd-api-key: {R}"),
        ("DD-APPLICATION-KEY: 0123456789abcdef0123456789abcdef01234567", f"DD-APPLICATION-KEY: {R}"),
    ],
)
def test_datadog_keys_are_redacted(line: str, expected: str) -> None:
    assert redact(line) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (f"charging with {STRIPE_LIVE}", f"charging with {R}"),
        ("rk" + "_live_" + "51H8abcdEFGH1234ijkl", R),
        ("sk" + "_test_" + "4eC39HqLyjWDarjtT1zdp7dc", R),
    ],
)
def test_stripe_keys_are_redacted(line: str, expected: str) -> None:
    assert redact(line) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("GET /cb?token=abc123&state=xyz", f"GET /cb?token={R}&state=xyz"),
        ("GET /login?user=bob&password=hunter2 200", f"GET /login?user=bob&password={R} 200"),
        (
            "https://b.s3.amazonaws.com/k?X-Amz-Signature=fe5f80f77d5fa3be&X-Amz-Expires=300",
            f"https://b.s3.amazonaws.com/k?X-Amz-Signature={R}&X-Amz-Expires=300",
        ),
        (
            "https://a.blob.core.windows.net/c/b?sv=2022&sig=abc%2Bdef&se=2024",
            f"https://a.blob.core.windows.net/c/b?sv=2022&sig={R}&se=2024",
        ),
        ("/oauth?access_token=abc&expires_in=3600", f"/oauth?access_token={R}&expires_in=3600"),
    ],
)
def test_secrets_in_query_strings_are_redacted(line: str, expected: str) -> None:
    assert redact(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "",
        "Processing batch 17 of 42: 1500 records written to s3://bucket/out/2024-05-01/part-0001.parquet",
        "2024-05-01T12:34:56.789Z INFO job finished in 12.3s",
        "task 0123456789abcdef0123456789abcdef stopped",
        "container 4d3c0f3e7f7e3b1b1a7fbd9b0b6f2e1c4d3c0f3e7f7e3b1b1a7fbd9b0b6f2e1c exited",
        "request id 9f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b",
        "commit 0a1b2c3d4e5f60718293a4b5c6d7e8f901234567 deployed",
        "arn:aws:ecs:us-east-1:123456789012:task/batch/0123456789abcdef0123456789abcdef",
        "fetching arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf",
        "open /run/secrets/db_password: no such file or directory",
        "-v /run/secrets:/run/secrets:ro",
        "CannotPullContainerAuthError: failed to fetch credentials",
        "botocore.exceptions.ClientError: An error occurred (ExpiredTokenException) when calling GetObject",
        "The security token included in the request is invalid",
        "password= user=bob",
        'password="" user=bob',
        "listening on http://0.0.0.0:8080/health",
        "-----BEGIN CERTIFICATE-----MIIDdzCCAl+gAwIBAgIE-----END CERTIFICATE-----",
        "AKIA is the prefix of long-lived keys",
        "Bearer tokens expire after an hour",
        "读取配置文件 config.yaml 成功 ✅",
    ],
)
def test_ordinary_text_is_left_unchanged(line: str) -> None:
    assert redact(line) == line


@pytest.mark.parametrize(
    "line",
    [
        f"Authorization: Bearer {JWT}",
        f"password={SECRET} {KEY_ID}",
        "postgres://app:s3cr3t@db/prod?sslpassword=x",
        f"Authorization: AWS4-HMAC-SHA256 Credential={KEY_ID}/20130524/us-east-1/s3/aws4_request",
        "-----BEGIN PRIVATE KEY-----MIIE-----END PRIVATE KEY-----",
    ],
)
def test_redacting_twice_changes_nothing_more(line: str) -> None:
    once = redact(line)
    assert redact(once) == once


@pytest.mark.parametrize(
    "filler",
    [
        "a",
        " ",
        "password",
        "token=",
        'secret="',
        "auth: ",
        '\\"',
        "://",
        "a://b:",
        "@",
        "AKIA",
        f"{KEY_ID}   ",
        "eyJ",
        "eyJa.eyJb",
        "-----BEGIN ",
        "A ",
        "x,",
        "[REDACTED",
        "😀",
    ],
)
def test_secret_after_100_kb_of_hostile_text_is_still_redacted(filler: str) -> None:
    # given a 100 KB line built to make a backtracking regex explode
    line = (filler * (100_000 // len(filler) + 1))[:100_000] + " password=hunter2"

    # when / then: it completes, and the secret at its end is hidden
    assert "hunter2" not in redact(line)


# --- private keys printed over several lines -------------------------------------------------------------


def test_key_printed_over_several_lines_is_hidden_between_its_markers() -> None:
    lines = [
        "loading key",
        "-----BEGIN RSA PRIVATE KEY-----",
        "Proc-Type: 4,ENCRYPTED",
        "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
        "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK",
        "-----END RSA PRIVATE KEY-----",
        "key loaded",
    ]

    tail = fit_tail(lines, max_lines=10, max_bytes=10_000)

    assert tail.lines == (
        "loading key",
        "-----BEGIN RSA PRIVATE KEY-----",
        R,
        R,
        R,
        "-----END RSA PRIVATE KEY-----",
        "key loaded",
    )


def test_key_block_without_end_marker_stops_at_the_first_line_that_is_not_key_material() -> None:
    lines = [
        "-----BEGIN PRIVATE KEY-----",
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
        "ValueError: could not parse key",
    ]

    tail = fit_tail(lines, max_lines=10, max_bytes=10_000)

    assert tail.lines == ("-----BEGIN PRIVATE KEY-----", R, "ValueError: could not parse key")


def test_key_block_that_began_before_the_shown_lines_is_still_hidden() -> None:
    lines = [
        "-----BEGIN EC PRIVATE KEY-----",
        "MHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5",
        "oAoGCCqGSM49AwEHoUQDQgAE",
    ]

    tail = fit_tail(lines, max_lines=2, max_bytes=10_000)

    assert tail.lines == (R, R)


# --- fit_tail: budgets -----------------------------------------------------------------------------------


def test_empty_input_gives_an_empty_untruncated_tail() -> None:
    assert fit_tail([], max_lines=20, max_bytes=3000) == LogTail(lines=(), truncated=False, note=None)


def test_lines_that_all_fit_are_kept_in_log_order_and_not_truncated() -> None:
    tail = fit_tail(["first", "second", "third"], max_lines=3, max_bytes=100)

    assert tail == LogTail(lines=("first", "second", "third"), truncated=False, note=None)


def test_max_lines_keeps_the_newest_lines() -> None:
    tail = fit_tail([f"line {n}" for n in range(1, 11)], max_lines=3, max_bytes=10_000)

    assert tail.lines == ("line 8", "line 9", "line 10")
    assert tail.truncated


def test_byte_budget_counts_utf8_bytes_of_multibyte_characters() -> None:
    # given lines of 4-byte emoji and 3-byte CJK: 8 + 1 + 9 + 1 + 2 bytes in all
    lines = ["😀😀", "日本語", "ok"]

    # when the budget holds the two newest lines (9 + 1 + 2 = 12 bytes) but not the third
    tail = fit_tail(lines, max_lines=10, max_bytes=12)

    assert tail.lines == ("日本語", "ok")
    assert tail.truncated


def test_budget_met_exactly_keeps_everything_untruncated() -> None:
    lines = ["😀😀", "日本語", "ok"]  # 8 + 1 + 9 + 1 + 2 = 21 bytes joined

    tail = fit_tail(lines, max_lines=3, max_bytes=21)

    assert tail.lines == ("😀😀", "日本語", "ok")
    assert not tail.truncated


@pytest.mark.parametrize("max_bytes", range(40))
def test_joined_lines_never_exceed_the_byte_budget(max_bytes: int) -> None:
    tail = fit_tail(["naïve café", "😀 done 😀", "東京 ✅", "end"], max_lines=10, max_bytes=max_bytes)

    assert len("\n".join(tail.lines).encode("utf-8")) <= max_bytes


def test_tail_stays_contiguous_rather_than_skipping_to_older_shorter_lines() -> None:
    tail = fit_tail(["a", "b" * 50, "c"], max_lines=10, max_bytes=10)

    assert tail.lines == ("c",)


@pytest.mark.parametrize(
    ("line", "max_bytes", "expected"),
    [
        ("😀😀😀😀", 10, "😀…"),  # 4 + 3 bytes: a second emoji would need 11
        ("😀😀😀😀", 11, "😀😀…"),
        ("日本語のログ", 8, "日…"),  # the second character would end at byte 6 + 3 = 9
        ("日本語のログ", 9, "日本…"),
        ("abcdef", 5, "ab…"),
    ],
)
def test_newest_line_larger_than_the_budget_is_cut_between_characters(
    line: str, max_bytes: int, expected: str
) -> None:
    tail = fit_tail([line], max_lines=1, max_bytes=max_bytes)

    assert tail.lines == (expected,)
    assert tail.truncated


def test_nothing_is_shown_when_the_budget_cannot_hold_one_character_and_an_ellipsis() -> None:
    tail = fit_tail(["😀😀"], max_lines=1, max_bytes=6)

    assert tail == LogTail(lines=(), truncated=True, note=None)


def test_over_long_line_is_cut_to_max_line_chars_ending_in_an_ellipsis() -> None:
    tail = fit_tail(["x" * 600], max_lines=1, max_bytes=10_000, max_line_chars=500)

    assert tail.lines == ("x" * 499 + "…",)
    assert tail.truncated


def test_line_of_exactly_max_line_chars_is_not_cut() -> None:
    tail = fit_tail(["日" * 500], max_lines=1, max_bytes=10_000, max_line_chars=500)

    assert tail.lines == ("日" * 500,)
    assert not tail.truncated


def test_max_lines_zero_shows_nothing_and_says_so() -> None:
    assert fit_tail(["a"], max_lines=0, max_bytes=100) == LogTail(lines=(), truncated=True, note=None)


@pytest.mark.parametrize(
    ("max_lines", "max_bytes", "max_line_chars"),
    [(-1, 100, 500), (10, -1, 500), (10, 100, 0)],
)
def test_negative_or_empty_limits_are_rejected(max_lines: int, max_bytes: int, max_line_chars: int) -> None:
    with pytest.raises(ValueError, match="limits must be"):
        fit_tail(["a"], max_lines=max_lines, max_bytes=max_bytes, max_line_chars=max_line_chars)


def test_lone_surrogates_from_json_are_replaced_rather_than_raising() -> None:
    tail = fit_tail(["bad \ud800 char"], max_lines=1, max_bytes=100)

    assert tail.lines == ("bad ? char",)


# --- fit_tail: redaction comes before the budget ---------------------------------------------------------


def test_every_line_in_the_tail_is_redacted() -> None:
    tail = fit_tail([f"key {KEY_ID}", "password=hunter2"], max_lines=10, max_bytes=1000)

    assert tail.lines == (f"key {R}", f"password={R}")


def test_redaction_alone_does_not_mark_the_tail_truncated() -> None:
    tail = fit_tail([f"token={JWT}"], max_lines=1, max_bytes=1000)

    assert tail.lines == (f"token={R}",)
    assert not tail.truncated


def test_lines_are_redacted_before_being_cut_so_no_part_of_a_secret_shows() -> None:
    # given a key id that a 17-character cut of the raw line would leave unrecognisable: "key AKIAIOSFODNN…"
    tail = fit_tail([f"key {KEY_ID} used"], max_lines=1, max_bytes=1000, max_line_chars=17)

    assert tail.lines == (f"key {R} u…",)


def test_byte_budget_counts_the_redacted_text_not_the_raw_text() -> None:
    # given a line whose raw form (JWT, 170+ bytes) is far over budget but whose redacted form fits
    line = f"id_token {JWT}"

    tail = fit_tail([line], max_lines=1, max_bytes=30)

    assert tail.lines == (f"id_token {R}",)
    assert not tail.truncated


def test_redaction_that_lengthens_a_line_is_counted_against_the_budget() -> None:
    # given raw lines that fit in 14 bytes ("aaaaa\npwd=x" is 11) but redacted ones that do not
    tail = fit_tail(["aaaaa", "pwd=x"], max_lines=2, max_bytes=14)

    assert tail.lines == (f"pwd={R}",)
    assert tail.truncated


# --- every secret shape, one table (issue 13, items 6 and 7) ---------------------------------------------

# More fakes, assembled at run time for the same reason as above.
GOOGLE_KEY = "AIza" + "SyA1234567890abcdefghijklmnopqrstuv"
NPM_TOKEN = "npm" + "_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
GITLAB_PAT = "glpat" + "-" + "xYz123AbC456dEf789Gh"
OPENAI_PROJECT = "sk" + "-proj-" + "Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9"
OPENAI_LEGACY = "sk" + "-" + "Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0"
ANTHROPIC_KEY = "sk" + "-ant-api03-" + "Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9"
HF_TOKEN = "hf" + "_" + "AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh"
SENDGRID_KEY = "SG" + "." + "AbCdEfGhIjKlMnOpQrSt12" + "." + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefg"
SHOPIFY_TOKEN = "shpat" + "_" + "0123456789abcdef0123456789abcdef"
DO_TOKEN = "dop" + "_v1_" + "0123456789abcdef" * 4
PYPI_TOKEN = "pypi" + "-AgEIcHlwaS5vcmc" + "A1b2C3d4E5f6G7h8I9j0" * 3
DD_UPPER = "0123456789ABCDEF" * 2
AZURE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

#: (line, what may be shown): every shape of credential ecswatch has seen or been told about.
SECRET_SHAPES: list[tuple[str, str]] = [
    # AWS
    (f"using {KEY_ID} for s3", f"using {R} for s3"),
    ("temporary ASIAY34FZKBOKMUTVV7A expires", f"temporary {R} expires"),
    (f"AWS_SECRET_ACCESS_KEY={SECRET}", f"AWS_SECRET_ACCESS_KEY={R}"),
    (f"creds {KEY_ID} {SECRET} loaded", f"creds {R} {R} loaded"),
    (f"{KEY_ID}:{SECRET}", f"{R}:{R}"),
    (f"AWS_SESSION_TOKEN={SESSION}", f"AWS_SESSION_TOKEN={R}"),
    (f"secret {SECRET}", f"secret {R}"),
    (f"the secret key is {SECRET}", f"the secret key is {R}"),
    (f"aws secret access key: {SECRET}", f"aws secret access key: {R}"),
    (f"Secret Access Key {SECRET} rotated", f"Secret Access Key {R} rotated"),
    # HTTP
    ("Authorization: Bearer abc.def-ghi", f"Authorization: Bearer {R}"),
    ("authorization: Basic dXNlcjpwYXNzd29yZA==", f"authorization: Basic {R}"),
    ("retrying with Bearer 4f9c2a7e1b3d5f60", f"retrying with Bearer {R}"),
    ("curl -H 'x: y' Bearer tok_9f8e7d6c5b4a", f"curl -H 'x: y' Bearer {R}"),
    ("Cookie: session=abc123; theme=dark", f"Cookie: session={R}; theme={R}"),
    ("Set-Cookie: sid=abc123; Path=/; HttpOnly", f"Set-Cookie: sid={R}; Path=/; HttpOnly"),
    ('{"cookie": "sid=abc123"}', f'{{"cookie": "sid={R}"}}'),
    ("x-api-key: k1", f"x-api-key: {R}"),
    # URLs
    ("postgres://app:s3cr3t@db.internal:5432/prod", f"postgres://app:{R}@db.internal:5432/prod"),
    ("redis://:hunter2@cache:6379/0", f"redis://:{R}@cache:6379/0"),
    ("https://user:pa/ss@host.example/x", f"https://user:{R}@host.example/x"),
    ("https://robot:a/b/c+d@registry.example.com/v2/", f"https://robot:{R}@registry.example.com/v2/"),
    (
        f"CannotPullContainerError: failed to resolve ref https://robot:{GITHUB_PAT}@registry.example.com/app",
        f"CannotPullContainerError: failed to resolve ref https://robot:{R}@registry.example.com/app",
    ),
    ("GET /login?user=bob&password=hunter2 200", f"GET /login?user=bob&password={R} 200"),
    ("q=user%3Dbob%26password%3Dhunter2%26x=1", f"q=user%3Dbob%26password%3D{R}%26x=1"),
    ("body=grant_type%3Dclient%26client_secret%3Dabc", f"body=grant_type%3Dclient%26client_secret%3D{R}"),
    (
        f"POST https://hooks.slack.com/services/{SLACK_HOOK_PATH} 200",
        f"POST https://hooks.slack.com/services/{R} 200",
    ),
    # names and values
    ("password=hunter2 user=bob", f"password={R} user=bob"),
    ("pass=hunter2", f"pass={R}"),
    ("DB_PASS=hunter2 bypass=true passed=12", f"DB_PASS={R} bypass=true passed=12"),
    ("smtp.pass: hunter2", f"smtp.pass: {R}"),
    ("ENCRYPTION_KEY=abc123", f"ENCRYPTION_KEY={R}"),
    ("FERNET_KEY=zmXf3QmZ9cR5vT1p", f"FERNET_KEY={R}"),
    ("SIGNING_KEY: 'k1'", f"SIGNING_KEY: '{R}'"),
    ("GOOGLE_APPLICATION_CREDENTIALS=/run/sa.json", f"GOOGLE_APPLICATION_CREDENTIALS={R}"),
    ("JWT_SECRET=s3", f"JWT_SECRET={R}"),
    ("GITHUB_TOKEN=t0k", f"GITHUB_TOKEN={R}"),
    ("REDIS_PASSWORD=pw", f"REDIS_PASSWORD={R}"),
    ('{"client_secret": "abc"}', f'{{"client_secret": "{R}"}}'),
    ("Server=db;User Id=sa;Password=k1;", f"Server=db;User Id=sa;Password={R};"),
    (
        f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={AZURE_KEY};EndpointSuffix=core.windows.net",
        f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={R};EndpointSuffix=core.windows.net",
    ),
    (
        "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKey=abc=",
        f"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKey={R}",
    ),
    # command lines
    ("mysql -uroot -pS3cretPass -h db", f"mysql -uroot -p{R} -h db"),
    ("mysqldump -u app -pS3cret! prod", f"mysqldump -u app -p{R} prod"),
    ("mysql --password hunter2 -h db", f"mysql --password {R} -h db"),
    ("psql --password 'a b' x", f"psql --password {R} x"),
    ("vault login -token s.AbCd1234", f"vault login -token {R}"),
    ("login user bob pwd S3cr3t!", f"login user bob pwd {R}"),
    ("password hunter2 rejected", f"password {R} rejected"),
    # vendors' tokens
    (f"cloning with {GITHUB_PAT}", f"cloning with {R}"),
    (f"fine-grained {GITHUB_FINE} ok", f"fine-grained {R} ok"),
    (f"posting with {SLACK_BOT}", f"posting with {R}"),
    (f"charging with {STRIPE_LIVE}", f"charging with {R}"),
    (f"maps key {GOOGLE_KEY}", f"maps key {R}"),
    (f"//registry.npmjs.org/:_authToken={NPM_TOKEN}", f"//registry.npmjs.org/:_authToken={R}"),
    (f"npm token {NPM_TOKEN}", f"npm token {R}"),
    (f"gitlab {GITLAB_PAT} used", f"gitlab {R} used"),
    (f"OPENAI {OPENAI_PROJECT}", f"OPENAI {R}"),
    (f"key {OPENAI_LEGACY}", f"key {R}"),
    (f"anthropic {ANTHROPIC_KEY}", f"anthropic {R}"),
    (f"hf {HF_TOKEN}", f"hf {R}"),
    (f"sendgrid {SENDGRID_KEY}", f"sendgrid {R}"),
    (f"shopify {SHOPIFY_TOKEN}", f"shopify {R}"),
    (f"doctl {DO_TOKEN}", f"doctl {R}"),
    (f"twine {PYPI_TOKEN}", f"twine {R}"),
    (f"id_token {JWT} accepted", f"id_token {R} accepted"),
    # Datadog
    ("DD_API_KEY=0123456789abcdef0123456789abcdef", f"DD_API_KEY={R}"),
    (f"dd key {DD_UPPER} rejected", f"dd key {R} rejected"),
    (f"api key '{DD_UPPER}'", f"api key '{R}'"),
    # private keys on one line
    (
        "-----BEGIN RSA PRIVATE KEY-----MIIEowIBAAKCAQEA-----END RSA PRIVATE KEY-----",
        f"-----BEGIN RSA PRIVATE KEY-----{R}-----END RSA PRIVATE KEY-----",
    ),
    # reasons AWS gives, with what a task put in them
    (
        f"Essential container in task exited: password=hunter2 {KEY_ID} {SECRET}",
        f"Essential container in task exited: password={R} {R} {R}",
    ),
]


@pytest.mark.parametrize(("line", "expected"), SECRET_SHAPES)
def test_every_secret_shape_is_hidden_and_its_context_kept(line: str, expected: str) -> None:
    assert redact(line) == expected


def test_the_secret_shape_table_covers_at_least_sixty_shapes() -> None:
    assert len({line for line, _ in SECRET_SHAPES}) >= 60


@pytest.mark.parametrize(
    "line",
    [
        "https://registry.npmjs.org:443/@babel/core/-/core-7.24.0.tgz",
        "docker run -p8080:80 nginx",
        "gcc -pthread -O2 -o app main.c",
        "cp -pr /src /dst",
        "aws secretsmanager get-secret-value --secret-id prod/db",
        "Invalid password for user bob",
        "password reset email sent",
        "Bearer tokens expire after an hour",
        "sk-learn-model-training-pipeline-v2",
        "Author: Dev 3 <dev3@example.com>",
        '{"token_count": 282, "api_key_id": "kid_1"}',
        "SECRET_ARN=arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/billing-AbCdEf",
        "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval",
        "passwd: password expiry information changed.",
        "cookie consent banner shown",
        "md5 5d41402abc4b2a76b9719d911017c592  part-0001.parquet",
    ],
)
def test_look_alikes_of_the_new_shapes_are_left_unchanged(line: str) -> None:
    assert redact(line) == line


ORDINARY_LINES = Path(__file__).parents[1] / "data" / "ordinary-log-lines.txt"


def test_at_most_one_percent_of_ordinary_log_lines_is_changed() -> None:
    # given a corpus of what batch jobs print when nothing secret is in it
    lines = ORDINARY_LINES.read_text(encoding="utf-8").splitlines()
    assert len(lines) >= 300

    # when each is redacted
    changed = [line for line in lines if redact(line) != line]

    # then almost all come through as they were
    rate = len(changed) / len(lines)
    print(f"ordinary lines changed by redaction: {len(changed)}/{len(lines)} = {rate:.2%}: {changed}")
    assert rate <= 0.01, changed


@pytest.mark.parametrize(
    "filler",
    [
        "a://b:",
        "a://b:c/",
        "Bearer ",
        "--password ",
        "Cookie: ",
        "password%3D",
        "sk-",
        "pwd ",
        "mysql -p",
        "-----END PRIVATE KEY-----",
        "A1" * 16 + " ",
        "FERNET_KEY=",
        "%26token%3D",
    ],
)
def test_secret_after_100_kb_of_text_built_against_the_new_rules_is_still_redacted(filler: str) -> None:
    line = (filler * (100_000 // len(filler) + 1))[:100_000] + " password=hunter2"

    assert "hunter2" not in redact(line)


# --- a key whose BEGIN line is older than the lines read ----------------------------------------------------

KEY_BODY = [
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK",
    "oAoGCCqGSM49AwEHoUQDQgAE",
]


def test_key_body_before_an_end_marker_without_its_begin_line_is_hidden() -> None:
    lines = [*KEY_BODY, "-----END RSA PRIVATE KEY-----", "key loaded"]

    tail = fit_tail(lines, max_lines=10, max_bytes=10_000)

    assert tail.lines == (R, R, R, "-----END RSA PRIVATE KEY-----", "key loaded")


def test_key_body_cut_at_both_ends_is_hidden_by_its_pem_width() -> None:
    lines = [*KEY_BODY, "ValueError: could not parse key"]

    tail = fit_tail(lines, max_lines=10, max_bytes=10_000)

    assert tail.lines == (R, R, R, "ValueError: could not parse key")


def test_an_end_marker_after_ordinary_lines_hides_nothing_else() -> None:
    lines = ["loading the key from the secret store", "-----END PRIVATE KEY-----", "done"]

    assert fit_tail(lines, max_lines=10, max_bytes=10_000).lines == tuple(lines)


def test_the_cli_view_of_a_log_hides_a_key_body_whose_begin_line_was_not_fetched() -> None:
    lines = fit_tail([KEY_BODY[0], "-----END PRIVATE KEY-----"], max_lines=2, max_bytes=10_000).lines

    assert lines == (R, "-----END PRIVATE KEY-----")


# --- redact_text: reasons and messages of several lines ----------------------------------------------------


def test_a_reason_of_several_lines_is_redacted_line_by_line_and_a_key_across_them_hidden() -> None:
    text = f"failed: password=hunter2\n-----BEGIN PRIVATE KEY-----\n{KEY_BODY[0]}\n-----END PRIVATE KEY-----"

    assert redact_text(text) == (
        f"failed: password={R}\n-----BEGIN PRIVATE KEY-----\n{R}\n-----END PRIVATE KEY-----"
    )


@pytest.mark.parametrize("text", [None, ""])
def test_no_reason_stays_no_reason(text: str | None) -> None:
    assert redact_text(text) == text
