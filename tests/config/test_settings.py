"""Specification of ``ecswatch.config.settings``:
Each variable's default, how it is read, what a bad value says."""

from __future__ import annotations

import re

import pytest

from ecswatch.config.settings import Settings, SettingsError

ETL_CLUSTER_ARN = "arn:aws:ecs:eu-west-1:123456789012:cluster/etl"


def test_an_empty_environment_gives_the_documented_defaults() -> None:
    settings = Settings.from_env({})

    assert settings == Settings(
        watch_clusters=frozenset(),
        include_service_tasks=False,
        log_tail_lines=30,
        log_tail_max_bytes=2800,
        state_table_name="",
        datadog_site="datadoghq.com",
        datadog_api_key_parameter="",
        slack_token_parameter="",
        slack_webhook_parameter="",
        slack_default_channel="#batch-alerts",
        storm_window_seconds=300,
        secrets_max_age_seconds=300,
    )


def test_without_an_argument_the_process_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_TAIL_LINES", "7")

    assert Settings.from_env().log_tail_lines == 7


def test_watch_clusters_is_a_comma_separated_list_of_names_and_arns_with_blanks_ignored() -> None:
    settings = Settings.from_env({"WATCH_CLUSTERS": f" batch, {ETL_CLUSTER_ARN} ,, "})

    assert settings.watch_clusters == frozenset({"batch", ETL_CLUSTER_ARN})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        *[("1", True), ("true", True), ("TRUE", True), (" yes ", True), ("on", True)],
        *[("0", False), ("false", False), ("No", False), ("off", False), ("", False), ("  ", False)],
    ],
)
def test_include_service_tasks_reads_the_usual_words_for_true_and_false(raw: str, expected: bool) -> None:
    assert Settings.from_env({"INCLUDE_SERVICE_TASKS": raw}).include_service_tasks is expected


def test_whole_numbers_are_read_with_surrounding_blanks() -> None:
    settings = Settings.from_env(
        {
            "LOG_TAIL_LINES": " 50 ",
            "LOG_TAIL_MAX_BYTES": "4000",
            "STORM_WINDOW_SECONDS": "0",
            "SECRETS_MAX_AGE_SECONDS": "86400",
        }
    )

    assert (
        settings.log_tail_lines,
        settings.log_tail_max_bytes,
        settings.storm_window_seconds,
        settings.secrets_max_age_seconds,
    ) == (50, 4000, 0, 86400)


def test_a_zero_line_log_tail_is_allowed_because_it_turns_the_tail_off() -> None:
    assert Settings.from_env({"LOG_TAIL_LINES": "0"}).log_tail_lines == 0


def test_text_settings_are_trimmed_and_blank_ones_fall_back_to_their_defaults() -> None:
    settings = Settings.from_env(
        {
            "DATADOG_SITE": "   ",
            "SLACK_DEFAULT_CHANNEL": "",
            "STATE_TABLE_NAME": " ecswatch-state ",
            "SLACK_TOKEN_PARAMETER": " ssm:/ecswatch/slack-token ",
        }
    )

    assert (
        settings.datadog_site,
        settings.slack_default_channel,
        settings.state_table_name,
        settings.slack_token_parameter,
    ) == ("datadoghq.com", "#batch-alerts", "ecswatch-state", "ssm:/ecswatch/slack-token")


def test_a_named_datadog_site_is_kept() -> None:
    assert Settings.from_env({"DATADOG_SITE": "datadoghq.eu"}).datadog_site == "datadoghq.eu"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("INCLUDE_SERVICE_TASKS", "maybe", "INCLUDE_SERVICE_TASKS must be true or false, not 'maybe'"),
        ("LOG_TAIL_LINES", "thirty", "LOG_TAIL_LINES must be a whole number, not 'thirty'"),
        ("LOG_TAIL_LINES", "-1", "LOG_TAIL_LINES must be between 0 and 10000, not -1"),
        ("LOG_TAIL_LINES", "10001", "LOG_TAIL_LINES must be between 0 and 10000, not 10001"),
        ("LOG_TAIL_MAX_BYTES", "100", "LOG_TAIL_MAX_BYTES must be between 200 and 1000000, not 100"),
        ("STORM_WINDOW_SECONDS", "86401", "STORM_WINDOW_SECONDS must be between 0 and 86400, not 86401"),
        ("SECRETS_MAX_AGE_SECONDS", "1.5", "SECRETS_MAX_AGE_SECONDS must be a whole number, not '1.5'"),
    ],
)
def test_an_unusable_value_is_a_settings_error_naming_the_variable_and_the_value(
    variable: str, value: str, message: str
) -> None:
    with pytest.raises(SettingsError, match=f"^{re.escape(message)}$"):
        Settings.from_env({variable: value})


def test_a_settings_error_is_a_value_error() -> None:
    assert issubclass(SettingsError, ValueError)


# --- which clusters are watched -----------------------------------------------------------------------


@pytest.mark.parametrize("cluster", ["batch", "etl", "default"])
def test_an_empty_watch_list_watches_every_cluster(cluster: str) -> None:
    assert Settings().watches(cluster)


@pytest.mark.parametrize(("cluster", "watched"), [("batch", True), ("etl", False)])
def test_a_cluster_is_watched_by_name(cluster: str, watched: bool) -> None:
    assert Settings(watch_clusters=frozenset({"batch", "legacy"})).watches(cluster) is watched


@pytest.mark.parametrize(("cluster", "watched"), [("etl", True), ("batch", False)])
def test_a_cluster_is_watched_by_arn(cluster: str, watched: bool) -> None:
    assert Settings(watch_clusters=frozenset({ETL_CLUSTER_ARN})).watches(cluster) is watched


def test_a_cluster_name_that_only_ends_an_arn_differently_is_not_watched() -> None:
    assert not Settings(watch_clusters=frozenset({ETL_CLUSTER_ARN})).watches("nightly-etl")
