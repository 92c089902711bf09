//! The events bus behind `GET /events`.
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use berth_api::system::{EventActor, EventMessage};
use tokio::sync::broadcast;

/// Publishes daemon events to every `/events` subscriber.
#[derive(Debug, Clone)]
pub struct Events {
    tx: broadcast::Sender<EventMessage>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            tx: broadcast::channel(1024).0,
        }
    }
}

impl Events {
    pub fn subscribe(&self) -> broadcast::Receiver<EventMessage> {
        self.tx.subscribe()
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
        let _ = self.tx.send(msg);
    }
}
