//! A small RESP2 client for the replica's links to its master: requests are arrays of bulk
//! strings, replies are parsed with size limits (a garbage or hostile peer gets an error,
//! never an allocation it asks for).

use bytes::{Buf, Bytes, BytesMut};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Largest bulk reply accepted (a transfer chunk is far smaller).
pub const MAX_BULK: usize = 256 << 20;
const MAX_ARRAY: usize = 1 << 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Bytes>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    pub fn bulk(&self) -> Option<&Bytes> {
        match self {
            Reply::Bulk(Some(b)) => Some(b),
            _ => None,
        }
    }
}

/// Encodes a request.
pub fn encode_request<A: AsRef<[u8]>>(args: &[A], out: &mut BytesMut) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Parses one reply from the front of `buf`: `Ok(None)` when incomplete.
pub fn parse_reply(buf: &mut BytesMut) -> Result<Option<Reply>, String> {
    let mut pos = 0usize;
    match parse_at(buf, &mut pos, 0)? {
        Some(r) => {
            buf.advance(pos);
            Ok(Some(r))
        }
        None => Ok(None),
    }
}

fn line<'a>(buf: &'a [u8], pos: &mut usize) -> Result<Option<&'a [u8]>, String> {
    let rest = &buf[*pos..];
    match rest.windows(2).position(|w| w == b"\r\n") {
        Some(i) => {
            *pos += i + 2;
            Ok(Some(&rest[..i]))
        }
        None if rest.len() > 64 * 1024 => Err("reply line too long".into()),
        None => Ok(None),
    }
}

fn int(b: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| "malformed integer in reply".to_string())
}

fn parse_at(buf: &[u8], pos: &mut usize, depth: usize) -> Result<Option<Reply>, String> {
    if depth > 8 {
        return Err("reply nested too deep".into());
    }
    let Some(&kind) = buf.get(*pos) else {
        return Ok(None);
    };
    *pos += 1;
    let Some(l) = line(buf, pos)? else {
        return Ok(None);
    };
    let text = || String::from_utf8_lossy(l).into_owned();
    Ok(Some(match kind {
        b'+' => Reply::Simple(text()),
        b'-' => Reply::Error(text()),
        b':' => Reply::Int(int(l)?),
        b'$' => {
            let n = int(l)?;
            if n < 0 {
                return Ok(Some(Reply::Bulk(None)));
            }
            let n = n as usize;
            if n > MAX_BULK {
                return Err(format!("bulk reply of {n} bytes refused"));
            }
            if buf.len() < *pos + n + 2 {
                return Ok(None);
            }
            let b = Bytes::copy_from_slice(&buf[*pos..*pos + n]);
            if &buf[*pos + n..*pos + n + 2] != b"\r\n" {
                return Err("bulk reply not terminated".into());
            }
            *pos += n + 2;
            Reply::Bulk(Some(b))
        }
        b'*' => {
            let n = int(l)?;
            if n < 0 {
                return Ok(Some(Reply::Array(None)));
            }
            if n as usize > MAX_ARRAY {
                return Err("array reply too long".into());
            }
            let mut items = Vec::with_capacity((n as usize).min(1024));
            for _ in 0..n {
                match parse_at(buf, pos, depth + 1)? {
                    Some(r) => items.push(r),
                    None => return Ok(None),
                }
            }
            Reply::Array(Some(items))
        }
        k => return Err(format!("unexpected reply type byte 0x{k:02x}")),
    }))
}

/// A connection's socket: plain TCP, or TLS over it. `T` is the TLS stream: the client side
/// for a [`Conn`] (`tls-replication`, strata-sync), the server side for the server's client
/// connections (`tls-port`).
pub enum Stream<T = tokio_rustls::client::TlsStream<TcpStream>> {
    Plain(TcpStream),
    Tls(Box<T>),
}

impl<T> Stream<T> {
    /// Writes what the socket takes now without waiting; a TLS stream always says
    /// `WouldBlock` (its records go through `write_all` and `flush`).
    pub fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.try_write(buf),
            Stream::Tls(_) => Err(std::io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Stream<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Stream<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// How to reach a server over TLS: the client configuration (trusted CAs, an optional client
/// certificate) and the name to verify in its certificate.
#[derive(Clone)]
pub struct TlsClient {
    pub config: Arc<rustls::ClientConfig>,
    pub server_name: String,
}

/// Verifies a server's certificate chain against the trusted CAs, not the name in it (as
/// Redis's replicas do: masters are often reached by IP address).
#[derive(Debug)]
pub struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl ChainOnly {
    pub fn new(inner: Arc<rustls::client::WebPkiServerVerifier>) -> ChainOnly {
        ChainOnly(inner)
    }
}

impl rustls::client::danger::ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

impl TlsClient {
    /// A client configuration from PEM files: the CAs to trust, and optionally a client
    /// certificate and its key (for servers with `tls-auth-clients yes`). The chain is
    /// verified, the name not ([`ChainOnly`]).
    pub fn from_files(
        ca_file: &str,
        cert_file: Option<&str>,
        key_file: Option<&str>,
    ) -> Result<TlsClient, String> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = |path: &str| -> Result<Vec<CertificateDer<'static>>, String> {
            CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("{path}: {e}"))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("{path}: {e}"))
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for c in certs(ca_file)? {
            roots.add(c).map_err(|e| format!("{ca_file}: {e}"))?;
        }
        let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .map_err(|e| format!("{ca_file}: {e}"))?;
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ChainOnly::new(inner)));
        let config = match (cert_file, key_file) {
            (Some(c), Some(k)) => builder
                .with_client_auth_cert(
                    certs(c)?,
                    PrivateKeyDer::from_pem_file(k).map_err(|e| format!("{k}: {e}"))?,
                )
                .map_err(|e| format!("client certificate: {e}"))?,
            _ => builder.with_no_client_auth(),
        };
        Ok(TlsClient {
            config: Arc::new(config),
            server_name: "strata".into(),
        })
    }
}

/// A connection to a server.
pub struct Conn {
    pub stream: Stream,
    pub rbuf: BytesMut,
}

fn io_err(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
}

impl Conn {
    pub async fn connect(addr: &str, timeout: std::time::Duration) -> std::io::Result<Conn> {
        Conn::connect_with(addr, timeout, None).await
    }

    /// Connects over TLS when `tls` is given (the handshake within the same timeout).
    pub async fn connect_with(
        addr: &str,
        timeout: std::time::Duration,
        tls: Option<&TlsClient>,
    ) -> std::io::Result<Conn> {
        let timed_out = |_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out");
        let tcp = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(timed_out)??;
        let _ = tcp.set_nodelay(true);
        let stream = match tls {
            None => Stream::Plain(tcp),
            Some(t) => {
                let name = rustls::pki_types::ServerName::try_from(t.server_name.clone())
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
                let connector = tokio_rustls::TlsConnector::from(t.config.clone());
                let s = tokio::time::timeout(timeout, connector.connect(name, tcp))
                    .await
                    .map_err(timed_out)??;
                Stream::Tls(Box::new(s))
            }
        };
        Ok(Conn {
            stream,
            rbuf: BytesMut::with_capacity(64 * 1024),
        })
    }

    pub async fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> std::io::Result<()> {
        let mut out = BytesMut::new();
        encode_request(args, &mut out);
        self.stream.write_all(&out).await?;
        self.stream.flush().await
    }

    /// Reads one reply (EOF and protocol errors are I/O errors).
    pub async fn read(&mut self) -> std::io::Result<Reply> {
        loop {
            if let Some(r) = parse_reply(&mut self.rbuf).map_err(io_err)? {
                return Ok(r);
            }
            if self.rbuf.capacity() - self.rbuf.len() < 16 * 1024 {
                self.rbuf.reserve(256 * 1024);
            }
            if self.stream.read_buf(&mut self.rbuf).await? == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed",
                ));
            }
        }
    }

    /// Sends a request and reads its reply, within `timeout`.
    pub async fn call<A: AsRef<[u8]>>(
        &mut self,
        args: &[A],
        timeout: std::time::Duration,
    ) -> std::io::Result<Reply> {
        tokio::time::timeout(timeout, async {
            self.send(args).await?;
            self.read().await
        })
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no reply in time"))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind_incrementally_and_refuses_garbage() {
        let whole = b"*3\r\n+OK\r\n$5\r\nhel\r\n\r\n*2\r\n:-7\r\n$-1\r\n-ERR no\r\n";
        let first = whole.len() - b"-ERR no\r\n".len();
        for cut in 0..first {
            let mut b = BytesMut::from(&whole[..cut]);
            if let Ok(Some(r)) = parse_reply(&mut b) {
                panic!("complete reply from {cut} bytes: {r:?}");
            }
        }
        let mut b = BytesMut::from(&whole[..]);
        assert_eq!(
            parse_reply(&mut b).unwrap(),
            Some(Reply::Array(Some(vec![
                Reply::Simple("OK".into()),
                Reply::Bulk(Some(Bytes::from_static(b"hel\r\n"))),
                Reply::Array(Some(vec![Reply::Int(-7), Reply::Bulk(None)])),
            ])))
        );
        assert_eq!(
            parse_reply(&mut b).unwrap(),
            Some(Reply::Error("ERR no".into()))
        );
        assert!(b.is_empty());
        for bad in [
            &b"?x\r\n"[..],
            b"$99999999999\r\n",
            b":abc\r\n",
            b"$1\r\nab\r\n",
        ] {
            assert!(parse_reply(&mut BytesMut::from(bad)).is_err(), "{bad:?}");
        }
        let mut out = BytesMut::new();
        encode_request(&["GET", "k"], &mut out);
        assert_eq!(&out[..], b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    }
}
