//! In-memory ports of flow D for the controller's and the use case's tests.

use std::sync::Mutex;

use super::*;
use crate::port::PortError;
use crate::time::EpochMillis;
use crate::Side;

/// Production settings: 10 s rounds, threshold 3, recovery 3, all probes must fail.
pub(crate) fn settings() -> Settings {
    crate::FailoverConfig::default().settings()
}

pub(crate) fn round(at_ms: i64, healthy: &[bool]) -> Round {
    Round {
        at_ms,
        outcomes: healthy
            .iter()
            .enumerate()
            .map(|(i, &healthy)| ProbeOutcome {
                probe: format!("probe-{i}"),
                healthy,
                latency_ms: 5,
                reason: if healthy { "ok" } else { "connection refused" }.to_owned(),
            })
            .collect(),
    }
}

pub(crate) const DOWN: &[bool] = &[false, false, false];
pub(crate) const UP: &[bool] = &[true, true, true];

#[derive(Default)]
pub(crate) struct FakeStore {
    pub(crate) stored: Mutex<Option<Stored>>,
    pub(crate) audits: Mutex<Vec<AuditEntry>>,
    /// Both racing deciders read before either saves.
    pub(crate) barrier: Option<tokio::sync::Barrier>,
}

impl StateStore for FakeStore {
    async fn load(&self) -> Result<Option<Stored>, PortError> {
        let stored = self.stored.lock().unwrap().clone();
        if let Some(barrier) = &self.barrier {
            barrier.wait().await;
        }
        Ok(stored)
    }

    async fn save(&self, record: &FailoverRecord, expected: u64) -> Result<bool, PortError> {
        let mut stored = self.stored.lock().unwrap();
        if stored.as_ref().map_or(0, |s| s.version) != expected {
            return Ok(false);
        }
        *stored = Some(Stored {
            record: record.clone(),
            version: expected + 1,
        });
        Ok(true)
    }

    async fn audit(&self, entry: &AuditEntry) -> Result<(), PortError> {
        let mut audits = self.audits.lock().unwrap();
        audits.retain(|a| a.runbook.id != entry.runbook.id);
        audits.push(entry.clone());
        Ok(())
    }
}

#[derive(Default)]
pub(crate) struct FakeSwitch {
    pub(crate) flips: Mutex<Vec<Side>>,
    /// Every heartbeat, in order.
    pub(crate) heartbeats: Mutex<Vec<Side>>,
    pub(crate) fail_flips: std::sync::atomic::AtomicU32,
}

impl TrafficSwitch for FakeSwitch {
    async fn ensure(&self) -> Result<(), PortError> {
        Ok(())
    }

    async fn point_to(&self, side: Side) -> Result<(), PortError> {
        use std::sync::atomic::Ordering;
        if self.fail_flips.load(Ordering::Relaxed) > 0 {
            self.fail_flips.fetch_sub(1, Ordering::Relaxed);
            return Err(PortError::transient(
                "ChangeResourceRecordSets",
                "throttled",
            ));
        }
        self.flips.lock().unwrap().push(side);
        Ok(())
    }

    async fn heartbeat(&self, side: Side) -> Result<(), PortError> {
        self.heartbeats.lock().unwrap().push(side);
        Ok(())
    }

    async fn serving(&self) -> Result<Option<Side>, PortError> {
        Ok(self.flips.lock().unwrap().last().copied())
    }
}

#[derive(Default)]
pub(crate) struct FakeNotifier(pub(crate) Mutex<Vec<String>>);

impl Notifier for FakeNotifier {
    async fn notify(&self, subject: &str, _message: &str) -> Result<(), PortError> {
        self.0.lock().unwrap().push(subject.to_owned());
        Ok(())
    }
}

/// Restores that become available after `polls` readiness checks; what each call was
/// asked for which runbook.
#[derive(Default)]
pub(crate) struct FakeDatabase {
    pub(crate) polls: Mutex<u32>,
    /// `start <runbook>` / `ready <runbook>`, in order.
    pub(crate) calls: Mutex<Vec<String>>,
    /// Readiness answers `Waiting { overdue: true }` while polls remain.
    pub(crate) overdue: bool,
    /// What the failover left in DR, as failback lists it.
    pub(crate) restored: Vec<String>,
    /// Carry-back looks that answer `Waiting` before it is done.
    pub(crate) carry_polls: Mutex<u32>,
}

impl DatabaseFailback for FakeDatabase {
    async fn restored(&self, runbook: &str) -> Result<Vec<String>, PortError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("restored {runbook}"));
        Ok(self.restored.clone())
    }

    async fn carry_back(
        &self,
        failover: &str,
        failback: &str,
        _: EpochMillis,
    ) -> Result<Readiness, PortError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("carry-back {failover} {failback}"));
        let mut polls = self.carry_polls.lock().unwrap();
        if *polls == 0 {
            return Ok(Readiness::Ready(
                "fleetdb: CARRIED BACK as fleetdb-dr-writes-1".to_owned(),
            ));
        }
        *polls -= 1;
        Ok(Readiness::Waiting {
            progress: format!("fleetdb-dr-writes-1 copying, {polls} looks to go"),
            overdue: false,
        })
    }

    async fn retire(
        &self,
        failover: &str,
        failback: &str,
        _: EpochMillis,
    ) -> Result<Readiness, PortError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("retire {failover} {failback}"));
        Ok(Readiness::Ready("fleetdb: RETIRED".to_owned()))
    }
}

impl DatabaseRecovery for FakeDatabase {
    async fn start(&self, runbook: &str) -> Vec<String> {
        self.calls.lock().unwrap().push(format!("start {runbook}"));
        vec!["fleetdb: restoring fleetdb-dr-1 (RPO 300 s)".to_owned()]
    }

    async fn ready(&self, runbook: &str, _: EpochMillis) -> Result<Readiness, PortError> {
        self.calls.lock().unwrap().push(format!("ready {runbook}"));
        let mut polls = self.polls.lock().unwrap();
        if *polls == 0 {
            return Ok(Readiness::Ready(
                "fleetdb available at fleetdb.dr:5432".to_owned(),
            ));
        }
        *polls -= 1;
        Ok(Readiness::Waiting {
            progress: format!("fleetdb: creating, {polls} polls to go"),
            overdue: self.overdue,
        })
    }
}

pub(crate) struct World {
    pub(crate) store: FakeStore,
    pub(crate) switch: FakeSwitch,
    pub(crate) notifier: FakeNotifier,
    pub(crate) database: FakeDatabase,
}

impl World {
    /// A deployed and armed DR: the state stored, no hold.
    pub(crate) fn new() -> Self {
        let armed = Stored {
            record: FailoverRecord {
                state: State::initial(0),
                runbook: None,
            },
            version: 1,
        };
        Self {
            store: FakeStore {
                stored: Mutex::new(Some(armed)),
                ..FakeStore::default()
            },
            ..Self::first_deploy()
        }
    }

    /// A DR stack just deployed: no state stored yet.
    pub(crate) fn first_deploy() -> Self {
        Self {
            store: FakeStore::default(),
            switch: FakeSwitch::default(),
            notifier: FakeNotifier::default(),
            database: FakeDatabase::default(),
        }
    }

    pub(crate) fn controller(
        &self,
    ) -> Controller<'_, FakeStore, FakeSwitch, FakeNotifier, FakeDatabase> {
        Controller {
            store: &self.store,
            switch: &self.switch,
            notifier: &self.notifier,
            database: &self.database,
            settings: settings(),
            dr_region: "us-west-2".into(),
        }
    }
}
