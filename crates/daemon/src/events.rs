//! The events bus behind `GET /events`.
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use berth_api::system::{EventActor, EventMessage};
use tokio::sync::broadcast;

/// How many past events are kept for `--since` (Docker keeps a bounded log too).
const REPLAY: usize = 1024;

/// Publishes daemon events to every `/events` subscriber and keeps the last ones for replay.
#[derive(Debug, Clone)]
pub struct Events {
    tx: broadcast::Sender<EventMessage>,
    past: Arc<Mutex<VecDeque<EventMessage>>>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            tx: broadcast::channel(1024).0,
            past: Arc::new(Mutex::new(VecDeque::with_capacity(REPLAY))),
        }
    }
}

impl Events {
    pub fn subscribe(&self) -> broadcast::Receiver<EventMessage> {
        self.tx.subscribe()
    }

    /// Kept events with `since_ns <= timeNano <= until_ns`, oldest first, and a receiver for
    /// what comes after them (taken under the same lock, so nothing falls in between).
    pub fn replay_and_subscribe(
        &self,
        since_ns: i64,
        until_ns: Option<i64>,
    ) -> (Vec<EventMessage>, broadcast::Receiver<EventMessage>) {
        let past = self.past.lock();
        let rx = self.tx.subscribe();
        let old = past
            .map(|p| {
                p.iter()
                    .filter(|m| {
                        m.time_nano >= since_ns && until_ns.is_none_or(|u| m.time_nano <= u)
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        (old, rx)
    }

    /// Publish `action` on object `id` of `typ` (`container`, `image`, ...).
    pub fn publish(&self, typ: &str, action: &str, id: &str, attributes: BTreeMap<String, String>) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let from = if typ == "container" {
            attributes.get("image").cloned().unwrap_or_default()
        } else {
            String::new()
        };
        let msg = EventMessage {
            r#type: typ.to_string(),
            action: action.to_string(),
            actor: EventActor {
                id: id.to_string(),
                attributes,
            },
            scope: "local".into(),
            time: now.as_secs() as i64,
            time_nano: now.as_nanos() as i64,
            status: if typ == "container" || typ == "image" {
                action.to_string()
            } else {
                String::new()
            },
            id: if typ == "container" || typ == "image" {
                id.to_string()
            } else {
                String::new()
            },
            from,
        };
        if let Ok(mut p) = self.past.lock() {
            if p.len() == REPLAY {
                p.pop_front();
            }
            p.push_back(msg.clone());
            let _ = self.tx.send(msg);
        }
    }
}
