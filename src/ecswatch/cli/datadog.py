"""`ecswatch datadog apply`: the dashboard and monitors that ship with ecswatch, created or updated in
Datadog through datadog-api-client, instead of curl.

What is applied is read from the installed package with ``importlib.resources``, so it works from a
wheel: ``ecswatch/monitors/*.json`` and ``ecswatch/dashboards/datadog-ecswatch.json``.

Matching makes a second apply change nothing: the dashboard is the one with the same title (two with
that title is an error, not a guess); a monitor is the one tagged ``ecswatch-monitor:<file name>``.
What Datadog adds to what it stores (ids, authors, dates, widget ids, default options) is not a
difference: only the keys the files set are compared, and lists element by element.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from datadog_api_client import ApiClient, Configuration
from datadog_api_client.exceptions import ApiException, OpenApiException
from datadog_api_client.model_utils import validate_and_convert_types
from datadog_api_client.v1.api.dashboards_api import DashboardsApi
from datadog_api_client.v1.api.monitors_api import MonitorsApi
from datadog_api_client.v1.model.dashboard import Dashboard
from datadog_api_client.v1.model.monitor import Monitor
from datadog_api_client.v1.model.monitor_update_request import MonitorUpdateRequest

from ecswatch.cli.aws import CliError

DASHBOARD_FILE = "datadog-ecswatch.json"
#: Every monitor ecswatch made carries this tag; ``ecswatch-monitor:<name>`` says which one it is.
MANAGED_TAG = "managed-by:ecswatch"
MONITOR_TAG = "ecswatch-monitor:"

CREATE, UPDATE, UNCHANGED = "create", "update", "unchanged"


@dataclass(frozen=True)
class Desired:
    kind: str  # "dashboard" | "monitor"
    name: str  # the dashboard's title, or the monitor's file name
    body: Mapping[str, Any]


@dataclass(frozen=True)
class Change:
    desired: Desired
    action: str  # CREATE | UPDATE | UNCHANGED
    existing_id: str | None
    diff: str = ""


# --------------------------------------------------------------------------- what ships


def shipped() -> list[Desired]:
    """The dashboard, then the monitors in file-name order."""
    dashboard = _json(_dashboard_text(), DASHBOARD_FILE)
    found = [Desired("dashboard", str(dashboard["title"]), dashboard)]
    folder = resources.files("ecswatch.monitors")
    for item in sorted(folder.iterdir(), key=lambda i: i.name):
        if item.name.endswith(".json"):
            name = item.name.removesuffix(".json")
            body = _json(item.read_text(encoding="utf-8"), f"monitors/{item.name}")
            if f"{MONITOR_TAG}{name}" not in body.get("tags", []):
                raise CliError(f"monitors/{item.name} lacks its tag {MONITOR_TAG}{name}")
            found.append(Desired("monitor", name, body))
    return found


def _dashboard_text() -> str:
    packaged = resources.files("ecswatch").joinpath("dashboards", DASHBOARD_FILE)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    raise CliError(f"the dashboard {DASHBOARD_FILE} is not installed with ecswatch")


def _json(text: str, name: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as e:
        raise CliError(f"{name} is not JSON: {e}") from e
    if not isinstance(data, dict):
        raise CliError(f"{name} must hold a JSON object")
    return data


# --------------------------------------------------------------------------- comparing


def differs(desired: object, existing: object) -> bool:
    """True when ``existing`` lacks or changes something ``desired`` sets (extra keys don't count)."""
    if isinstance(desired, Mapping):
        return not isinstance(existing, Mapping) or any(
            differs(value, existing.get(key)) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            not isinstance(existing, list)
            or len(existing) != len(desired)
            or any(differs(d, e) for d, e in zip(desired, existing, strict=True))
        )
    if isinstance(desired, bool) or isinstance(existing, bool):
        return desired is not existing
    if isinstance(desired, int | float) and isinstance(existing, int | float):
        return float(desired) != float(existing)
    return desired != existing


def projected(desired: object, existing: object) -> object:
    """``existing`` cut down to the keys ``desired`` sets: what the diff shows."""
    if isinstance(desired, Mapping) and isinstance(existing, Mapping):
        return {key: projected(value, existing.get(key)) for key, value in desired.items() if key in existing}
    if isinstance(desired, list) and isinstance(existing, list):
        return [projected(d, e) for d, e in zip(desired, existing, strict=False)] + existing[len(desired) :]
    return existing


def unified_diff(name: str, desired: object, existing: object) -> str:
    before = json.dumps(projected(desired, existing), indent=2, sort_keys=True, default=str).splitlines()
    after = json.dumps(desired, indent=2, sort_keys=True).splitlines()
    diff = difflib.unified_diff(before, after, f"{name} (in Datadog)", f"{name} (ecswatch)", lineterm="")
    return "\n".join(diff) + "\n"


# --------------------------------------------------------------------------- Datadog


class DatadogApi:
    """The calls apply makes, with Datadog's errors turned into one CliError line each."""

    def __init__(self, client: ApiClient) -> None:
        self._dashboards = DashboardsApi(client)  # type: ignore[no-untyped-call]
        self._monitors = MonitorsApi(client)  # type: ignore[no-untyped-call]
        self._config: Configuration = client.configuration

    def dashboards_titled(self, title: str) -> list[str]:
        found = self._call("list dashboards", self._dashboards.list_dashboards)
        return [str(d.id) for d in found.get("dashboards", []) if d.title == title]

    def dashboard(self, dashboard_id: str) -> dict[str, Any]:
        found = self._call("read a dashboard", lambda: self._dashboards.get_dashboard(dashboard_id))
        stored: dict[str, Any] = _without_widget_ids(found.to_dict())
        return stored

    def managed_monitors(self) -> list[dict[str, Any]]:
        found = self._call("list monitors", lambda: self._monitors.list_monitors(monitor_tags=MANAGED_TAG))
        return [m.to_dict() for m in found]

    def create(self, desired: Desired) -> str:
        if desired.kind == "dashboard":
            made = self._call(
                "create the dashboard",
                lambda: self._dashboards.create_dashboard(self._model(desired, Dashboard)),
            )
        else:
            made = self._call(
                f"create monitor {desired.name}",
                lambda: self._monitors.create_monitor(self._model(desired, Monitor)),
            )
        return str(made.id)

    def update(self, desired: Desired, existing_id: str) -> None:
        if desired.kind == "dashboard":
            body = self._model(desired, Dashboard)
            self._call("update the dashboard", lambda: self._dashboards.update_dashboard(existing_id, body))
        else:
            update = self._model(desired, MonitorUpdateRequest)
            self._call(
                f"update monitor {desired.name}",
                lambda: self._monitors.update_monitor(int(existing_id), update),
            )

    def _model(self, desired: Desired, model: type) -> Any:
        try:
            return validate_and_convert_types(  # type: ignore[no-untyped-call]
                dict(desired.body), (model,), ["body"], True, True, self._config
            )
        except OpenApiException as e:
            raise CliError(f"{desired.kind} {desired.name} is not what Datadog accepts: {e}") from e

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except ApiException as e:
            hint = " (check DD_API_KEY and DD_APP_KEY, and the site)" if e.status in (401, 403) else ""
            raise CliError(f"Datadog refused to {what}: HTTP {e.status} {e.reason}{hint}") from e
        except OSError as e:
            raise CliError(f"cannot reach Datadog at {self._config.host} to {what}: {e}") from e


def _without_widget_ids(value: Any) -> Any:
    """Datadog numbers every widget it stores; the files do not."""
    if isinstance(value, dict):
        return {
            k: _without_widget_ids(v) for k, v in value.items() if not (k == "id" and "definition" in value)
        }
    if isinstance(value, list):
        return [_without_widget_ids(v) for v in value]
    return value


def datadog_client(
    *, site: str | None, url: str | None, api_key: str | None, app_key: str | None
) -> ApiClient:
    """A client for ``url`` (a local endpoint) or the site's API; keys as datadog-api-client reads them."""
    config = Configuration(host=url or None)  # type: ignore[no-untyped-call]
    if not url and site:
        config.server_variables["site"] = site
    if api_key:
        config.api_key["apiKeyAuth"] = api_key
    if app_key:
        config.api_key["appKeyAuth"] = app_key
    missing = [
        name
        for name, auth in (("DD_API_KEY", "apiKeyAuth"), ("DD_APP_KEY", "appKeyAuth"))
        if not config.api_key.get(auth)
    ]
    if missing:
        raise CliError(
            f"set {' and '.join(missing)}: dashboards and monitors need an API key and an application key"
        )
    try:
        _ = config.host
    except ValueError as e:
        raise CliError(
            f"{site!r} is not a Datadog site (datadoghq.com, datadoghq.eu, us3.datadoghq.com ...)"
        ) from e
    return ApiClient(config)


# --------------------------------------------------------------------------- planning and applying


def plan(api: DatadogApi, desired: Sequence[Desired]) -> list[Change]:
    monitors = api.managed_monitors() if any(d.kind == "monitor" for d in desired) else []
    changes = []
    for item in desired:
        existing_id, existing = _existing(api, item, monitors)
        if existing is None:
            changes.append(Change(item, CREATE, None))
        elif differs(item.body, existing):
            changes.append(Change(item, UPDATE, existing_id, unified_diff(item.name, item.body, existing)))
        else:
            changes.append(Change(item, UNCHANGED, existing_id))
    return changes


def _existing(
    api: DatadogApi, item: Desired, monitors: Sequence[Mapping[str, Any]]
) -> tuple[str | None, Mapping[str, Any] | None]:
    if item.kind == "dashboard":
        ids = api.dashboards_titled(item.name)
        if len(ids) > 1:
            raise CliError(
                f"{len(ids)} dashboards are titled {item.name!r} ({', '.join(ids)}): delete all but one"
            )
        return (ids[0], api.dashboard(ids[0])) if ids else (None, None)
    tag = f"{MONITOR_TAG}{item.name}"
    found = [m for m in monitors if tag in (m.get("tags") or [])]
    if len(found) > 1:
        listed = ", ".join(str(m.get("id")) for m in found)
        raise CliError(f"{len(found)} monitors are tagged {tag} ({listed}): delete all but one")
    return (str(found[0]["id"]), found[0]) if found else (None, None)


def apply(api: DatadogApi, changes: Sequence[Change]) -> list[Change]:
    """Carry out the plan; the changes, with created ids filled in."""
    done = []
    for change in changes:
        if change.action == CREATE:
            done.append(Change(change.desired, CREATE, api.create(change.desired)))
        elif change.action == UPDATE and change.existing_id is not None:
            api.update(change.desired, change.existing_id)
            done.append(change)
        else:
            done.append(change)
    return done


def changes_text(changes: Sequence[Change], *, dry_run: bool) -> str:
    verbs = {
        CREATE: "would create" if dry_run else "created",
        UPDATE: "would update" if dry_run else "updated",
    }
    lines: list[str] = []
    for change in changes:
        what = f"{change.desired.kind} {change.desired.name!r}"
        where = f" ({change.existing_id})" if change.existing_id else ""
        lines.append(f"{verbs.get(change.action, 'unchanged')}: {what}{where}")
        if change.diff:
            lines += ["  " + line for line in change.diff.rstrip("\n").splitlines()]
    counts = {action: sum(1 for c in changes if c.action == action) for action in (CREATE, UPDATE, UNCHANGED)}
    summary = f"{counts[CREATE]} to create, {counts[UPDATE]} to update, {counts[UNCHANGED]} unchanged"
    return "\n".join([*lines, f"({summary}{'; nothing was changed: --dry-run' if dry_run else ''})"]) + "\n"


def changes_json(changes: Sequence[Change], *, dry_run: bool) -> list[dict[str, Any]]:
    return [
        {
            "kind": c.desired.kind,
            "name": c.desired.name,
            "action": c.action,
            "id": c.existing_id,
            "diff": c.diff or None,
            "dry_run": dry_run,
        }
        for c in changes
    ]
