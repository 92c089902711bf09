//! HTTP plumbing: bodies, query strings, JSON, the one error → status map, hijacking.
use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use berth_daemon::{Error, ErrorKind};
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body::Frame;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::sync::mpsc;

/// Every response body: fixed bytes or a channel of chunks (streams).
pub enum Body {
    Full(Option<Bytes>),
    Chan(mpsc::Receiver<Bytes>),
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Chan(rx) => rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Full(None))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self {
            Body::Full(Some(b)) => http_body::SizeHint::with_exact(b.len() as u64),
            Body::Full(None) => http_body::SizeHint::with_exact(0),
            Body::Chan(_) => http_body::SizeHint::default(),
        }
    }
}

pub type Resp = Response<Body>;

pub fn empty(status: StatusCode) -> Resp {
    let mut r = Response::new(Body::Full(None));
    *r.status_mut() = status;
    r
}

pub fn bytes(status: StatusCode, content_type: &str, b: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Body::Full(Some(b.into())));
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r
}

pub fn json<T: serde::Serialize>(status: StatusCode, v: &T) -> Resp {
    let mut b = serde_json::to_vec(v).unwrap_or_default();
    b.push(b'\n');
    bytes(status, "application/json", b)
}

/// A streamed body (chunked); the sender feeds it.
pub fn stream(status: StatusCode, content_type: &str) -> (Resp, mpsc::Sender<Bytes>) {
    let (tx, rx) = mpsc::channel(64);
    let mut r = Response::new(Body::Chan(rx));
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    (r, tx)
}

/// The single map from error kinds to HTTP statuses.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorKind::NotModified => StatusCode::NOT_MODIFIED,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

pub fn error(e: &Error) -> Resp {
    let st = status_of(e.kind);
    if st == StatusCode::NOT_MODIFIED {
        return empty(st);
    }
    json(
        st,
        &berth_api::ErrorResponse {
            message: e.message.clone(),
        },
    )
}

/// The query string, decoded; repeated keys keep every value.
#[derive(Debug, Default)]
pub struct Query(pub HashMap<String, Vec<String>>);

impl Query {
    pub fn parse(q: Option<&str>) -> Query {
        let mut m: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(q.unwrap_or("").as_bytes()) {
            m.entry(k.into_owned()).or_default().push(v.into_owned());
        }
        Query(m)
    }
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).and_then(|v| v.first()).map(String::as_str)
    }
    pub fn all(&self, k: &str) -> Vec<String> {
        self.0.get(k).cloned().unwrap_or_default()
    }
    /// moby's rule: false iff "", "0", "no", "false", "none" (any case); absent = `default`.
    pub fn bool(&self, k: &str, default: bool) -> bool {
        match self.get(k) {
            None => default,
            Some(v) => !matches!(
                v.to_ascii_lowercase().as_str(),
                "" | "0" | "no" | "false" | "none"
            ),
        }
    }
    pub fn int(&self, k: &str) -> Result<Option<i64>, Error> {
        match self.get(k) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .map(Some)
                .map_err(|_| Error::invalid(format!("invalid value for {k}: {v:?}"))),
        }
    }
    pub fn filters(&self) -> Result<berth_api::Filters, Error> {
        match self.get("filters") {
            None | Some("") => Ok(berth_api::Filters::default()),
            Some(s) => berth_api::Filters::from_query(s).map_err(|e| Error::invalid(e.to_string())),
        }
    }
}

/// Read a whole (bounded) request body.
pub async fn read_body(b: Incoming, limit: usize) -> Result<Bytes, Error> {
    let limited = http_body_util::Limited::new(b, limit);
    limited
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| Error::invalid(format!("request body: {e}")))
}

/// Parse a JSON request body, with the error Docker gives.
pub fn parse_json<T: serde::de::DeserializeOwned + Default>(b: &[u8]) -> Result<T, Error> {
    if b.iter().all(|c| c.is_ascii_whitespace()) {
        return Ok(T::default());
    }
    serde_json::from_slice(b).map_err(|e| Error::invalid(format!("invalid JSON: {e}")))
}

/// A request body as a blocking `Read` (for archives handed to blocking code).
pub struct BodyReader {
    rx: mpsc::Receiver<Result<Bytes, String>>,
    cur: Bytes,
}

impl BodyReader {
    pub fn spawn(mut b: Incoming) -> BodyReader {
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            while let Some(f) = b.frame().await {
                match f {
                    Ok(f) => {
                        if let Ok(d) = f.into_data() {
                            if tx.send(Ok(d)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string())).await;
                        return;
                    }
                }
            }
        });
        BodyReader {
            rx,
            cur: Bytes::new(),
        }
    }
}

impl std::io::Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Ok(b)) => self.cur = b,
                Some(Err(e)) => return Err(std::io::Error::other(e)),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        let _ = self.cur.split_to(n);
        Ok(n)
    }
}
