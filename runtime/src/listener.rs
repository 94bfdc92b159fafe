//! Where connections come from: a TCP or a vsock listener behind one type, and the byte stream each
//! accepted connection is, whichever it came through.
//!
//! Input: the operator's listen address (trusted). Output: accepted connections (untrusted bytes) and
//! who they came from, for logs. A Nitro enclave has no network: inside one the runtime listens on
//! vsock (feature `vsock`), and the parent instance's relay ([`crate::relay`]) forwards TCP to it.
//! Everything above this module (TLS, the upgrade, the sessions) sees only a [`Connection`], so the
//! TCP path, which the tests drive end to end, is the vsock path too.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::str::FromStr;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Any CID: what an enclave binds its vsock listener to (`VMADDR_CID_ANY`).
pub const VSOCK_CID_ANY: u32 = u32::MAX;

/// An address to listen on or connect to: TCP, or vsock (context id and port).
///
/// Text forms: `ADDR:PORT` or `tcp:ADDR:PORT` for TCP, `vsock:CID:PORT` for vsock, and `vsock:PORT`
/// for any CID (an enclave's own listener).
///
/// # Examples
///
/// ```
/// use enclave_runtime::ListenAddr;
/// let tcp: ListenAddr = "127.0.0.1:8443".parse()?;
/// assert_eq!(tcp.to_string(), "tcp:127.0.0.1:8443");
/// let enclave: ListenAddr = "vsock:16:5005".parse()?;
/// assert_eq!(enclave, ListenAddr::Vsock { cid: 16, port: 5005 });
/// assert_eq!("vsock:5005".parse::<ListenAddr>()?, ListenAddr::Vsock { cid: enclave_runtime::VSOCK_CID_ANY, port: 5005 });
/// assert!("vsock:16:x".parse::<ListenAddr>().is_err());
/// # Ok::<(), enclave_runtime::AddrError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ListenAddr {
    /// A TCP socket address.
    Tcp(SocketAddr),
    /// A vsock address: the context id (an enclave's CID, 3 for the parent, or [`VSOCK_CID_ANY`] to
    /// listen on every CID) and the port.
    Vsock {
        /// Context id.
        cid: u32,
        /// Port.
        port: u32,
    },
}

impl ListenAddr {
    /// The TCP address, if this is one.
    pub fn as_tcp(&self) -> Option<SocketAddr> {
        match self {
            Self::Tcp(addr) => Some(*addr),
            Self::Vsock { .. } => None,
        }
    }
}

impl From<SocketAddr> for ListenAddr {
    fn from(addr: SocketAddr) -> Self {
        Self::Tcp(addr)
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(addr) => write!(f, "tcp:{addr}"),
            Self::Vsock { cid: VSOCK_CID_ANY, port } => write!(f, "vsock:{port}"),
            Self::Vsock { cid, port } => write!(f, "vsock:{cid}:{port}"),
        }
    }
}

/// A listen or connect address that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not an address: expected ADDR:PORT, tcp:ADDR:PORT, vsock:CID:PORT or vsock:PORT")]
pub struct AddrError {
    /// The text given (at most 64 characters).
    pub text: String,
}

impl FromStr for ListenAddr {
    type Err = AddrError;

    fn from_str(s: &str) -> Result<Self, AddrError> {
        let err = || AddrError { text: s.chars().take(64).collect() };
        if let Some(rest) = s.strip_prefix("vsock:") {
            let (cid, port) = match rest.split_once(':') {
                Some((cid, port)) => (cid.parse().map_err(|_| err())?, port),
                None => (VSOCK_CID_ANY, rest),
            };
            return Ok(Self::Vsock { cid, port: port.parse().map_err(|_| err())? });
        }
        let tcp = s.strip_prefix("tcp:").unwrap_or(s);
        tcp.parse().map(Self::Tcp).map_err(|_| err())
    }
}

/// A bound listener of either kind.
#[derive(Debug)]
pub(crate) enum Listener {
    Tcp(TcpListener),
    #[cfg(feature = "vsock")]
    Vsock(tokio_vsock::VsockListener),
}

impl Listener {
    /// Binds `addr`; returns the listener and the address actually bound (the port chosen for 0).
    pub(crate) async fn bind(addr: ListenAddr) -> io::Result<(Self, ListenAddr)> {
        match addr {
            ListenAddr::Tcp(addr) => {
                let listener = TcpListener::bind(addr).await?;
                let local = listener.local_addr()?;
                Ok((Self::Tcp(listener), ListenAddr::Tcp(local)))
            }
            #[cfg(feature = "vsock")]
            ListenAddr::Vsock { cid, port } => {
                let listener = tokio_vsock::VsockListener::bind(tokio_vsock::VsockAddr::new(cid, port))?;
                let local = listener.local_addr()?;
                Ok((Self::Vsock(listener), ListenAddr::Vsock { cid: local.cid(), port: local.port() }))
            }
            #[cfg(not(feature = "vsock"))]
            ListenAddr::Vsock { .. } => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "vsock needs enclave-runtime built with the `vsock` feature",
            )),
        }
    }

    /// The next connection and its peer.
    pub(crate) async fn accept(&self) -> io::Result<(Connection, ListenAddr)> {
        match self {
            Self::Tcp(listener) => {
                let (tcp, peer) = listener.accept().await?;
                // Records are small and latency-bound; Nagle only delays them.
                let _ = tcp.set_nodelay(true);
                Ok((Connection::Tcp(tcp), ListenAddr::Tcp(peer)))
            }
            #[cfg(feature = "vsock")]
            Self::Vsock(listener) => {
                let (stream, peer) = listener.accept().await?;
                Ok((Connection::Vsock(stream), ListenAddr::Vsock { cid: peer.cid(), port: peer.port() }))
            }
        }
    }
}

/// One accepted or connected byte stream, TCP or vsock.
#[derive(Debug)]
pub(crate) enum Connection {
    Tcp(TcpStream),
    #[cfg(feature = "vsock")]
    Vsock(tokio_vsock::VsockStream),
}

impl Connection {
    /// Connects to `addr`.
    pub(crate) async fn connect(addr: ListenAddr) -> io::Result<Self> {
        match addr {
            ListenAddr::Tcp(addr) => {
                let tcp = TcpStream::connect(addr).await?;
                let _ = tcp.set_nodelay(true);
                Ok(Self::Tcp(tcp))
            }
            #[cfg(feature = "vsock")]
            ListenAddr::Vsock { cid, port } => {
                Ok(Self::Vsock(tokio_vsock::VsockStream::connect(tokio_vsock::VsockAddr::new(cid, port)).await?))
            }
            #[cfg(not(feature = "vsock"))]
            ListenAddr::Vsock { .. } => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "vsock needs enclave-runtime built with the `vsock` feature",
            )),
        }
    }
}

impl AsyncRead for Connection {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(feature = "vsock")]
            Self::Vsock(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(feature = "vsock")]
            Self::Vsock(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_flush(cx),
            #[cfg(feature = "vsock")]
            Self::Vsock(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            #[cfg(feature = "vsock")]
            Self::Vsock(s) => Pin::new(s).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            #[cfg(feature = "vsock")]
            Self::Vsock(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Tcp(s) => s.is_write_vectored(),
            #[cfg(feature = "vsock")]
            Self::Vsock(s) => s.is_write_vectored(),
        }
    }
}
