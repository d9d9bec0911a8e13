"""The Engine: the one facade the CLI, the API, the pages, console/remote.py and the tests call.
It is composed of parts, one per resource — runs (flows/run_ops.py), tasks (task_ops.py),
roll calls (roll_call_ops.py), the audit's checks (audit_ops.py), pool stock (stock_ops.py), the
dashboard's data (board.py), a person's story (person_ops.py), the grant ledger (grant_ops.py),
the after-action report (report.py) and findings (findings.py) — each a class over the store;
the facade only names their operations."""

from __future__ import annotations

from .audit_ops import AuditOps
from .board import BoardOps
from .checkin_ops import CheckinOps
from .coverage_ops import CoverageOps
from .findings import FindingOps
from .grant_ops import GrantOps
from .library_ops import LibraryOps
from .loan_ops import LoanOps
from .person_ops import PersonOps
from .report import ReportOps
from .roll_call_ops import RollCallOps
from .run_ops import RunOps, new_run_id, time_scale
from .shift_ops import ShiftOps
from .stock_ops import StockOps
from .store import Store
from .task_ops import TaskOps

__all__ = ["Engine", "new_run_id", "time_scale"]


class Engine:
    def __init__(self, store: Store):
        self.store = store
        runs, tasks = RunOps(store), TaskOps(store)
        roll_calls, stock, board = RollCallOps(store), StockOps(store), BoardOps(store)
        # Runs: start and end them, read them.
        self.start, self.lockdown, self.standdown, self.cancel = runs.start, runs.lockdown, runs.standdown, runs.cancel
        self.run, self.runs, self.site_of, self.audit = runs.run, runs.runs, runs.site_of, runs.audit
        self.site_teams = runs.site_teams
        self.outbox, self.requeue = runs.outbox, runs.requeue
        self.update = runs.update  # a manager's status update: event run.update, the site's channel
        # The library: runbooks (their inputs, the sites they validate for) and sites.
        library = LibraryOps()
        self.runbooks, self.runbook, self.sites = library.runbooks, library.runbook, library.sites
        # The audit itself: every chain against the key and the witness; re-anchoring; key rotation.
        audit = AuditOps(store)
        self.verify_all, self.reanchor, self.record_key_rotation = (
            audit.verify_all,
            audit.reanchor,
            audit.record_key_rotation,
        )
        # Tasks: check-offs, decisions, a manager's interventions.
        self.tasks, self.complete, self.approve, self.reject = tasks.tasks, tasks.complete, tasks.approve, tasks.reject
        self.skip, self.retry, self.reassign, self.add = tasks.skip, tasks.retry, tasks.reassign, tasks.add
        # Roll calls: answers by lead, link or SMS; the answer page; the links; closing; headcount.
        self.answer, self.answer_link, self.answer_sms = (
            roll_calls.answer,
            roll_calls.answer_link,
            roll_calls.answer_sms,
        )
        self.answer_page, self.muster_links = roll_calls.answer_page, roll_calls.muster_links
        self.close_muster, self.headcount = roll_calls.close_muster, roll_calls.headcount
        # Pool stock.
        self.pools, self.restock = stock.pools, stock.restock
        # The dashboard's data.
        self.overview, self.board, self.board_site = board.overview, board.board, board.board_site
        self.compute_board = board.compute_board  # uncached (the benchmark's)
        self.my_tasks, self.task_page, self.call_list = board.my_tasks, board.task_page, board.call_list
        # 7x24 coverage of a site's queues (computed on read, cached per change).
        cover = CoverageOps(store)
        self.coverage, self.coverage_all, self.coverage_site = cover.coverage, cover.coverage_all, cover.coverage_site
        self.coverage_sites = cover.coverage_sites
        # One person's story in a run, and finding people by a part of their name.
        people = PersonOps(store)
        self.person, self.people = people.person, people.people
        # Shift plans: a run's shifts, a lead's swap, a person's link (page, answer, .ics).
        rota = ShiftOps(store)
        self.shifts, self.swap_shift = rota.shifts, rota.swap_shift
        self.shift_page, self.answer_shifts, self.shift_ics = rota.shift_page, rota.answer_shifts, rota.shift_ics
        # Loans of agents between sites: request, accept (or forced), refuse, recall.
        lend = LoanOps(store)
        self.loans, self.request_loan, self.accept_loan = lend.loans, lend.request_loan, lend.accept_loan
        self.refuse_loan, self.recall_loan = lend.refuse_loan, lend.recall_loan
        # The grant ledger: a site's grants (the real ones, or a drill's), a person's.
        ledger = GrantOps(store)
        self.grants, self.grants_of = ledger.grants, ledger.grants_of
        # Welfare check-ins: a person's page and answers by their link; a step's rounds.
        welfare = CheckinOps(store)
        self.checkin_page, self.answer_checkin, self.checkins = (
            welfare.checkin_page,
            welfare.answer_checkin,
            welfare.checkins,
        )
        # After the event: the report of a run; findings tracked to closure on the site's chain.
        self.report = ReportOps(store).report
        found = FindingOps(store)
        self.add_finding, self.close_finding = found.add_finding, found.close_finding
        self.finding, self.findings = found.finding, found.findings
