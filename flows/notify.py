"""Notify: an event inside a run's transaction → the notifications it causes, rendered and
queued in the outbox in that same transaction (so none is lost and none sent for a change
that rolled back). The dispatcher (notifications/outbox.py) delivers them.

Who hears what:
- the owner of a task when it becomes theirs (`task.assigned`, `approval.requested`) and when
  it is late (`task.overdue`, `task.reminder`); the escalation target on `task.escalated`;
- every runbook-level `notify:` rule whose `on:` names the event; a `notify` step's `to:`;
- the site's default channel on `site.lockdown` / `site.standdown`.
A target is expanded to people (`team:X` → its leads, `role:Y` → staff with that role,
`person:Z`) or a channel (`channel:C`). A person is reached through the first site channel, in
the order site.yaml declares them, that can reach them (smtp needs an email, chat robots a
chat id, …), else through the default channel naming them. A message that carries something personal (a
roll call's `/r/` link, a call list's phone numbers) goes only through a personal channel
(one whose module says `PERSONAL`: sms, smtp) that reaches that person, never through a group
channel (chat robots, webhook, console); a person none reaches gets nothing (the call list
says so). Drill runs send everything to the site's drill channel (console when none) unless a
step says `drill: send`."""

from __future__ import annotations

import os
import zoneinfo
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from jinja2 import TemplateError

from notifications.channels import channel as channel_module
from notifications.render import lang_of, mark_drill, render_event, split
from runbooks.expressions import ExpressionError, render_value, single_expression
from runbooks.plan import PlannedStep
from runbooks.sites import Site
from runbooks.texts import localized, text_in

from .runview import RunView
from .store import Tx

OWNER_EVENTS = frozenset({"task.assigned", "approval.requested", "task.overdue", "task.reminder", "task.cancelled"})
# A task cancelled while it was still pending was never announced to its owner: no news for them.
TOLD = frozenset({"waiting", "ready", "running"})


PUBLIC_URL_SETTING = "public_url"


def public_url(reader: Any) -> str:
    """The base of every link in a message: the one `runbook serve` kept in the store at its
    start (so the CLI, a worker or a replica link to the served port), else RUNBOOK_PUBLIC_URL,
    else the default port on loopback."""
    kept = reader.setting(PUBLIC_URL_SETTING)
    return (kept or os.environ.get("RUNBOOK_PUBLIC_URL") or "http://127.0.0.1:8080").rstrip("/")


def expand(site: Site, target: str) -> list[tuple[str, dict[str, str] | None]]:
    """A target → [(recipient, person or None)]: `person:<id>` entries, or one `channel:<id>`."""
    kind, _, name = target.partition(":")
    people = site.people
    if kind == "channel":
        return [(target, None)] if name in site.channels else []
    if kind == "person":
        ids = [name]
    elif kind == "team":
        ids = list((site.teams.get(name) or {}).get("leads") or [])
    elif kind == "role":
        ids = [p["id"] for p in site.staff if p.get("role") == name]
    else:
        return []
    return [(f"person:{i}", people[i]) for i in ids if i in people]


def route(
    site: Site, person: Mapping[str, str] | None, recipient: str, drill: bool, *, personal: bool = False
) -> tuple[str, str | None] | None:
    """(site channel id, address) for a recipient; None when the site has nowhere to send (or,
    for a personal message, no personal channel reaches the person)."""
    if drill:
        return (site.drill_channel, None) if site.drill_channel else ("console", None)
    if person is None:
        return None if personal else (recipient.partition(":")[2], None)
    if personal:
        return personal_route(site, person)
    for cid, spec in site.channels.items():
        module = channel_module(spec.get("kind", ""))
        address = module.reaches(person) if module is not None else None
        if address:
            return cid, address
    return (site.default_channel, None) if site.default_channel else None


def personal_route(site: Site, person: Mapping[str, str]) -> tuple[str, str] | None:
    """The first personal channel of the site (site.yaml's order) that reaches the person."""
    for cid, spec in site.channels.items():
        module = channel_module(spec.get("kind", ""))
        if module is not None and getattr(module, "PERSONAL", False):
            address = module.reaches(person)
            if address:
                return cid, address
    return None


def _channel_spec(site: Site, cid: str) -> dict[str, Any]:
    return dict(site.channels.get(cid) or {"kind": "console"})


def local_time(site: Site, when: datetime | None) -> str | None:
    if when is None:
        return None
    return when.astimezone(zoneinfo.ZoneInfo(site.timezone)).strftime("%Y-%m-%d %H:%M %Z")


def queue(
    tx: Tx,
    *,
    site: Site,
    run: Mapping[str, Any] | None,
    event: str,
    now: datetime,
    targets: Iterable[str],
    context: Mapping[str, Any],
    task: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
    body: Mapping[str, Any] | None = None,
    templates: Mapping[str, Mapping[str, str]] | None = None,
    send_in_drill: bool = False,
    scope_id: str | None = None,
    seen: set[str] | None = None,
    link: str | None = None,
    personal: bool = False,
) -> int:
    """Render and queue one event's notifications to `targets`; returns how many were queued.
    `body` is a rule's or step's `template`/`message` override; `context` the run's expression
    context (for runbook templates and inline messages); `personal`: the message carries a
    personal link or contact details (personal channels only)."""
    drill = bool(run and run["drill"]) or bool(data and data.get("drill"))
    routed = drill and not send_in_drill
    run_id = run["id"] if run else None
    link = link or public_url(tx) + (
        f"/runs/{run_id}/tasks/{task['id']}" if task and run_id else f"/runs/{run_id}" if run_id else ""
    )
    base = {
        "event": event,
        "data": dict(data or {}),
        "link": link if run_id else None,
        "site": {"id": site.id, "name": site.name, "timezone": site.timezone},
        "run": {"id": run_id, "runbook": run["runbook_id"], "name": context.get("runbook_name"), "drill": drill}
        if run
        else None,
        "task": {
            "id": task["id"],
            "title": task["title"],
            "owner": task.get("owner"),
            "state": task["state"],
            "due": local_time(site, task.get("due_at")),
            "reason": task.get("reason"),
        }
        if task
        else None,
    }
    rows: list[dict[str, Any]] = []
    seen = set() if seen is None else seen
    for target in targets:
        for recipient, person in expand(site, target):
            if recipient in seen:
                continue
            seen.add(recipient)
            where = route(site, person, recipient, routed, personal=personal)
            if where is None:
                continue
            cid, address = where
            spec = _channel_spec(site, cid)
            lang = lang_of(person.get("lang") if person else None, spec.get("lang"), site.lang)
            name = person["name"] if person else cid
            # Each reader gets the texts of the runbook and site in their language (runbooks/texts.py).
            message = localized({**base, "recipient": {"name": name, "id": recipient}}, lang)
            subject, text = render_message(event, lang, message, context, body, templates or {})
            if drill:
                subject, text = mark_drill(subject, text, lang)
            if routed and person is not None:
                text = f"{text}\n(→ {name})"
            rows.append(
                {
                    "thread": f"{scope_id or run_id}:{task['id'] if task else '-'}:{event}:{recipient}",
                    "run_id": run_id,
                    "site_id": site.id,
                    "task_id": task["id"] if task else None,
                    "event": event,
                    "recipient": recipient,
                    "channel": cid,
                    "channel_spec": spec,
                    "address": address,
                    "lang": lang,
                    "next_attempt_at": now,
                    "created_at": now,
                    "message": {
                        "subject": subject,
                        "text": text,
                        "link": message["link"],
                        "drill": drill,
                        "name": name,
                    },
                }
            )
    tx.insert_outbox(rows)
    return len(rows)


def run_context(rs: RunView, step: PlannedStep | None, task: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The context a run's messages render in: its expression context and the runbook's name."""
    return {**rs.context(step, task), "runbook_name": rs.plan.name}


def tell(
    rs: RunView,
    event: str,
    targets: Iterable[str],
    *,
    step: PlannedStep | None = None,
    task: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    **options: Any,
) -> int:
    """An event of this run (of a task of `step`, or of the run) → queued to `targets` in the
    run's transaction, rendered in `run_context` (computed here unless given: a caller telling
    many people computes it once); `options` as `queue` takes them (link, personal, …)."""
    return queue(
        rs.tx,
        site=rs.plan.site,
        run=rs.run,
        event=event,
        now=rs.now,
        task=task,
        targets=targets,
        context=run_context(rs, step, task) if context is None else context,
        data=data,
        **options,
    )


def send_link(
    rs: RunView,
    step: PlannedStep | None,
    task: Mapping[str, Any],
    event: str,
    person_id: str,
    link: str,
    data: Mapping[str, Any],
    context: Mapping[str, Any] | None = None,
) -> int:
    """A person's own link (`/r/…`, `/c/…`, `/s/…`) → that person alone, through a personal
    channel that reaches them; in a drill only if the step says `drill: send`."""
    return tell(
        rs,
        event,
        [f"person:{person_id}"],
        step=step,
        task=task,
        data=data,
        context=context,
        link=link,
        personal=True,
        send_in_drill=step is not None and step.drill == "send",
    )


def render_message(
    event: str,
    lang: str,
    message: Mapping[str, Any],
    context: Mapping[str, Any],
    body: Mapping[str, Any] | None,
    templates: Mapping[str, Mapping[str, str]],
) -> tuple[str, str]:
    name = (body or {}).get("template")
    inline = (body or {}).get("message")
    if isinstance(name, str) and name in templates:
        inline = templates[name].get(lang) or templates[name].get("en") or next(iter(templates[name].values()))
    inline = text_in(inline, lang)
    if inline is None:
        try:
            return render_event(name or event, lang, message)
        except TemplateError as e:  # a message must never stop the change that caused it
            return _fallback(event, message, e)
    variables = {**context, **{k: v for k, v in message.items() if k not in ("site", "run")}}
    if isinstance(variables.get("site"), Mapping):
        variables["site"] = {**variables["site"], "name": text_in(variables["site"].get("name"), lang)}
    try:
        return split(str(render_value(inline, variables)))
    except ExpressionError as e:  # a message must not stop the run: say what went wrong instead
        try:
            subject, text = render_event(event, lang, message)
        except TemplateError as e2:
            return _fallback(event, message, e2)
        return subject, f"{text}\n(message could not be rendered: {e})"


def _fallback(event: str, message: Mapping[str, Any], error: Exception) -> tuple[str, str]:
    """The event named plainly, when its template cannot render these data."""
    what = (message.get("task") or {}).get("title") or (message.get("run") or {}).get("name") or message["site"]["name"]
    subject = f"{event}: {what}"
    return subject, f"{subject}\n{message.get('link') or ''}\n(template error: {error})".strip()


def targets_of(value: Any, context: Mapping[str, Any]) -> list[str]:
    """Targets as written, expressions rendered (an expression may give a person row)."""
    out: list[str] = []
    for t in value or []:
        if isinstance(t, str) and single_expression(t) is not None:
            try:
                got = render_value(t, dict(context))
            except ExpressionError:
                continue
            for g in got if isinstance(got, list) else [got]:
                out.append(f"person:{g['id']}" if isinstance(g, dict) and "id" in g else str(g))
        else:
            out.append(str(t))
    return out


def announce(rs: RunView, event: str, task_id: str | None, data: Mapping[str, Any]) -> int:
    """The notifications an event of a run causes (RunState `rs`, inside its transaction)."""
    plan = rs.plan
    groups: list[tuple[list[str], Mapping[str, Any] | None]] = []
    task = None
    told = event != "task.cancelled" or (data.get("was") in TOLD and not data.get("digest"))
    if task_id is not None and event in OWNER_EVENTS | {"task.escalated"} and told:
        task = rs.tx.task(rs.run_id, task_id)
        owner = data.get("to") if event == "task.escalated" else data.get("owner") or (task or {}).get("owner")
        if owner:
            groups.append(([owner], None))
    groups += [(list(rule["to"]), rule) for rule in plan.notify if event in rule["on"]]
    if not groups:
        return 0
    if task_id is not None and task is None:
        task = rs.tx.task(rs.run_id, task_id)
    step = plan.find(task["step_id"]) if task else None
    context = rs.context(step, task) if any(body for _, body in groups) or step is not None else {}
    seen: set[str] = set()
    return sum(
        tell(
            rs,
            event,
            targets_of(targets, context),
            task=task,
            data=data,
            context={**context, "runbook_name": plan.name},
            body=body,
            templates=plan.templates,
            seen=seen,
            send_in_drill=bool(step and step.drill == "send"),
        )
        for targets, body in groups
    )


def cancelled_digests(rs: RunView, tasks: Iterable[Mapping[str, Any]], reason: str | None) -> int:
    """A cancelled run: each person who owned open work that had become theirs hears one
    `task.cancelled` message listing it, not one per task (their tasks' events say `digest`)."""
    site = rs.plan.site
    mine: dict[str, tuple[dict[str, str] | None, list[str]]] = {}
    for task in tasks:
        if task["state"] not in TOLD or not task.get("owner"):
            continue
        for recipient, person in expand(site, str(task["owner"])):
            mine.setdefault(recipient, (person, []))[1].append(task["title"])  # a Texts: each reader's language
    context = run_context(rs, None)
    return sum(
        tell(rs, "task.cancelled", [recipient], data={"tasks": titles, "reason": reason}, context=context)
        for recipient, (_, titles) in mine.items()
    )


def run_update(rs: RunView, text: str, by: str) -> int:
    """A manager's status update → the site's default channel (its drill channel in a drill)."""
    site = rs.plan.site
    if not site.default_channel:
        return 0
    return tell(rs, "run.update", [f"channel:{site.default_channel}"], data={"text": text, "by": by})


def site_event(tx: Tx, site: Site, event: str, lockdown_id: str, now: datetime, drill: bool) -> int:
    """`site.lockdown` / `site.standdown` → the site's default channel (its drill channel in a drill)."""
    if not site.default_channel:
        return 0
    return queue(
        tx,
        site=site,
        run=None,
        event=event,
        now=now,
        targets=[f"channel:{site.default_channel}"],
        context={},
        data={"drill": drill},
        scope_id=lockdown_id,
    )
