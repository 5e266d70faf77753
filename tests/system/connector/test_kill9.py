"""kill -9 of the connector at random points of its full sync and of later delta cycles.

One cloud service process and one seeded site. Each trial may first change
the site (a touch: modifications, additions and deletes; or a restore, whose
new instance identity forces a full resync), then SIGKILLs the connector at a
random moment of the work that follows, sometimes a second time while it
resends what the first kill left pending, restarts it, lets it finish a cycle
and checks that the tenant holds exactly what the site holds (every SMSID and
its content hash; no deleted device back) and that every batch the tenant
applied is one acknowledged batch of the connector's outbox, applied once.
A restarted connector takes over the uploader lease the killed one left
(same host, its process gone) at once, without waiting out its expiry.

Trials: COBRIDGE_CHAOS_TRIALS (20 by default; `make chaos` runs 200), their
random choices from COBRIDGE_CHAOS_SEED.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.system_checks import query
from tests.support.system_connector import ConnectorProcess
from tests.support.system_setup import System, running_system
from tests.support.system_sites import set_instance_id, touch

TRIALS = int(os.environ.get("COBRIDGE_CHAOS_TRIALS", "20"))
SEED = int(os.environ.get("COBRIDGE_CHAOS_SEED", "20261126"))
DEVICES = 3000
BATCH = 100
# Seconds after "connector started" (or after the change, for a running
# connector) over which kills are spread: a full sync of DEVICES in batches
# of 100 takes about 2 s here, a delta cycle well under 1 s after its read.
FULL_WINDOW = 2.5
DELTA_WINDOW = 1.8
RESEND_WINDOW = 0.8


@dataclass
class Trial:
    """What one trial changed, how it chose its moment, and where its kill landed."""

    change: str
    batches: int  # about how many batches the change makes the connector send
    trigger: str = ""
    landed: str = ""
    second_kill: bool = False


def change_site(system: System, rng: random.Random, trial: int) -> Trial:
    """Change the site before a kill (or not)."""
    if trial == 0:
        return Trial("none (first full sync)", DEVICES // BATCH)
    roll = rng.random()
    if roll < 0.15:
        set_instance_id(system.site_db)
        return Trial("restore (full resync)", DEVICES // BATCH)
    if roll < 0.8:
        modified, added, deleted = touch(
            system.site_db, rng.choice([30, 200, 800, 1500]), rng.randrange(1, 2**31)
        )
        batches = (modified + added) // BATCH + deleted // BATCH + 1
        return Trial(f"touch {modified}/{added}/{deleted}", batches)
    return Trial("none", 0)


def progress(system: System) -> tuple[int, int, int]:
    """(highest batch sequence persisted, batches pending, cycles started and never finished)."""
    if not system.stores_ready():
        return 0, 0, 0
    row = query(
        system.stores.connector,
        "SELECT (SELECT COALESCE(MAX(sequence), 0) FROM connector_outbox) AS persisted, "
        "(SELECT COUNT(*) FROM connector_outbox WHERE status = 'pending') AS pending, "
        "(SELECT COUNT(*) FROM connector_sync_runs WHERE finished_at IS NULL) AS open",
    )[0]
    return int(row.persisted), int(row.pending), int(row.open)


def kill_somewhere(
    system: System, process: ConnectorProcess, rng: random.Random, trial: Trial, window: float
) -> str:
    """SIGKILL at a random moment of `window` s, or after a random number of new batches.

    Where the kill landed, from the state it left: batches pending
    ("mid-upload"), a cycle begun and never ended ("mid-cycle"), or neither.
    """
    persisted, _, opened = progress(system)
    if trial.batches and rng.random() < 0.5:
        target = persisted + rng.randint(1, trial.batches)
        trial.trigger = f"after batch {target - persisted}/{trial.batches}"
        deadline = time.monotonic() + 2 * window
        while progress(system)[0] < target and time.monotonic() < deadline:
            time.sleep(0.01)
    else:
        delay = rng.uniform(0, window)
        trial.trigger = f"after {delay:.2f} s"
        time.sleep(delay)
    process.kill9()
    _, pending, still_open = progress(system)
    return "mid-upload" if pending else "mid-cycle" if still_open > opened else "between cycles"


@pytest.mark.slow
@pytest.mark.timeout(120 + 20 * TRIALS)
def test_kill9_at_random_points_keeps_the_tenant_exact(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    trials: list[Trial] = []
    with running_system(tmp_path, devices=DEVICES, seed_value=41) as system:
        system.configure(sync={"batch_size": BATCH})
        running: ConnectorProcess | None = None
        for number in range(TRIALS):
            where = f"trial {number} (COBRIDGE_CHAOS_SEED={SEED})"
            trial = change_site(system, rng, number)
            full = number == 0 or trial.change.startswith("restore")
            if running is None:
                running = system.connector()
                running.wait_started()
            window = FULL_WINDOW if full else DELTA_WINDOW
            trial.landed = kill_somewhere(system, running, rng, trial, window)
            if rng.random() < 0.3:
                # Again, while the restarted connector resends what is pending.
                trial.second_kill = True
                again = system.connector()
                again.wait_started()
                kill_somewhere(system, again, rng, Trial("none", 0), RESEND_WINDOW)
            running = system.connector()
            report = running.wait_cycle()
            assert report["message"].endswith(": ok"), f"{where}: {report}\n{running.tail()}"
            devices, ledger = system.check(f"{where}, {vars(trial)}")
            assert ledger.pending == 0, f"{where}: {ledger}"
            trials.append(trial)
        assert running is not None
        assert running.terminate() == 0, running.tail()
        devices, ledger = system.check("at the end")
    landed = Counter(t.landed for t in trials)
    print(
        f"\n{TRIALS} kill -9 trials (seed {SEED}): kills {dict(landed)}, "
        f"{sum(t.second_kill for t in trials)} second kills; tenant {devices} devices; "
        f"{ledger.applied} batches applied once, {ledger.replayed} replayed after a kill"
    )
    # The trials are only worth something if kills land while batches travel.
    assert TRIALS < 10 or landed["mid-upload"] >= 3, [vars(t) for t in trials]
