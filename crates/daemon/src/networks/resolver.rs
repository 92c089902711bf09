//! What the embedded DNS answers: seen from the asking container, the containers that share a
//! network with it, by name, network alias and short ID, also as `<name>.<network>`.
use std::net::IpAddr;
use std::sync::Weak;

use berth_net::dns::{Lookup, Resolver};

use super::NetworkService;

/// The daemon's names for the DNS server of one container.
#[derive(Debug)]
pub struct Names {
    pub svc: Weak<NetworkService>,
}

impl Resolver for Names {
    fn resolve(&self, client: &str, name: &str) -> Lookup {
        let Some(svc) = self.svc.upgrade() else {
            return Lookup::NotOurs;
        };
        let Ok(st) = svc.state.lock() else {
            return Lookup::NotOurs;
        };
        let Some(me) = st.sandboxes.get(client) else {
            return Lookup::NotOurs;
        };
        // The networks the client is on (a `container:` sharer asks as its host container).
        let mine: Vec<&str> = me
            .state
            .endpoints
            .iter()
            .map(|e| e.network_id.as_str())
            .collect();
        let mut found = Vec::new();
        for (id, sb) in &st.sandboxes {
            for ep in &sb.state.endpoints {
                if !mine.contains(&ep.network_id.as_str()) {
                    continue;
                }
                let netname = ep.network_name.to_ascii_lowercase();
                let base = name.strip_suffix(&format!(".{netname}")).unwrap_or(name);
                let hit = sb.name.eq_ignore_ascii_case(base)
                    || (base.len() >= 12 && id.starts_with(base) && base.len() <= 64)
                    || ep.aliases.iter().any(|a| a.eq_ignore_ascii_case(base));
                if hit && !found.contains(&ep.ip) {
                    found.push(ep.ip);
                }
            }
        }
        if found.is_empty() {
            Lookup::NotOurs
        } else {
            Lookup::Found(found)
        }
    }

    fn reverse(&self, client: &str, ip: IpAddr) -> Option<String> {
        let svc = self.svc.upgrade()?;
        let st = svc.state.lock().ok()?;
        let me = st.sandboxes.get(client)?;
        let mine: Vec<&str> = me
            .state
            .endpoints
            .iter()
            .map(|e| e.network_id.as_str())
            .collect();
        st.sandboxes.values().find_map(|sb| {
            sb.state
                .endpoints
                .iter()
                .find(|e| e.ip == ip && mine.contains(&e.network_id.as_str()))
                .map(|e| format!("{}.{}", sb.name, e.network_name))
        })
    }
}
