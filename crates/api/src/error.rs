//! The error body of every non-2xx API response: `{"message":"..."}`.
//!
//! Clients show `message` verbatim (`Error response from daemon: <message>`); docker-py matches
//! on its text (404 + `No such image` ⇒ `ImageNotFound`), so the body carries nothing else.

use serde::{Deserialize, Serialize};

use crate::de::null_default;

/// `{"message": "..."}`, moby's `types.ErrorResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorResponse {
    /// The error text, shown verbatim by clients.
    #[serde(deserialize_with = "null_default")]
    pub message: String,
}

impl ErrorResponse {
    /// A body with this message.
    pub fn new(message: impl Into<String>) -> Self {
        ErrorResponse {
            message: message.into(),
        }
    }

    /// The JSON text of the body.
    pub fn to_json(&self) -> String {
        // A struct of one String cannot fail to serialize; fall back to an escaped literal anyway.
        serde_json::to_string(self).unwrap_or_else(|_| r#"{"message":"internal error"}"#.into())
    }
}

impl From<&str> for ErrorResponse {
    fn from(message: &str) -> Self {
        ErrorResponse::new(message)
    }
}

impl From<String> for ErrorResponse {
    fn from(message: String) -> Self {
        ErrorResponse::new(message)
    }
}

/// The message of moby's 404 for unknown paths and methods.
pub const PAGE_NOT_FOUND: &str = "page not found";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_only_message() {
        let body = ErrorResponse::new("No such container: web").to_json();
        assert_eq!(body, r#"{"message":"No such container: web"}"#);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let obj = v.as_object().unwrap();
        assert_eq!(obj.keys().collect::<Vec<_>>(), ["message"]);
    }

    #[test]
    fn message_is_escaped_json() {
        let msg = "Conflict. The container name \"/t\" is already in use by container \"abc\".\n";
        let body = ErrorResponse::new(msg).to_json();
        let back: ErrorResponse = serde_json::from_str(&body).unwrap();
        assert_eq!(back.message, msg);
    }

    #[test]
    fn reads_bodies_of_other_daemons() {
        // Newer dockerd bodies may carry more fields; a null message is an empty one.
        let e: ErrorResponse = serde_json::from_str(r#"{"message":"x","code":7}"#).unwrap();
        assert_eq!(e.message, "x");
        let e: ErrorResponse = serde_json::from_str(r#"{"message":null}"#).unwrap();
        assert_eq!(e.message, "");
    }
}
