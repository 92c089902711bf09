//! The Engine API client: HTTP/1.1 over a Unix socket, hand-written on `std` (one connection per
//! request, `Connection: close`), with what the docker CLI's client does around it:
//! - version negotiation: `HEAD /_ping` (then `GET` if the status is neither 200 nor 500), the
//!   `Api-Version` header capped at [`CLIENT_API_VERSION`] (absent ⇒ 1.24), `DOCKER_API_VERSION`
//!   pins it; every later path gets the `/v1.NN` prefix;
//! - errors: any status outside 200–399 becomes [`ClientError::Api`] with the `{"message"}` text
//!   (non-JSON bodies verbatim, empty bodies get the CLI's "check if the server supports…" text);
//! - bodies: `Content-Length`, chunked or until EOF, read as a stream ([`Response`] is `Read`);
//!   request bodies as JSON or streamed with chunked transfer encoding (load, import);
//! - hijacking (attach, exec start): `Connection: Upgrade` / `Upgrade: tcp`, requires `101`, and
//!   returns the raw socket as a [`Hijacked`] pair of halves;
//! - [`demux`]: Docker's 8-byte stream frames (`[stream,0,0,0,len_be32]` + payload).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::OnceLock;

use berth_api::ApiVersion;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The newest API version this client speaks (what it asks for when the server offers more).
pub const CLIENT_API_VERSION: ApiVersion = berth_api::MAX_API_VERSION;
/// What the docker CLI assumes when `/_ping` has no `Api-Version` header.
pub const FALLBACK_API_VERSION: ApiVersion = ApiVersion::new(1, 24);
/// The default daemon address.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berthd.sock";

/// Client errors.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The daemon answered with an error status.
    #[error("Error response from daemon: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The `message` of the error body.
        message: String,
    },
    /// The socket could not be reached.
    #[error("Cannot connect to the Berth daemon at {host}. Is berthd running?")]
    Connect {
        /// The `-H` address.
        host: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// An address we cannot use.
    #[error("unsupported daemon address {0:?}: only unix:// sockets are supported")]
    BadHost(String),
    /// `DOCKER_API_VERSION` is not `N.N`.
    #[error("invalid API version {0:?}")]
    BadVersion(String),
    /// I/O on an established connection.
    #[error("error during connect: {0}")]
    Io(#[from] io::Error),
    /// The daemon sent something that is not HTTP we understand.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A JSON body did not decode.
    #[error("error decoding response from daemon: {0}")]
    Json(#[from] serde_json::Error),
    /// An Upgrade request answered with something other than 101.
    #[error("unable to upgrade to tcp, received {0}")]
    NoUpgrade(u16),
}

impl ClientError {
    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The daemon's message of an API error.
    pub fn message(&self) -> Option<&str> {
        match self {
            ClientError::Api { message, .. } => Some(message),
            _ => None,
        }
    }

    /// 404 of any kind (`No such container`, `No such image`, `page not found`).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// 404 `page not found`: the route does not exist on this daemon.
    pub fn is_unsupported_route(&self) -> bool {
        self.status() == Some(404) && self.message() == Some(berth_api::error::PAGE_NOT_FOUND)
    }
}

/// Results of this module.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// What `/_ping` told us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ping {
    /// `Api-Version` header, if any.
    pub api_version: Option<String>,
    /// `Ostype` header.
    pub os_type: Option<String>,
    /// `Docker-Experimental: true`.
    pub experimental: bool,
}

/// The version used for requests and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The version in `/v1.NN` paths.
    pub version: ApiVersion,
    /// True when it is below [`CLIENT_API_VERSION`] (`docker version` says "downgraded from").
    pub downgraded: bool,
}

/// Picks the version as the docker CLI does: the server's, capped at ours; 1.24 without header.
pub fn negotiate(server: Option<&str>) -> Negotiated {
    let server = server
        .and_then(|s| s.trim().parse::<ApiVersion>().ok())
        .unwrap_or(FALLBACK_API_VERSION);
    let version = server.min(CLIENT_API_VERSION);
    Negotiated {
        version,
        downgraded: version < CLIENT_API_VERSION,
    }
}

/// A request body.
pub enum Body {
    /// No body.
    Empty,
    /// `application/json`.
    Json(Vec<u8>),
    /// Streamed with chunked transfer encoding, with this content type.
    Stream(Box<dyn Read + Send>, &'static str),
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Empty => f.write_str("Empty"),
            Body::Json(b) => write!(f, "Json({} bytes)", b.len()),
            Body::Stream(_, ct) => write!(f, "Stream({ct})"),
        }
    }
}

impl Body {
    /// Serializes a value as the JSON body.
    pub fn json<T: Serialize>(v: &T) -> Result<Body> {
        Ok(Body::Json(serde_json::to_vec(v)?))
    }
}

/// One API request. `path` is unversioned (`/containers/json`); the client adds the prefix.
#[derive(Debug)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: &'static str,
    /// Path below the version prefix, already escaped (see [`path_escape`]).
    pub path: String,
    /// Query pairs, encoded by the client.
    pub query: Vec<(String, String)>,
    /// Body.
    pub body: Body,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// A request without query or body.
    pub fn new(method: &'static str, path: impl Into<String>) -> Request {
        Request {
            method,
            path: path.into(),
            query: Vec::new(),
            body: Body::Empty,
            headers: Vec::new(),
        }
    }

    /// Adds a query pair.
    pub fn query(mut self, k: &str, v: impl Into<String>) -> Request {
        self.query.push((k.to_owned(), v.into()));
        self
    }

    /// Adds `k=1` when `on`.
    pub fn flag(self, k: &str, on: bool) -> Request {
        if on {
            self.query(k, "1")
        } else {
            self
        }
    }

    /// Sets the body.
    pub fn body(mut self, body: Body) -> Request {
        self.body = body;
        self
    }
}

/// Percent-escapes a path segment, keeping `/`, `:` and `@` (image references) readable.
pub fn path_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn encode_query(q: &[(String, String)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in q {
        s.append_pair(k, v);
    }
    s.finish()
}

/// The API client. Cheap to share across threads (`&Client` is `Sync`).
#[derive(Debug)]
pub struct Client {
    host: String,
    socket: PathBuf,
    pinned: Option<ApiVersion>,
    negotiated: OnceLock<Negotiated>,
}

impl Client {
    /// A client for `unix:///path` (or a bare absolute path). `api_version` pins the version
    /// (`DOCKER_API_VERSION`), skipping negotiation.
    pub fn new(host: &str, api_version: Option<&str>) -> Result<Client> {
        let socket = if let Some(p) = host.strip_prefix("unix://") {
            PathBuf::from(p)
        } else if host.starts_with('/') {
            PathBuf::from(host)
        } else {
            return Err(ClientError::BadHost(host.to_owned()));
        };
        let pinned = match api_version.map(str::trim).filter(|s| !s.is_empty()) {
            Some(v) => Some(
                v.trim_start_matches('v')
                    .parse::<ApiVersion>()
                    .map_err(|_| ClientError::BadVersion(v.to_owned()))?,
            ),
            None => None,
        };
        Ok(Client {
            host: host.to_owned(),
            socket,
            pinned,
            negotiated: OnceLock::new(),
        })
    }

    /// The address as given.
    pub fn host(&self) -> &str {
        &self.host
    }

    fn connect(&self) -> Result<UnixStream> {
        UnixStream::connect(&self.socket).map_err(|source| ClientError::Connect {
            host: self.host.clone(),
            source,
        })
    }

    /// `HEAD /_ping`, then `GET /_ping` if HEAD gave neither 200 nor 500 (as the docker CLI).
    pub fn ping(&self) -> Result<Ping> {
        let mut r = self.raw(Request::new("HEAD", "/_ping"), None)?;
        if r.status != 200 && r.status != 500 {
            r = self.raw(Request::new("GET", "/_ping"), None)?;
        }
        if r.status >= 400 && r.status != 500 {
            return Err(r.into_error());
        }
        Ok(Ping {
            api_version: r.header("api-version").map(str::to_owned),
            os_type: r.header("ostype").map(str::to_owned),
            experimental: r.header("docker-experimental") == Some("true"),
        })
    }

    /// The negotiated version (pings once, lazily).
    pub fn negotiated(&self) -> Result<Negotiated> {
        if let Some(n) = self.negotiated.get() {
            return Ok(*n);
        }
        let n = match self.pinned {
            Some(version) => {
                // The docker CLI still pings when the version is pinned.
                self.ping()?;
                Negotiated {
                    version,
                    downgraded: false,
                }
            }
            None => negotiate(self.ping()?.api_version.as_deref()),
        };
        Ok(*self.negotiated.get_or_init(|| n))
    }

    /// The version in request paths.
    pub fn api_version(&self) -> Result<ApiVersion> {
        Ok(self.negotiated()?.version)
    }

    /// Sends a request with the version prefix; returns the response whatever its status.
    fn raw(&self, req: Request, version: Option<ApiVersion>) -> Result<Response> {
        let mut conn = self.connect()?;
        write_request(&mut conn, &req, version, false)?;
        let write_body = matches!(req.body, Body::Stream(..));
        if write_body {
            if let Body::Stream(mut src, _) = req.body {
                write_chunked(&mut conn, &mut src)?;
            }
        }
        let mut reader = BufReader::new(conn);
        let head = read_head(&mut reader)?;
        Ok(Response::new(head, reader, req.method == "HEAD"))
    }

    /// Sends a versioned request; a status outside 200–399 is an error.
    pub fn send(&self, req: Request) -> Result<Response> {
        let v = self.api_version()?;
        let r = self.raw(req, Some(v))?;
        if !(200..400).contains(&r.status) {
            return Err(r.into_error());
        }
        Ok(r)
    }

    /// Sends a request and decodes the JSON answer.
    pub fn json<T: DeserializeOwned>(&self, req: Request) -> Result<T> {
        let mut r = self.send(req)?;
        let mut buf = Vec::new();
        r.read_to_end(&mut buf)?;
        Ok(serde_json::from_slice(&buf)?)
    }

    /// Sends a request and returns the raw body bytes.
    pub fn bytes(&self, req: Request) -> Result<Vec<u8>> {
        let mut r = self.send(req)?;
        let mut buf = Vec::new();
        r.read_to_end(&mut buf)?;
        Ok(buf)
    }

    /// Sends a request and discards the body (204s, 304s).
    pub fn call(&self, req: Request) -> Result<u16> {
        let mut r = self.send(req)?;
        io::copy(&mut r, &mut io::sink())?;
        Ok(r.status)
    }

    /// Sends an Upgrade request (attach, exec start) and returns the raw connection on `101`.
    pub fn hijack(&self, req: Request) -> Result<Hijacked> {
        let v = self.api_version()?;
        let mut conn = self.connect()?;
        write_request(&mut conn, &req, Some(v), true)?;
        let writer = conn.try_clone()?;
        let mut reader = BufReader::new(conn);
        let head = read_head(&mut reader)?;
        if head.status != 101 {
            let r = Response::new(head, reader, false);
            if !(200..400).contains(&r.status) {
                return Err(r.into_error());
            }
            return Err(ClientError::NoUpgrade(r.status));
        }
        Ok(Hijacked { reader, writer })
    }
}

fn write_request(
    w: &mut UnixStream,
    req: &Request,
    version: Option<ApiVersion>,
    upgrade: bool,
) -> Result<()> {
    let mut head = String::new();
    let prefix = version.map(|v| format!("/v{v}")).unwrap_or_default();
    head.push_str(&format!("{} {prefix}{}", req.method, req.path));
    if !req.query.is_empty() {
        head.push('?');
        head.push_str(&encode_query(&req.query));
    }
    head.push_str(" HTTP/1.1\r\nHost: api.moby.localhost\r\n");
    head.push_str(&format!(
        "User-Agent: Berth-Client/{} (linux)\r\n",
        env!("CARGO_PKG_VERSION")
    ));
    if upgrade {
        head.push_str("Connection: Upgrade\r\nUpgrade: tcp\r\n");
    } else {
        head.push_str("Connection: close\r\n");
    }
    for (k, v) in &req.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    match &req.body {
        Body::Empty => {
            if upgrade {
                head.push_str("Content-Type: text/plain\r\n");
            }
            if req.method == "POST" || req.method == "PUT" {
                head.push_str("Content-Length: 0\r\n");
            }
        }
        Body::Json(b) => {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        Body::Stream(_, ct) => {
            head.push_str(&format!(
                "Content-Type: {ct}\r\nTransfer-Encoding: chunked\r\n"
            ));
        }
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    if let Body::Json(b) = &req.body {
        out.extend_from_slice(b);
    }
    w.write_all(&out)?;
    Ok(())
}

fn write_chunked(w: &mut UnixStream, src: &mut dyn Read) -> Result<()> {
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        let mut chunk = format!("{n:x}\r\n").into_bytes();
        chunk.extend_from_slice(&buf[..n]);
        chunk.extend_from_slice(b"\r\n");
        w.write_all(&chunk)?;
    }
    w.write_all(b"0\r\n\r\n")?;
    Ok(())
}

#[derive(Debug)]
struct Head {
    status: u16,
    headers: Vec<(String, String)>,
}

fn read_line<R: BufRead>(r: &mut R) -> Result<String> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Err(ClientError::Protocol(
            "connection closed by the daemon".into(),
        ));
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

fn read_head<R: BufRead>(r: &mut R) -> Result<Head> {
    let status_line = read_line(r)?;
    let mut parts = status_line.splitn(3, ' ');
    let proto = parts.next().unwrap_or_default();
    if !proto.starts_with("HTTP/1.") {
        return Err(ClientError::Protocol(format!(
            "malformed status line {status_line:?}"
        )));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| ClientError::Protocol(format!("malformed status line {status_line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(r)?;
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    Ok(Head { status, headers })
}

#[derive(Debug)]
enum Framing {
    None,
    Length(u64),
    Chunked { left: u64, done: bool },
    Eof,
}

/// A response: status, headers and a streaming body (`Read`).
#[derive(Debug)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    headers: Vec<(String, String)>,
    reader: BufReader<UnixStream>,
    framing: Framing,
}

impl Response {
    fn new(head: Head, reader: BufReader<UnixStream>, head_request: bool) -> Response {
        let get = |k: &str| {
            head.headers
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        };
        let framing = if head_request || head.status == 204 || head.status == 304 {
            Framing::None
        } else if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            Framing::Chunked {
                left: 0,
                done: false,
            }
        } else if let Some(n) = get("content-length").and_then(|v| v.parse::<u64>().ok()) {
            Framing::Length(n)
        } else {
            Framing::Eof
        };
        Response {
            status: head.status,
            headers: head.headers,
            reader,
            framing,
        }
    }

    /// A header value (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    fn into_error(mut self) -> ClientError {
        let status = self.status;
        let mut buf = Vec::new();
        if let Err(e) = self.read_to_end(&mut buf) {
            return ClientError::Io(e);
        }
        ClientError::Api {
            status,
            message: error_message(status, &buf),
        }
    }
}

/// The text the docker CLI shows for an error body.
pub fn error_message(status: u16, body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Msg {
        message: String,
    }
    if let Ok(m) = serde_json::from_slice::<Msg>(body) {
        return m.message;
    }
    let text = String::from_utf8_lossy(body).trim().to_owned();
    if text.is_empty() {
        format!(
            "request returned {} for API route and version, check if the server supports the requested API version",
            status_text(status)
        )
    } else {
        text
    }
}

fn status_text(status: u16) -> String {
    let reason = match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    };
    if reason.is_empty() {
        status.to_string()
    } else {
        format!("{status} {reason}")
    }
}

impl Read for Response {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        match &mut self.framing {
            Framing::None => Ok(0),
            Framing::Eof => self.reader.read(buf),
            Framing::Length(left) => {
                if *left == 0 {
                    return Ok(0);
                }
                let want = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                let n = self.reader.read(&mut buf[..want])?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                *left -= n as u64;
                Ok(n)
            }
            Framing::Chunked { left, done } => {
                if *done {
                    return Ok(0);
                }
                if *left == 0 {
                    let line = read_line(&mut self.reader).map_err(io::Error::other)?;
                    let size = line.split(';').next().unwrap_or_default().trim();
                    let size = u64::from_str_radix(size, 16).map_err(|_| {
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("bad chunk size {line:?}"),
                        )
                    })?;
                    if size == 0 {
                        // Trailers until the empty line.
                        while !read_line(&mut self.reader)
                            .map_err(io::Error::other)?
                            .is_empty()
                        {}
                        *done = true;
                        return Ok(0);
                    }
                    *left = size;
                }
                let want = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                let n = self.reader.read(&mut buf[..want])?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                *left -= n as u64;
                if *left == 0 {
                    let mut crlf = [0u8; 2];
                    self.reader.read_exact(&mut crlf)?;
                }
                Ok(n)
            }
        }
    }
}

/// A hijacked connection: read the container's output from `reader` (it may hold bytes that
/// arrived with the `101`), write its stdin to `writer`, `shutdown(Write)` at stdin's end.
#[derive(Debug)]
pub struct Hijacked {
    /// Output side (buffered).
    pub reader: BufReader<UnixStream>,
    /// Input side (a clone of the same socket).
    pub writer: UnixStream,
}

impl Hijacked {
    /// Half-closes the input side, as the docker CLI does at stdin's EOF (or at once without `-i`).
    pub fn close_write(&self) -> io::Result<()> {
        self.writer.shutdown(std::net::Shutdown::Write)
    }
}

/// Docker's multiplexed stream frames.
pub mod demux {
    use std::io::{self, Read, Write};

    /// Which stream a frame belongs to.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Stream {
        /// 0: stdin (echo); printed to stdout like the docker CLI does.
        Stdin,
        /// 1.
        Stdout,
        /// 2.
        Stderr,
        /// 3: an error from the daemon ends the stream.
        System,
    }

    /// Errors of [`copy`].
    #[derive(Debug, thiserror::Error)]
    pub enum DemuxError {
        /// I/O.
        #[error(transparent)]
        Io(#[from] io::Error),
        /// A stream-3 frame.
        #[error("error from daemon in stream: {0}")]
        Daemon(String),
        /// A header with an unknown stream byte.
        #[error("unrecognized input header: {0}")]
        BadHeader(u8),
    }

    /// Reads one frame into `buf` (replacing its contents); `None` at a clean EOF between frames.
    pub fn read_frame<R: Read>(r: &mut R, buf: &mut Vec<u8>) -> Result<Option<Stream>, DemuxError> {
        let mut hdr = [0u8; 8];
        let mut got = 0;
        while got < 8 {
            match r.read(&mut hdr[got..]) {
                Ok(0) if got == 0 => return Ok(None),
                Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        let stream = match hdr[0] {
            0 => Stream::Stdin,
            1 => Stream::Stdout,
            2 => Stream::Stderr,
            3 => Stream::System,
            b => return Err(DemuxError::BadHeader(b)),
        };
        let len = u32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]) as usize;
        buf.clear();
        buf.resize(len, 0);
        r.read_exact(buf)?;
        Ok(Some(stream))
    }

    /// Copies frames to `out` / `err` until EOF (the docker CLI's `StdCopy`), flushing each
    /// frame; returns the bytes written.
    pub fn copy<R: Read, O: Write, E: Write>(
        r: &mut R,
        out: &mut O,
        err: &mut E,
    ) -> Result<u64, DemuxError> {
        let mut buf = Vec::new();
        let mut total = 0u64;
        while let Some(stream) = read_frame(r, &mut buf)? {
            match stream {
                Stream::Stdin | Stream::Stdout => {
                    out.write_all(&buf)?;
                    out.flush()?;
                }
                Stream::Stderr => {
                    err.write_all(&buf)?;
                    err.flush()?;
                }
                Stream::System => {
                    return Err(DemuxError::Daemon(
                        String::from_utf8_lossy(&buf).into_owned(),
                    ))
                }
            }
            total += buf.len() as u64;
        }
        Ok(total)
    }

    /// Encodes one frame (tests and fakes).
    pub fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![stream, 0, 0, 0];
        v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        v.extend_from_slice(payload);
        v
    }
}

/// Copies a raw (TTY) stream to `out`, flushing as bytes arrive.
pub fn copy_raw<R: Read, W: Write>(r: &mut R, out: &mut W) -> io::Result<u64> {
    let mut buf = [0u8; 32 * 1024];
    let mut total = 0;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.write_all(&buf[..n])?;
        out.flush()?;
        total += n as u64;
    }
}

/// Reads a JSON-lines progress stream (load, import, pull), calling `f` per message; an
/// `errorDetail` ends it with an error, as in the docker CLI.
pub fn read_progress<R: Read>(
    r: R,
    mut f: impl FnMut(&berth_api::image::ProgressMessage),
) -> Result<()> {
    let mut br = BufReader::new(r);
    let mut line = Vec::new();
    loop {
        line.clear();
        if br.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        let t = text.trim();
        if t.is_empty() {
            continue;
        }
        let msg: berth_api::image::ProgressMessage = serde_json::from_str(t)?;
        if let Some(e) = &msg.error_detail {
            return Err(ClientError::Protocol(e.message.clone()).into_stream_error());
        }
        f(&msg);
    }
}

impl ClientError {
    fn into_stream_error(self) -> ClientError {
        match self {
            ClientError::Protocol(m) => ClientError::Api {
                status: 500,
                message: m,
            },
            e => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::demux::*;
    use super::*;

    #[test]
    fn negotiation_follows_the_docker_cli() {
        assert_eq!(negotiate(Some("1.41")).version, ApiVersion::new(1, 41));
        assert!(!negotiate(Some("1.41")).downgraded);
        assert_eq!(negotiate(Some("1.50")).version, CLIENT_API_VERSION);
        let n = negotiate(Some("1.30"));
        assert_eq!(n.version, ApiVersion::new(1, 30));
        assert!(n.downgraded);
        assert_eq!(negotiate(None).version, ApiVersion::new(1, 24));
        assert_eq!(negotiate(Some("junk")).version, ApiVersion::new(1, 24));
    }

    #[test]
    fn error_bodies() {
        assert_eq!(
            error_message(404, br#"{"message":"No such container: x"}"#),
            "No such container: x"
        );
        assert_eq!(error_message(500, b"plain text\n"), "plain text");
        assert!(error_message(404, b"").contains("404 Not Found"));
    }

    #[test]
    fn path_escape_keeps_references() {
        assert_eq!(path_escape("localhost:5000/a/b:1"), "localhost:5000/a/b:1");
        assert_eq!(path_escape("a b?"), "a%20b%3F");
    }

    #[test]
    fn demux_splits_streams() {
        let mut data = frame(1, b"out\n");
        data.extend(frame(2, b"err\n"));
        data.extend(frame(1, b""));
        data.extend(frame(1, b"more"));
        let (mut o, mut e) = (Vec::new(), Vec::new());
        // A reader that hands out one byte at a time: frames across reads.
        struct Trickle(Vec<u8>, usize);
        impl Read for Trickle {
            fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
                if self.1 >= self.0.len() || b.is_empty() {
                    return Ok(0);
                }
                b[0] = self.0[self.1];
                self.1 += 1;
                Ok(1)
            }
        }
        let n = copy(&mut Trickle(data, 0), &mut o, &mut e).unwrap();
        assert_eq!(n, 12);
        assert_eq!(o, b"out\nmore");
        assert_eq!(e, b"err\n");
    }

    #[test]
    fn demux_system_frame_and_truncation() {
        let mut data = frame(1, b"a");
        data.extend(frame(3, b"boom"));
        let err = copy(&mut &data[..], &mut Vec::new(), &mut Vec::new()).unwrap_err();
        assert_eq!(err.to_string(), "error from daemon in stream: boom");
        let data = &frame(1, b"abcdef")[..10];
        assert!(copy(&mut &data[..], &mut Vec::new(), &mut Vec::new()).is_err());
        let err = copy(
            &mut &[9u8, 0, 0, 0, 0, 0, 0, 0][..],
            &mut Vec::new(),
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(matches!(err, DemuxError::BadHeader(9)));
    }

    #[test]
    fn responses_decode_chunked_bodies() {
        let (mut a, b) = UnixStream::pair().unwrap();
        a.write_all(
            b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nTransfer-Encoding: chunked\r\n\r\n\
              5\r\nhello\r\n7;ext=1\r\n world!\r\n0\r\nX-Trailer: 1\r\n\r\n",
        )
        .unwrap();
        drop(a);
        let mut r = BufReader::new(b);
        let head = read_head(&mut r).unwrap();
        let mut resp = Response::new(head, r, false);
        assert_eq!(resp.header("API-VERSION"), Some("1.41"));
        let mut s = String::new();
        resp.read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello world!");
    }

    #[test]
    fn responses_with_length_and_errors() {
        let (mut a, b) = UnixStream::pair().unwrap();
        a.write_all(
            b"HTTP/1.1 409 Conflict\r\nContent-Length: 26\r\n\r\n{\"message\":\"in use: x\"}   extra",
        )
        .unwrap();
        drop(a);
        let mut r = BufReader::new(b);
        let head = read_head(&mut r).unwrap();
        let e = Response::new(head, r, false).into_error();
        assert_eq!(e.status(), Some(409));
        assert_eq!(e.to_string(), "Error response from daemon: in use: x");
    }
}
